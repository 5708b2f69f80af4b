//! Images: list, one, its file, its status, and its embedding.

use super::*;
use crate::source::ImageSource;

pub(super) async fn images(
    State(st): S,
    scope: Option<axum::Extension<crate::scope::AnnotatorScope>>,
) -> ApiResult<Json<Value>> {
    let mut imgs = st.store.list_images(st.project_id).await.api()?;
    if let Some(scope) = scope {
        // An annotator's list: the images assigned to them.
        imgs.retain(|i| scope.sees(i.id));
    }
    Ok(Json(
        json!({"images": imgs.iter().map(|i| image_json(&st, i)).collect::<Vec<_>>()}),
    ))
}

/// The image `id` of this project.
pub(super) async fn own_image(st: &AppState, id: i64) -> ApiResult<samkit_store::Image> {
    let i = st.store.image(id).await.api()?;
    if i.project_id != st.project_id {
        return Err(ApiError::not_found(format!("image {id} does not exist")));
    }
    Ok(i)
}

pub(super) fn missing_err(i: &samkit_store::Image) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "image_missing",
        format!(
            "{} was deleted from the project folder; put it back and rescan (its {} annotation(s) are kept)",
            i.path, i.instance_count
        ),
    )
}

/// The source of image `i`'s pixels, checked: on disk (else 410 `image_missing`) and
/// inside the project folder unless `--follow-symlinks` (else 403 `outside_project`).
pub(super) fn shown_source(st: &AppState, i: &samkit_store::Image) -> ApiResult<ImageSource> {
    let source = ImageSource::of(&st.root, &i.path, &st.windows);
    if i.missing || !source.file.exists() {
        return Err(missing_err(i));
    }
    if !st.follow_symlinks && !scan::inside(&st.root, &source.file) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "outside_project",
            format!(
                "{} is a link to a file outside the project folder; start samkit with \
                 --follow-symlinks to serve it",
                i.path
            ),
        ));
    }
    Ok(source)
}

pub(super) async fn image_one(State(st): S, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Value>> {
    let i = own_image(&st, id).await?;
    Ok(Json(image_json(&st, &i)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileQuery {
    /// `CENTER,WIDTH`: a preview of a volume slice through this window (not stored).
    window: Option<String>,
}

/// The ETag of an image's pixels as shown: its content and, for a volume, the window.
fn shown_etag(i: &samkit_store::Image, source: &ImageSource, suffix: &str) -> String {
    match source.window {
        Some(w) => format!("\"{}-w{}_{}{suffix}\"", i.content_hash, w.center, w.width),
        None => format!("\"{}{suffix}\"", i.content_hash),
    }
}

pub(super) async fn image_file(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<FileQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let i = own_image(&st, id).await?;
    let source = shown_source(&st, &i)?;
    if let Some(w) = q.window.as_deref() {
        return window_preview(&st, &i, source, w).await;
    }
    let etag = shown_etag(&i, &source, "");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let budget = st.budget;
    let (ct, bytes) = tokio::task::spawn_blocking(move || file_bytes(&source, budget))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| match e {
            FileError::Read(e) => ApiError::internal(format!("cannot read {}: {e}", i.path)),
            FileError::Decode(e) => {
                ApiError::undecodable(format!("{} cannot be shown: {e}", i.path))
            }
        })?;
    let mut resp = (
        [
            (header::CONTENT_TYPE, ct),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// The longest side of `/thumb` images, in pixels (the image list shows them at 48 × 36 CSS
/// pixels; twice that for high-density screens).
pub(super) const THUMB_SIDE: u32 = 96;

/// `GET /api/images/{id}/thumb`: a small JPEG of the image as shown (EXIF orientation
/// applied), for the image list. Revalidated by ETag, so a list re-shown decodes nothing.
pub(super) async fn image_thumb(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let i = own_image(&st, id).await?;
    let source = shown_source(&st, &i)?;
    let etag = shown_etag(&i, &source, &format!("-t{THUMB_SIDE}"));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let budget = st.budget;
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let rgb = source.load_rgb(budget).map_err(|e| e.to_string())?;
        let (w, h) = (f64::from(rgb.width()), f64::from(rgb.height()));
        let k = (f64::from(THUMB_SIDE) / w.max(h)).min(1.0);
        let side = |v: f64| ((v * k).round() as u32).max(1);
        let small = image::imageops::thumbnail(&rgb, side(w), side(h));
        let mut out = std::io::Cursor::new(Vec::new());
        small
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .map_err(|e| e.to_string())?;
        Ok(out.into_inner())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::undecodable(format!("{} cannot be shown: {e}", i.path)))?;
    let mut resp = (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bytes,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// `/file?window=C,W`: the slice through a window being tried (dragged), as PNG; not
/// cached, nothing stored.
async fn window_preview(
    st: &AppState,
    i: &samkit_store::Image,
    source: ImageSource,
    window: &str,
) -> ApiResult<Response> {
    let window = window
        .parse::<samkit_engine::Window>()
        .and_then(|w| super::window::checked_window(w.center, w.width))
        .map_err(ApiError::bad_request)?;
    if !source.is_volume() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_windowable",
            format!("{} is not a volume image; only those have a window", i.path),
        ));
    }
    let budget = st.budget;
    let name = i.path.clone();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let rgb = source
            .load_rgb_through(budget, Some(window))
            .map_err(|e| e.to_string())?;
        let mut out = std::io::Cursor::new(Vec::new());
        // Fast compression: a preview is thrown away at the next drag step.
        let enc = image::codecs::png::PngEncoder::new_with_quality(
            &mut out,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Sub,
        );
        rgb.write_with_encoder(enc).map_err(|e| e.to_string())?;
        Ok(out.into_inner())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::undecodable(format!("{name} cannot be shown: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}

pub(super) enum FileError {
    /// The file could not be read (a server-side problem).
    Read(std::io::Error),
    /// Its bytes are not an image samkit can decode (the file's problem).
    Decode(String),
}

/// What `/file` sends: the original bytes when there is no EXIF rotation and a browser
/// shows the format, else a PNG of the engine's pixels. The content type comes from the
/// bytes, never from the file name (a JPEG named `.png` is `image/jpeg`).
pub(super) fn file_bytes(
    source: &ImageSource,
    budget: PixelBudget,
) -> Result<(&'static str, Vec<u8>), FileError> {
    let path = source.file.as_path();
    if samkit_engine::is_volume_file(path) {
        return engine_png(source, budget);
    }
    let bytes = std::fs::read(path).map_err(FileError::Read)?;
    let format = image::guess_format(&bytes)
        .map_err(|_| FileError::Decode("its bytes are not PNG, JPEG, TIFF, BMP or WebP".into()))?;
    let ct = format.to_mime_type();
    let (_, _, orientation) = scan::oriented_size(path, budget).map_err(FileError::Decode)?;
    let browser_ok = matches!(
        format,
        image::ImageFormat::Png
            | image::ImageFormat::Jpeg
            | image::ImageFormat::WebP
            | image::ImageFormat::Bmp
    );
    if orientation == image::metadata::Orientation::NoTransforms && browser_ok {
        return Ok((ct, bytes));
    }
    // Rotated (EXIF) or not browser-displayable: send the engine's pixels as PNG.
    engine_png(source, budget)
}

/// The pixels the engine encodes (EXIF rotation applied; DICOM/NIfTI windowed), as PNG.
fn engine_png(
    source: &ImageSource,
    budget: PixelBudget,
) -> Result<(&'static str, Vec<u8>), FileError> {
    let rgb = source
        .load_rgb(budget)
        .map_err(|e| FileError::Decode(e.to_string()))?;
    let mut out = std::io::Cursor::new(Vec::new());
    rgb.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| FileError::Decode(e.to_string()))?;
    Ok(("image/png", out.into_inner()))
}

#[derive(Deserialize)]
pub(super) struct StatusReq {
    pub(super) status: String,
    pub(super) version: i64,
}

pub(super) async fn image_status(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<StatusReq>,
) -> ApiResult<Json<Value>> {
    own_image(&st, id).await?;
    let status = ImageStatus::parse(&r.status).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown status {:?}; use todo, in_progress, done or needs_review",
            r.status
        ))
    })?;
    let i = st
        .store
        .set_image_status(id, status, r.version, &a)
        .await
        .api()?;
    Ok(Json(image_json(&st, &i)))
}

#[derive(Deserialize, Default)]
pub(super) struct EmbedReq {
    pub(super) priority: Option<String>,
}

pub(super) async fn embed(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Response> {
    let r: EmbedReq = if body.iter().all(|b| b.is_ascii_whitespace()) {
        EmbedReq::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let i = own_image(&st, id).await?;
    if i.missing {
        return Err(missing_err(&i));
    }
    let now = match r.priority.as_deref() {
        None | Some("now") => true,
        Some("background") => false,
        Some(p) => {
            return Err(ApiError::bad_request(format!(
                "unknown priority {p:?}; use now or background"
            )))
        }
    };
    let s = st.engine.request(id, now);
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"image_id": id, "state": s.as_str()})),
    )
        .into_response())
}

pub(super) async fn embeddings(State(st): S) -> ApiResult<Json<Value>> {
    let imgs = st.store.list_images(st.project_id).await.api()?;
    Ok(Json(st.engine.progress(&imgs)))
}
