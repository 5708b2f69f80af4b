//! The embedded browser UI (every file of `ui/`).

use super::*;

pub(super) fn ui_response(name: &str) -> Option<Response> {
    let (_, bytes) = UI_FILES.iter().find(|(n, _)| *n == name)?;
    let ct = match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    };
    Some(
        (
            [
                (header::CONTENT_TYPE, ct),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
    )
}

pub(super) async fn ui_index() -> Response {
    ui_response("index.html").unwrap_or_else(|| {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            PLACEHOLDER,
        )
            .into_response()
    })
}

pub(super) async fn ui_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    ui_response(&file)
        .unwrap_or_else(|| ApiError::not_found(format!("nothing at /{file}")).into_response())
}
