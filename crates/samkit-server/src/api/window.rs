//! The window (level) of a volume image: `GET`/`PUT /api/images/{id}/window`. A window
//! belongs to the volume file, so every slice of it is shown and encoded through it; a
//! change drops those slices' embeddings and re-encodes the one being viewed first.

use super::*;
use crate::source::{ImageSource, WindowInfo};
use samkit_engine::Window;

/// The largest |center| and width accepted: beyond any modality's values (CT spans
/// about −1024…3071 HU; 32-bit microscopy stays below 4.3e9).
const MAX_WINDOW_VALUE: f64 = 1e10;

fn window_json(w: Window) -> Value {
    json!({"center": w.center, "width": w.width})
}

fn info_json(image: &samkit_store::Image, source: &ImageSource, info: &WindowInfo) -> Value {
    json!({
        "image_id": image.id,
        "windowable": true,
        "file": source.relative,
        "slice": source.slice,
        "center": info.current.center,
        "width": info.current.width,
        "chosen": source.window.is_some(),
        "default": window_json(info.default),
        "range": [info.range.0, info.range.1],
    })
}

/// The image and its source, checked as `/file` checks it.
async fn volume_source(st: &AppState, id: i64) -> ApiResult<(samkit_store::Image, ImageSource)> {
    let i = own_image(st, id).await?;
    let source = shown_source(st, &i)?;
    Ok((i, source))
}

async fn read_info(st: &AppState, source: &ImageSource, name: &str) -> ApiResult<WindowInfo> {
    let budget = st.budget;
    let s = source.clone();
    tokio::task::spawn_blocking(move || s.window_info(budget))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::undecodable(format!("{name} cannot be read: {e}")))
}

/// `GET /api/images/{id}/window`: `{"windowable": false}` for an image that is not a
/// volume slice; else the window shown, the file's own and the volume's value range.
pub(super) async fn get_window(State(st): S, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Value>> {
    let (i, source) = volume_source(&st, id).await?;
    if !source.is_volume() {
        return Ok(Json(json!({"image_id": id, "windowable": false})));
    }
    let info = read_info(&st, &source, &i.path).await?;
    Ok(Json(info_json(&i, &source, &info)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WindowReq {
    center: Option<f64>,
    width: Option<f64>,
    /// Back to the file's own window.
    #[serde(default)]
    reset: bool,
}

/// A window from a request's numbers, or a message naming what is wrong.
pub(super) fn checked_window(center: f64, width: f64) -> Result<Window, String> {
    if center.abs() > MAX_WINDOW_VALUE || width > MAX_WINDOW_VALUE {
        return Err(format!(
            "window center {center} / width {width} is beyond ±{MAX_WINDOW_VALUE:e}; use the image's value range"
        ));
    }
    Window::new(center, width).ok_or_else(|| {
        format!("window width must be at least 1 and both numbers finite (got center {center}, width {width})")
    })
}

/// `PUT /api/images/{id}/window` `{"center", "width"}` or `{"reset": true}`: the window of
/// the image's volume file, for all its slices.
pub(super) async fn put_window(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<WindowReq>,
) -> ApiResult<Json<Value>> {
    let (i, source) = volume_source(&st, id).await?;
    if !source.is_volume() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_windowable",
            format!(
                "{} is not a volume image (DICOM, NIfTI or multi-page TIFF); only those have a window",
                i.path
            ),
        ));
    }
    let window = match (r.reset, r.center, r.width) {
        (true, None, None) => None,
        (false, Some(c), Some(w)) => Some(checked_window(c, w).map_err(ApiError::bad_request)?),
        _ => {
            return Err(ApiError::bad_request(
                "send {\"center\": C, \"width\": W} to set the window, or {\"reset\": true} for the file's own",
            ))
        }
    };
    st.store
        .set_volume_window(
            st.project_id,
            &source.relative,
            window.map(|w| (w.center, w.width)),
            &a,
        )
        .await
        .api()?;
    st.windows.set(&source.relative, window);
    // Every slice of the file is now other pixels: their embeddings are dropped, and
    // the one being viewed is encoded first.
    let images = st.store.list_images(st.project_id).await.api()?;
    let slices: Vec<i64> = images
        .iter()
        .filter(|im| samkit_engine::split_slice_name(&im.path).0 == source.relative)
        .map(|im| im.id)
        .collect();
    for &s in &slices {
        st.engine.forget(s);
    }
    st.engine.request(id, true);
    let source = ImageSource::of(&st.root, &i.path, &st.windows);
    let info = read_info(&st, &source, &i.path).await?;
    let mut v = info_json(&i, &source, &info);
    v["images"] = json!(slices);
    Ok(Json(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_checked_with_a_message() {
        assert_eq!(
            checked_window(40.0, 400.0).unwrap(),
            Window::new(40.0, 400.0).unwrap()
        );
        assert!(checked_window(40.0, 0.5)
            .unwrap_err()
            .contains("at least 1"));
        assert!(checked_window(f64::NAN, 10.0).is_err());
        assert!(checked_window(0.0, 1e12).unwrap_err().contains("beyond"));
    }
}
