//! The HTTP routes (`docs/API.md`), one module per resource, and the UI files.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use samkit_engine::{BoxPrompt, PixelBudget, Point, PointLabel, Prompt};
use samkit_mask::CocoRle;
use samkit_store::{HistoryQuery, ImageStatus, InstancePatch, NewInstance, Store, StoreError};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::{EmbedWait, ModelState, TokenEntry};
use crate::error::{ApiError, ApiResult};
use crate::export::{self, ExportFilter, ExportFormat, EXPORT_FORMATS, IMPORT_FORMATS};
use crate::scan::{self, Skipped};
use crate::AppState;

type S = State<Arc<AppState>>;

include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));

const PLACEHOLDER: &str = "<!doctype html><meta charset=utf-8><title>samkit</title>\
<p>samkit server is running; the UI files are not built into this binary (crates/samkit-server/ui/).</p>";

mod auto;
mod categories;
mod fuzzing;
mod history;
mod images;
mod instances;
mod outline;
mod predict;
mod predict_masks;
mod project;
mod propagate;
mod session;
mod transfer;
mod ui;
mod users;
mod window;
mod workflow;
mod zoom;

use auto::*;
use categories::*;
use history::*;
use images::*;
use instances::*;
use outline::*;
use predict::*;
use predict_masks::*;
use project::*;
use propagate::*;
use session::*;
use transfer::*;
use ui::*;
use users::*;
use window::*;
use workflow::*;

pub use fuzzing::{check_request_body, check_yolo_upload};
pub(crate) use project::rescan;
pub use project::sync_folder;

// ------------------------------------------------------------------ extractors
/// JSON body whose rejection is an [`ApiError`].
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequest<St> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &St) -> Result<Self, ApiError> {
        let limit = checked_limit(&req)?;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large(limit)),
            Err(r) => Err(r.into()),
        }
    }
}

/// A raw body (uploads) whose rejection, e.g. over the route's size limit, is an
/// [`ApiError`].
pub struct ApiBytes(pub Bytes);

impl<St: Send + Sync> FromRequest<St> for ApiBytes {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &St) -> Result<Self, ApiError> {
        let limit = checked_limit(&req)?;
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(ApiBytes(b)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large(limit)),
            Err(r) => Err(ApiError::bad_request(format!(
                "cannot read the request body: {}",
                r.body_text()
            ))),
        }
    }
}

/// The route's body limit; a body declared (`Content-Length`) larger is refused at
/// once, without reading it. Longer bodies without a length are cut off while read.
fn checked_limit(req: &axum::extract::Request) -> Result<usize, ApiError> {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map_or(SMALL_BODY, |l| l.0);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    Ok(limit)
}

/// The body limit of a route, for error messages (set next to its `DefaultBodyLimit`).
#[derive(Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

pub(crate) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the request body is larger than this endpoint accepts ({} MiB); see docs/API.md",
            limit as f64 / (1 << 20) as f64
        ),
    )
}

/// Body limits, sized to real use (docs/API.md): most requests are a few hundred bytes;
/// a mask is its RLE; an import is a whole COCO file or a zip of YOLO labels.
pub(crate) const SMALL_BODY: usize = 64 << 10;
pub(crate) const GUIDELINES_BODY: usize = 2 << 20;
pub(crate) const MASK_BODY: usize = 8 << 20;
pub(crate) const IMPORT_BODY: usize = 64 << 20;

fn limit(bytes: usize) -> (DefaultBodyLimit, axum::Extension<BodyLimit>) {
    (
        DefaultBodyLimit::max(bytes),
        axum::Extension(BodyLimit(bytes)),
    )
}

pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, St: Send + Sync> FromRequestParts<St> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(v))
    }
}

pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequestParts<St> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}

/// The author of a change: the signed-in user; on a one-person project (no users), the
/// name its browser gives in `X-Samkit-User` (percent-encoded UTF-8 accepted).
pub struct Author(pub String);

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl<St: Send + Sync> FromRequestParts<St> for Author {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, ApiError> {
        if let Some(crate::auth::Identity::User(u)) = parts.extensions.get() {
            // Whatever name the client sends, a signed-in user's changes are theirs.
            return Ok(Author(u.name.clone()));
        }
        // Browsers send header bytes as ISO-8859-1; UTF-8 names arrive percent-encoded.
        let raw: String = match parts.headers.get("x-samkit-user") {
            Some(v) => match std::str::from_utf8(v.as_bytes()) {
                Ok(s) => s.to_string(),
                Err(_) => v.as_bytes().iter().map(|&b| char::from(b)).collect(),
            },
            None => String::new(),
        };
        let name = percent_decode(&raw);
        // Refused rather than silently cleaned, so a client learns its header is wrong;
        // the store drops control characters too, for its other callers.
        if name.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "X-Samkit-User contains control characters (newlines, escapes); send a plain name",
            ));
        }
        Ok(Author(samkit_store::normalize_author(&name)))
    }
}

// ------------------------------------------------------------------ JSON shapes
/// Stored (compressed) RLE → the API's uncompressed form.
fn rle_out(v: &Value) -> Value {
    match serde_json::from_value::<CocoRle>(v.clone()) {
        Ok(r) => json!({"size": [r.height(), r.width()], "counts": r.counts()}),
        Err(_) => v.clone(),
    }
}

/// A stored instance row (as JSON) with its RLE uncompressed.
fn instance_value(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        if let Some(r) = obj.get("rle") {
            let out = rle_out(r);
            obj.insert("rle".into(), out);
        }
    }
    v
}

fn instance_json(i: &samkit_store::Instance) -> Value {
    instance_value(serde_json::to_value(i).unwrap_or(Value::Null))
}

fn image_json(state: &AppState, i: &samkit_store::Image) -> Value {
    let embedding = if i.missing {
        "none"
    } else {
        state.engine.state(i.id).as_str()
    };
    json!({
        "id": i.id, "name": i.path, "width": i.width, "height": i.height,
        "status": i.status, "version": i.version, "instance_count": i.instance_count,
        "embedding": embedding, "missing": i.missing,
        "updated_at": i.updated_at, "updated_by": i.updated_by,
    })
}

fn category_json(c: &samkit_store::Category) -> Value {
    json!({"id": c.id, "name": c.name, "color": c.color, "position": c.position, "version": c.version,
           "instance_count": c.instance_count, "updated_at": c.updated_at, "updated_by": c.updated_by})
}

/// Store errors, with instance rows in conflicts shown as the API shows instances.
fn store_err(e: StoreError) -> ApiError {
    let mut api = ApiError::from(e);
    if let Some(c) = api.extra.get_mut("conflict") {
        if c["entity"] == "instance" {
            let cur = instance_value(c["current"].take());
            c["current"] = cur;
        }
    }
    api
}

trait StoreResult<T> {
    fn api(self) -> ApiResult<T>;
}
impl<T> StoreResult<T> for Result<T, StoreError> {
    fn api(self) -> ApiResult<T> {
        self.map_err(store_err)
    }
}

// ------------------------------------------------------------------ router
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/session", get(session))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", axum::routing::patch(patch_user))
        .route("/project", get(project))
        .route(
            "/project/guidelines",
            put(put_guidelines).layer(limit(GUIDELINES_BODY)),
        )
        .route("/rescan", post(rescan_route))
        .route("/images", get(images))
        .route("/images/{id}", get(image_one))
        .route("/images/{id}/file", get(image_file))
        .route("/images/{id}/thumb", get(image_thumb))
        .route("/images/{id}/status", put(image_status))
        .route("/images/{id}/window", get(get_window).put(put_window))
        .route("/images/{id}/embed", post(embed))
        .route("/embeddings", get(embeddings))
        .route(
            "/images/{id}/predict",
            post(predict.layer(limit(MASK_BODY))), // mask_input is a whole mask
        )
        .route("/images/{id}/propagate", post(propagate))
        .route(
            "/images/{id}/outline",
            post(outline.layer(limit(MASK_BODY))),
        )
        .route(
            "/images/{id}/auto",
            post(start_auto).get(get_auto).delete(discard_auto),
        )
        .route(
            "/images/{id}/instances",
            get(list_instances).post(create_instance.layer(limit(MASK_BODY))),
        )
        .route(
            "/instances/{id}",
            get(get_instance)
                .patch(patch_instance.layer(limit(MASK_BODY)))
                .delete(delete_instance),
        )
        .route("/instances/{id}/restore", post(restore_instance))
        .route("/instances/{id}/comments", post(add_comment))
        .route("/images/{id}/comments", get(list_comments))
        .route(
            "/assignments",
            get(list_assignments).post(create_assignments.layer(limit(MASK_BODY))),
        )
        .route(
            "/assignments/{id}",
            axum::routing::delete(delete_assignment),
        )
        .route("/assignments/{id}/{action}", post(transition))
        .route("/report", get(report))
        .route("/categories", get(categories).post(create_category))
        .route("/categories/order", put(order_categories))
        .route(
            "/categories/{id}",
            axum::routing::patch(patch_category).delete(delete_category),
        )
        .route("/history", get(history))
        .route("/history/{id}/restore", post(history_restore))
        .route("/export", get(export_route))
        .route("/import", post(import_route).layer(limit(IMPORT_BODY)))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authorize,
        ))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(limit(SMALL_BODY));
    Router::new()
        .nest("/api", api)
        .route("/", get(index))
        .route("/{file}", get(ui_file))
        .fallback(not_found)
        .with_state(state)
}

async fn api_not_found(axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> ApiError {
    ApiError::not_found(format!("no API endpoint {}; see docs/API.md", uri.path()))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("nothing at {}", uri.path()))
}

async fn method_not_allowed(
    method: axum::http::Method,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}; see docs/API.md", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_names_are_percent_decoded() {
        assert_eq!(percent_decode("Jos%C3%A9"), "José");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("a%zzb"), "a%zzb");
        assert_eq!(percent_decode("%"), "%");
    }

    #[test]
    fn logits_become_the_same_rle_as_the_mask() {
        let (w, h) = (5u32, 3u32);
        let data: Vec<f32> = (0..15)
            .map(|i| if i % 3 == 0 || i == 7 { 1.0 } else { -1.0 })
            .collect();
        let bools: Vec<bool> = data.iter().map(|&v| v > 0.0).collect();
        let mask = samkit_mask::Mask::from_bools(w, h, &bools).unwrap();
        assert_eq!(logits_to_rle(&data, w, h).unwrap(), CocoRle::encode(&mask));
        assert!(logits_to_rle(&data[1..], w, h).is_err());
    }

    #[test]
    fn stored_rle_is_sent_uncompressed() {
        let stored =
            serde_json::to_value(CocoRle::from_counts(2, 3, vec![1, 2, 3]).unwrap()).unwrap();
        assert!(stored["counts"].is_string());
        assert_eq!(
            rle_out(&stored),
            json!({"size": [2, 3], "counts": [1, 2, 3]})
        );
    }
}
