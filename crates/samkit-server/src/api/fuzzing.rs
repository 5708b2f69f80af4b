//! Request-body checks without the HTTP stack, for the fuzz targets.

use super::*;

/// Parses `body` as the JSON body of one route (chosen by `route`, modulo the number of
/// JSON-body routes) the way its handler does, and runs the handler's checks that need
/// no project state, against a 640 × 480 image. For the fuzz targets in `fuzz/`: it
/// reaches the request parsing and validation without the HTTP stack or a database.
#[doc(hidden)]
pub fn check_request_body(route: u8, body: &[u8]) -> ApiResult<()> {
    fn parse<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
        Ok(axum::Json::<T>::from_bytes(body)?.0)
    }
    let img = samkit_store::Image {
        id: 1,
        project_id: 1,
        path: "a.png".into(),
        width: 640,
        height: 480,
        content_hash: String::new(),
        pixel_hash: None,
        status: "todo".into(),
        missing: false,
        version: 1,
        created_at: String::new(),
        updated_at: String::new(),
        updated_by: String::new(),
        instance_count: 0,
    };
    match route % 9 {
        0 => {
            let r: PredictReq = parse(body)?;
            let prompt = Prompt {
                points: prompt_points(&r)?,
                bbox: r.bbox.map(|[x0, y0, x1, y1]| BoxPrompt { x0, y0, x1, y1 }),
                mask_input: None,
            };
            let size = samkit_engine::Size {
                width: 640,
                height: 480,
            };
            prompt
                .validate(size)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        1 => {
            let r: CreateReq = parse(body)?;
            parse_rle(r.rle, &img)?;
        }
        2 => {
            let r: PatchReq = parse(body)?;
            if let Some(v) = r.rle {
                parse_rle(v, &img)?;
            }
        }
        3 => {
            let r: StatusReq = parse(body)?;
            ImageStatus::parse(&r.status).ok_or_else(|| ApiError::bad_request("unknown status"))?;
        }
        4 => drop(parse::<GuidelinesReq>(body)?),
        5 => drop(parse::<EmbedReq>(body)?),
        6 => {
            parse::<VersionBody>(body)?;
        }
        7 => drop(parse::<CategoryReq>(body)?),
        _ => drop(parse::<CategoryPatch>(body)?),
    }
    Ok(())
}

/// Reads a YOLO zip upload exactly as `POST /api/import?format=yolo` does (unpacked
/// within budget into a private folder under `tmp_base`, labels read against the
/// project folder `root`), without the HTTP stack or a database. For the fuzz targets.
#[doc(hidden)]
pub fn check_yolo_upload(body: &[u8], root: &Path, tmp_base: &Path) -> ApiResult<()> {
    read_yolo_upload(body, root, tmp_base).map(drop)
}
