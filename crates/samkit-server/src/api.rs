//! The HTTP routes (`docs/API.md`) and the UI files.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use samkit_engine::{BoxPrompt, Point, PointLabel, Prediction, Prompt};
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

// ------------------------------------------------------------------ extractors

/// JSON body whose rejection is an [`ApiError`].
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequest<St> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &St) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
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

/// The annotator named by `X-Samkit-User` (percent-encoded UTF-8 accepted).
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
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Infallible> {
        // Browsers send header bytes as ISO-8859-1; UTF-8 names arrive percent-encoded.
        let raw: String = match parts.headers.get("x-samkit-user") {
            Some(v) => match std::str::from_utf8(v.as_bytes()) {
                Ok(s) => s.to_string(),
                Err(_) => v.as_bytes().iter().map(|&b| char::from(b)).collect(),
            },
            None => String::new(),
        };
        Ok(Author(samkit_store::normalize_author(&percent_decode(
            &raw,
        ))))
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
    json!({"id": c.id, "name": c.name, "color": c.color, "version": c.version,
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
        .route("/project", get(project))
        .route("/project/guidelines", put(put_guidelines))
        .route("/rescan", post(rescan_route))
        .route("/images", get(images))
        .route("/images/{id}", get(image_one))
        .route("/images/{id}/file", get(image_file))
        .route("/images/{id}/status", put(image_status))
        .route("/images/{id}/embed", post(embed))
        .route("/embeddings", get(embeddings))
        .route("/images/{id}/predict", post(predict))
        .route(
            "/images/{id}/instances",
            get(list_instances).post(create_instance),
        )
        .route(
            "/instances/{id}",
            get(get_instance)
                .patch(patch_instance)
                .delete(delete_instance),
        )
        .route("/instances/{id}/restore", post(restore_instance))
        .route("/categories", get(categories).post(create_category))
        .route("/categories/{id}", axum::routing::patch(patch_category))
        .route("/history", get(history))
        .route("/history/{id}/restore", post(history_restore))
        .route("/export", get(export_route))
        .route(
            "/import",
            post(import_route).layer(DefaultBodyLimit::max(256 << 20)),
        )
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(16 << 20));
    Router::new()
        .nest("/api", api)
        .route("/", get(ui_index))
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

// ------------------------------------------------------------------ UI

fn ui_response(name: &str) -> Option<Response> {
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

async fn ui_index() -> Response {
    ui_response("index.html").unwrap_or_else(|| {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            PLACEHOLDER,
        )
            .into_response()
    })
}

async fn ui_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    ui_response(&file)
        .unwrap_or_else(|| ApiError::not_found(format!("nothing at /{file}")).into_response())
}

// ------------------------------------------------------------------ project

async fn health(State(st): S) -> Json<Value> {
    Json(
        json!({"ok": true, "version": env!("CARGO_PKG_VERSION"), "model": st.engine.model().to_json()}),
    )
}

async fn project_value(st: &AppState) -> ApiResult<Value> {
    let p = st.store.project(st.project_id).await.api()?;
    let cats = st.store.list_categories(st.project_id).await.api()?;
    let counts = st.store.counts(st.project_id).await.api()?;
    let last = st.store.last_history_id(st.project_id).await.api()?;
    let skipped = st.skipped.read().map(|s| s.clone()).unwrap_or_default();
    Ok(json!({
        "name": p.name, "root": p.root, "guidelines": p.guidelines,
        "guidelines_version": p.version,
        "guidelines_updated_at": p.updated_at, "guidelines_updated_by": p.updated_by,
        "categories": cats.iter().map(category_json).collect::<Vec<_>>(),
        "counts": counts, "skipped": skipped,
        "model": st.engine.model().to_json(),
        "export_formats": EXPORT_FORMATS, "import_formats": IMPORT_FORMATS,
        "last_history_id": last,
    }))
}

async fn project(State(st): S) -> ApiResult<Json<Value>> {
    Ok(Json(project_value(&st).await?))
}

#[derive(Deserialize)]
struct GuidelinesReq {
    guidelines: String,
    version: i64,
}

async fn put_guidelines(
    State(st): S,
    Author(a): Author,
    ApiJson(r): ApiJson<GuidelinesReq>,
) -> ApiResult<Json<Value>> {
    if r.guidelines.len() > 1 << 20 {
        return Err(ApiError::bad_request("guidelines are limited to 1 MiB"));
    }
    st.store
        .set_guidelines(st.project_id, &r.guidelines, r.version, &a)
        .await
        .api()?;
    Ok(Json(project_value(&st).await?))
}

/// Scans the folder into the database; updates the skipped list and the encoder's view.
pub(crate) async fn rescan(st: &AppState) -> ApiResult<Value> {
    let (report, skipped) = sync_folder(&st.store, st.project_id, &st.root).await?;
    if let Ok(mut s) = st.skipped.write() {
        *s = skipped.clone();
    }
    let images = st.store.list_images(st.project_id).await.api()?;
    for i in &images {
        if i.pixel_hash.is_none() {
            st.engine.forget(i.id);
        }
    }
    st.engine.refresh(&images);
    Ok(
        json!({"added": report.added, "updated": report.updated, "missing": report.missing,
              "returned": report.returned, "skipped": skipped}),
    )
}

/// Scans `root` and records its images in the project database.
pub async fn sync_folder(
    store: &Store,
    project_id: i64,
    root: &Path,
) -> ApiResult<(samkit_store::SyncReport, Vec<Skipped>)> {
    let r = root.to_path_buf();
    let scanned = tokio::task::spawn_blocking(move || scan::scan(&r))
        .await
        .map_err(|e| ApiError::internal(format!("scan crashed: {e}")))?
        .map_err(|e| {
            ApiError::internal(format!(
                "cannot read the project folder {}: {e}",
                root.display()
            ))
        })?;
    let report = store
        .sync_images(project_id, &scanned.images, "scan")
        .await
        .api()?;
    Ok((report, scanned.skipped))
}

async fn rescan_route(State(st): S) -> ApiResult<Json<Value>> {
    Ok(Json(rescan(&st).await?))
}

// ------------------------------------------------------------------ images

async fn images(State(st): S) -> ApiResult<Json<Value>> {
    let imgs = st.store.list_images(st.project_id).await.api()?;
    Ok(Json(
        json!({"images": imgs.iter().map(|i| image_json(&st, i)).collect::<Vec<_>>()}),
    ))
}

/// The image `id` of this project.
async fn own_image(st: &AppState, id: i64) -> ApiResult<samkit_store::Image> {
    let i = st.store.image(id).await.api()?;
    if i.project_id != st.project_id {
        return Err(ApiError::not_found(format!("image {id} does not exist")));
    }
    Ok(i)
}

fn missing_err(i: &samkit_store::Image) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "image_missing",
        format!(
            "{} was deleted from the project folder; put it back and rescan (its {} annotation(s) are kept)",
            i.path, i.instance_count
        ),
    )
}

async fn image_one(State(st): S, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Value>> {
    let i = own_image(&st, id).await?;
    Ok(Json(image_json(&st, &i)))
}

async fn image_file(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let i = own_image(&st, id).await?;
    let path = st.root.join(&i.path);
    if i.missing || !path.is_file() {
        return Err(missing_err(&i));
    }
    let etag = format!("\"{}\"", i.content_hash);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let (ct, bytes) =
        tokio::task::spawn_blocking(move || -> Result<(&'static str, Vec<u8>), String> {
            let (_, _, orientation) = scan::oriented_size(&path)?;
            let ct = scan::content_type(&path);
            let browser_ok = matches!(ct, "image/png" | "image/jpeg" | "image/webp" | "image/bmp");
            if orientation == image::metadata::Orientation::NoTransforms && browser_ok {
                return std::fs::read(&path)
                    .map(|b| (ct, b))
                    .map_err(|e| e.to_string());
            }
            // Rotated (EXIF) or not browser-displayable: send the engine's pixels as PNG.
            let rgb = samkit_engine::load_rgb(&path).map_err(|e| e.to_string())?;
            let mut out = std::io::Cursor::new(Vec::new());
            rgb.write_to(&mut out, image::ImageFormat::Png)
                .map_err(|e| e.to_string())?;
            Ok(("image/png", out.into_inner()))
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("cannot read {}: {e}", i.path)))?;
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

#[derive(Deserialize)]
struct StatusReq {
    status: String,
    version: i64,
}

async fn image_status(
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

// ------------------------------------------------------------------ embeddings

#[derive(Deserialize, Default)]
struct EmbedReq {
    priority: Option<String>,
}

async fn embed(State(st): S, ApiPath(id): ApiPath<i64>, body: Bytes) -> ApiResult<Response> {
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

async fn embeddings(State(st): S) -> ApiResult<Json<Value>> {
    let imgs = st.store.list_images(st.project_id).await.api()?;
    Ok(Json(st.engine.progress(&imgs)))
}

// ------------------------------------------------------------------ predict

#[derive(Deserialize)]
#[serde(untagged)]
enum LabelReq {
    Name(String),
    Num(i64),
}

#[derive(Deserialize)]
struct PointReq {
    x: f32,
    y: f32,
    label: LabelReq,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PrevReq {
    Token(String),
    Full {
        token: String,
        #[serde(default)]
        candidate: usize,
    },
}

#[derive(Deserialize)]
struct PredictReq {
    #[serde(default)]
    points: Vec<PointReq>,
    #[serde(rename = "box")]
    bbox: Option<[f32; 4]>,
    prev: Option<PrevReq>,
    multimask: Option<bool>,
    wait_ms: Option<u64>,
}

fn model_err(m: ModelState) -> ApiError {
    let mut e = match m {
        ModelState::Loading => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_loading",
            "the model is still loading; try again in a few seconds",
        ),
        ModelState::Failed(msg) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_failed",
            format!("the model could not be loaded: {msg}; fix it and restart `samkit serve` (try `samkit setup`)"),
        ),
        _ => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_failed",
            "this server runs without a model; restart `samkit serve` without --no-model",
        ),
    };
    e.retry_after = Some(2);
    e
}

async fn predict(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<PredictReq>,
) -> ApiResult<Json<Value>> {
    let img = own_image(&st, id).await?;
    if img.missing {
        return Err(missing_err(&img));
    }
    if r.points.is_empty() && r.bbox.is_none() {
        return Err(ApiError::bad_request("give at least one point or a box"));
    }
    if r.points.len() > 64 {
        return Err(ApiError::bad_request("at most 64 points per prompt"));
    }
    let mut points = Vec::with_capacity(r.points.len());
    for p in &r.points {
        let label = match &p.label {
            LabelReq::Name(s) if s == "positive" => PointLabel::Positive,
            LabelReq::Name(s) if s == "negative" => PointLabel::Negative,
            LabelReq::Num(1) => PointLabel::Positive,
            LabelReq::Num(0) => PointLabel::Negative,
            _ => {
                return Err(ApiError::bad_request(
                    "a point label is \"positive\" or \"negative\"",
                ))
            }
        };
        points.push(Point {
            x: p.x,
            y: p.y,
            label,
        });
    }
    let mask_input = match &r.prev {
        None => None,
        Some(prev) => {
            let (token, cand) = match prev {
                PrevReq::Token(t) => (t.as_str(), 0),
                PrevReq::Full { token, candidate } => (token.as_str(), *candidate),
            };
            let entry = st.engine.token(token).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "token {token:?} expired or unknown; predict again without prev"
                ))
            })?;
            if entry.image_id != id {
                return Err(ApiError::bad_request(format!(
                    "token {token:?} belongs to image {}, not {id}",
                    entry.image_id
                )));
            }
            let low = entry.low_res.get(cand).cloned().ok_or_else(|| {
                ApiError::bad_request(format!(
                    "token {token:?} has {} candidate(s); candidate {cand} does not exist",
                    entry.low_res.len()
                ))
            })?;
            Some(low)
        }
    };
    let prompt = Prompt {
        points,
        bbox: r.bbox.map(|[x0, y0, x1, y1]| BoxPrompt { x0, y0, x1, y1 }),
        mask_input,
    };
    let wait = Duration::from_millis(r.wait_ms.unwrap_or(15_000).min(60_000));
    let t_wait = Instant::now();
    let emb = match st.engine.embedding(id, wait).await {
        Ok(e) => e,
        Err(EmbedWait::Model(m)) => return Err(model_err(m)),
        Err(EmbedWait::Failed(msg)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "encoding_failed",
                format!("{} could not be encoded: {msg}", img.path),
            ))
        }
        Err(EmbedWait::NotReady(s)) => {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "encoding",
                format!(
                    "{} is still being encoded ({}); try again in a moment",
                    img.path,
                    s.as_str()
                ),
            )
            .with("embedding", json!(s.as_str()));
            e.retry_after = Some(1);
            return Err(e);
        }
    };
    let wait_ms = t_wait.elapsed().as_secs_f64() * 1e3;
    let multimask = r.multimask.unwrap_or(true);
    let (emb2, prompt2) = (emb.clone(), prompt.clone());
    let main = st.engine.decode(move |m| {
        let t = Instant::now();
        let pred = m.predict(&emb, &prompt).map_err(|e| e.to_string());
        (pred, t.elapsed().as_secs_f64() * 1e3)
    });
    // A lone click also gets SAM's single-mask output as a second candidate, decoded at
    // the same time on another session of the pool so the answer is not twice as slow.
    let alt = async {
        if !multimask {
            return None;
        }
        st.engine
            .decode(move |m| {
                let t = Instant::now();
                let alt = m.single_mask_alternative(&emb2, &prompt2).ok().flatten();
                (alt, t.elapsed().as_secs_f64() * 1e3)
            })
            .await
    };
    let (main, alt) = tokio::join!(main, alt);
    let (pred, mut decode_ms) = main.ok_or_else(|| model_err(st.engine.model()))?;
    let mut pred = pred.map_err(|e| ApiError::bad_request(format!("cannot predict: {e}")))?;
    if let Some((alt, alt_ms)) = alt {
        if let (Some(c), 1) = (alt, pred.candidates.len()) {
            pred.push_distinct(c);
            decode_ms = decode_ms.max(alt_ms);
        }
    }
    let out = tokio::task::spawn_blocking(move || candidates_json(pred, multimask))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| ApiError::bad_request(format!("cannot predict: {e}")))?;
    let cands = out;
    let low: Vec<_> = cands.iter().map(|(_, _, l)| l.clone()).collect();
    let token = st.engine.put_token(TokenEntry {
        image_id: id,
        low_res: Arc::new(low),
    });
    Ok(Json(json!({
        "token": token,
        "candidates": cands.into_iter().map(|(v, _, _)| v).collect::<Vec<_>>(),
        "decode_ms": (decode_ms * 10.0).round() / 10.0,
        "wait_ms": (wait_ms * 10.0).round() / 10.0,
    })))
}

type LowRes = samkit_engine::LowResLogits;

/// COCO RLE of `logit > 0` for row-major logits (encoded from row-major order by
/// `samkit-mask`, without a transpose).
fn logits_to_rle(data: &[f32], w: u32, h: u32) -> Result<CocoRle, String> {
    let bits = data.iter().map(|&v| u8::from(v > 0.0)).collect();
    let mask = samkit_mask::Mask::from_raw(w, h, bits).map_err(|e| e.to_string())?;
    Ok(CocoRle::encode(&mask))
}
/// The API's candidates (JSON, IoU, low-res logits), best predicted IoU first; one
/// candidate unless `multimask`.
fn candidates_json(pred: Prediction, multimask: bool) -> Result<Vec<(Value, f32, LowRes)>, String> {
    let mut cands = pred.candidates;
    cands.sort_by(|a, b| b.iou.total_cmp(&a.iou));
    if !multimask {
        cands.truncate(1);
    }
    cands
        .into_iter()
        .map(|c| {
            let size = c.logits.size;
            let rle = logits_to_rle(&c.logits.data, size.width, size.height)?;
            let v = json!({
                "rle": {"size": [rle.height(), rle.width()], "counts": rle.counts()},
                "iou": c.iou, "area": rle.area(), "bbox": rle.bbox(),
            });
            Ok((v, c.iou, c.low_res))
        })
        .collect()
}

// ------------------------------------------------------------------ instances

#[derive(Deserialize)]
struct IncludeDeleted {
    #[serde(default)]
    include_deleted: bool,
}

async fn list_instances(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<IncludeDeleted>,
) -> ApiResult<Json<Value>> {
    own_image(&st, id).await?;
    let list = st.store.list_instances(id, q.include_deleted).await.api()?;
    Ok(Json(
        json!({"instances": list.iter().map(instance_json).collect::<Vec<_>>()}),
    ))
}

/// Validates an RLE sent by a client against the image size; returns the stored form.
fn parse_rle(v: Value, img: &samkit_store::Image) -> ApiResult<(Value, i64, [f64; 4])> {
    let rle: CocoRle = serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid rle: {e}; expected {{\"size\": [h, w], \"counts\": [runs...]}} (COCO RLE, column-major)"
        ))
    })?;
    if (i64::from(rle.height()), i64::from(rle.width())) != (img.height, img.width) {
        return Err(ApiError::bad_request(format!(
            "rle size is [{}, {}] but image {} is [{}, {}] (size is [height, width])",
            rle.height(),
            rle.width(),
            img.id,
            img.height,
            img.width
        )));
    }
    if rle.area() == 0 {
        return Err(ApiError::bad_request("the mask is empty; nothing to save"));
    }
    let area = rle.area() as i64;
    let bbox = rle.bbox();
    let stored = serde_json::to_value(&rle).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((stored, area, bbox))
}

#[derive(Deserialize)]
struct CreateReq {
    category_id: Option<i64>,
    rle: Value,
    score: Option<f64>,
    prompts: Option<Value>,
    client_id: Option<String>,
}

async fn create_instance(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<CreateReq>,
) -> ApiResult<Response> {
    let img = own_image(&st, id).await?;
    let (rle, area, bbox) = parse_rle(r.rle, &img)?;
    let category_id = match r.category_id {
        Some(c) => c,
        None => st
            .store
            .list_categories(st.project_id)
            .await
            .api()?
            .first()
            .map(|c| c.id)
            .ok_or_else(|| {
                ApiError::bad_request("the project has no category; create one first")
            })?,
    };
    if r.client_id.as_ref().is_some_and(|c| c.len() > 100) {
        return Err(ApiError::bad_request(
            "client_id is limited to 100 characters",
        ));
    }
    let new = NewInstance {
        image_id: id,
        category_id,
        rle,
        area,
        bbox,
        score: r.score.filter(|s| s.is_finite()),
        prompts: r.prompts.unwrap_or_else(|| json!({})),
        client_id: r.client_id,
    };
    // Runs to completion even if the client goes away mid-request.
    let store = st.store.clone();
    let (inst, created) = tokio::spawn(async move { store.create_instance(new, &a).await })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .api()?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, axum::Json(instance_json(&inst))).into_response())
}

async fn own_instance(st: &AppState, id: i64) -> ApiResult<samkit_store::Instance> {
    let i = st.store.instance(id).await.api()?;
    own_image(st, i.image_id)
        .await
        .map_err(|_| ApiError::not_found(format!("instance {id} does not exist")))?;
    Ok(i)
}

async fn get_instance(State(st): S, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Value>> {
    Ok(Json(instance_json(&own_instance(&st, id).await?)))
}

#[derive(Deserialize)]
struct PatchReq {
    version: i64,
    category_id: Option<i64>,
    rle: Option<Value>,
    score: Option<f64>,
    prompts: Option<Value>,
}

async fn patch_instance(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<PatchReq>,
) -> ApiResult<Json<Value>> {
    let inst = own_instance(&st, id).await?;
    let mask = match r.rle {
        Some(v) => {
            let img = own_image(&st, inst.image_id).await?;
            Some(parse_rle(v, &img)?)
        }
        None => None,
    };
    let patch = InstancePatch {
        category_id: r.category_id,
        mask,
        score: r.score.map(Some),
        prompts: r.prompts,
    };
    let out = st
        .store
        .update_instance(id, r.version, patch, &a)
        .await
        .api()?;
    Ok(Json(instance_json(&out)))
}

#[derive(Deserialize)]
struct VersionQuery {
    version: Option<i64>,
}

async fn delete_instance(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    own_instance(&st, id).await?;
    let v = q.version.ok_or_else(|| {
        ApiError::bad_request("give the version you read: DELETE /api/instances/{id}?version=N")
    })?;
    let out = st.store.delete_instance(id, v, &a).await.api()?;
    Ok(Json(instance_json(&out)))
}

#[derive(Deserialize)]
struct VersionBody {
    version: Option<i64>,
}

async fn restore_instance(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<VersionBody>,
) -> ApiResult<Json<Value>> {
    own_instance(&st, id).await?;
    let v = r.version.ok_or_else(|| {
        ApiError::bad_request("give the deleted instance's version: {\"version\": N}")
    })?;
    let out = st.store.restore_instance(id, v, &a).await.api()?;
    Ok(Json(instance_json(&out)))
}

// ------------------------------------------------------------------ categories

async fn categories(State(st): S) -> ApiResult<Json<Value>> {
    let cats = st.store.list_categories(st.project_id).await.api()?;
    Ok(Json(
        json!({"categories": cats.iter().map(category_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct CategoryReq {
    name: String,
    color: Option<String>,
}

async fn create_category(
    State(st): S,
    Author(a): Author,
    ApiJson(r): ApiJson<CategoryReq>,
) -> ApiResult<Response> {
    let c = st
        .store
        .create_category(st.project_id, &r.name, r.color.as_deref(), &a)
        .await
        .api()?;
    Ok((StatusCode::CREATED, axum::Json(category_json(&c))).into_response())
}

#[derive(Deserialize)]
struct CategoryPatch {
    version: i64,
    name: Option<String>,
    color: Option<String>,
}

async fn patch_category(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<CategoryPatch>,
) -> ApiResult<Json<Value>> {
    let c = st.store.category(id).await.api()?;
    if c.project_id != st.project_id {
        return Err(ApiError::not_found(format!("category {id} does not exist")));
    }
    let c = st
        .store
        .update_category(id, r.version, r.name.as_deref(), r.color.as_deref(), &a)
        .await
        .api()?;
    Ok(Json(category_json(&c)))
}

// ------------------------------------------------------------------ history

#[derive(Deserialize)]
struct HistoryReq {
    image_id: Option<i64>,
    entity: Option<String>,
    entity_id: Option<i64>,
    since: Option<i64>,
    limit: Option<i64>,
}

fn entry_json(e: &samkit_store::HistoryEntry) -> Value {
    let fix = |v: &Option<samkit_store::Json<Value>>| -> Value {
        match v {
            Some(j) if e.entity == "instance" => instance_value(j.0.clone()),
            Some(j) => j.0.clone(),
            None => Value::Null,
        }
    };
    json!({
        "id": e.id, "entity": e.entity, "entity_id": e.entity_id, "image_id": e.image_id,
        "action": e.action, "author": e.author, "at": e.at, "version": e.version,
        "before": fix(&e.before), "after": fix(&e.after),
    })
}

async fn history(State(st): S, ApiQuery(q): ApiQuery<HistoryReq>) -> ApiResult<Json<Value>> {
    let hq = HistoryQuery {
        image_id: q.image_id,
        entity: q.entity,
        entity_id: q.entity_id,
        since: q.since,
        limit: q.limit,
    };
    let entries = st.store.history(st.project_id, &hq).await.api()?;
    let last = st.store.last_history_id(st.project_id).await.api()?;
    Ok(Json(
        json!({"entries": entries.iter().map(entry_json).collect::<Vec<_>>(), "last_id": last}),
    ))
}

async fn history_restore(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let r: VersionBody = if body.iter().all(|b| b.is_ascii_whitespace()) {
        VersionBody { version: None }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let entry = st.store.history_entry(id).await.api()?;
    if entry.project_id != st.project_id {
        return Err(ApiError::not_found(format!(
            "history entry {id} does not exist"
        )));
    }
    let restored = st
        .store
        .restore_from_history(id, r.version, &a)
        .await
        .api()?;
    let out = match restored {
        samkit_store::Restored::Instance(i) => {
            json!({"entity": "instance", "current": instance_json(&i)})
        }
        samkit_store::Restored::Image(i) => {
            json!({"entity": "image", "current": image_json(&st, &i)})
        }
        samkit_store::Restored::Category(c) => {
            json!({"entity": "category", "current": category_json(&c)})
        }
        samkit_store::Restored::Project(_) => {
            json!({"entity": "project", "current": project_value(&st).await?})
        }
    };
    Ok(Json(out))
}

// ------------------------------------------------------------------ export / import

#[derive(Deserialize)]
struct ExportReq {
    format: Option<String>,
    status: Option<String>,
    #[serde(default)]
    include_missing: Option<bool>,
}

fn export_err(e: export::ExportError) -> ApiError {
    match e {
        export::ExportError::Store(s) => store_err(s),
        export::ExportError::Invalid(m) => ApiError::bad_request(m),
        other => ApiError::internal(other.to_string()),
    }
}

async fn export_route(State(st): S, ApiQuery(q): ApiQuery<ExportReq>) -> ApiResult<Response> {
    let fmt: ExportFormat = q
        .format
        .as_deref()
        .unwrap_or("coco")
        .parse()
        .map_err(ApiError::bad_request)?;
    if let Some(s) = &q.status {
        if ImageStatus::parse(s).is_none() {
            return Err(ApiError::bad_request(format!(
                "unknown status {s:?}; use todo, in_progress, done or needs_review"
            )));
        }
    }
    let filter = ExportFilter {
        status: q.status.clone(),
        include_missing: q.include_missing.unwrap_or(true),
    };
    let set = export::annotation_set(&st.store, st.project_id, &filter)
        .await
        .map_err(export_err)?;
    let name: String = st
        .store
        .project(st.project_id)
        .await
        .api()?
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let root = st.root.clone();
    let (ct, file, bytes) =
        tokio::task::spawn_blocking(move || -> Result<_, export::ExportError> {
            if fmt.is_single_json() {
                let doc = export::coco_doc(&set, fmt)?;
                let bytes = serde_json::to_vec(&doc)
                    .map_err(|e| export::ExportError::Invalid(e.to_string()))?;
                return Ok((
                    "application/json",
                    format!("{name}-{}.json", fmt.name()),
                    bytes,
                ));
            }
            let tmp = tempfile::tempdir().map_err(|source| export::ExportError::Io {
                what: "temporary folder".into(),
                source,
            })?;
            let out = tmp.path().join("export");
            export::write_export(&set, fmt, &out, Some(&root))?;
            let zip = export::zip_dir(&out)?;
            Ok(("application/zip", format!("{name}-{}.zip", fmt.name()), zip))
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(export_err)?;
    let disp = format!("attachment; filename=\"{file}\"");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ct)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disp).unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ImportReq {
    format: Option<String>,
}

async fn import_route(
    State(st): S,
    Author(a): Author,
    ApiQuery(q): ApiQuery<ImportReq>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let fmt = q.format.as_deref().unwrap_or("coco").to_ascii_lowercase();
    let root = st.root.clone();
    let parsed = match fmt.as_str() {
        "coco" => tokio::task::spawn_blocking(move || export::read_coco(&body)).await,
        "yolo" | "yolo-seg" => {
            tokio::task::spawn_blocking(move || {
                let tmp = tempfile::tempdir().map_err(|source| export::ExportError::Io {
                    what: "temporary folder".into(),
                    source,
                })?;
                export::unzip(&body, tmp.path())?;
                let dir = export::yolo_root(tmp.path());
                export::read_yolo(&dir, &root)
            })
            .await
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown import format {other:?}; use coco or yolo"
            )))
        }
    };
    let (set, skipped) = parsed
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::bad_request(format!("cannot import: {e}")))?;
    let report = export::import_set(&st.store, st.project_id, &set, skipped, &a)
        .await
        .map_err(export_err)?;
    Ok(Json(serde_json::to_value(report).unwrap_or(Value::Null)))
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
