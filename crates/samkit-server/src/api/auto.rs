//! "Segment everything" on an image (`auto_jobs`): start, follow, discard. Proposals
//! are accepted as ordinary instances (`POST /api/images/{id}/instances`).

use super::*;
use crate::auto_jobs::AutoRequest;
use samkit_engine::DecoderBackend;

fn no_job(id: i64) -> ApiError {
    ApiError::not_found(format!(
        "image {id} has no segment-everything job; start one with POST /api/images/{id}/auto"
    ))
}

pub(super) async fn start_auto(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<AutoRequest>,
) -> ApiResult<Response> {
    let img = own_image(&st, id).await?;
    if img.missing {
        return Err(missing_err(&img));
    }
    r.check().map_err(ApiError::bad_request)?;
    match st.engine.model() {
        m @ (ModelState::Disabled | ModelState::Failed(_)) => return Err(model_err(m)),
        ModelState::Ready(m) if m.decoder().backend() != DecoderBackend::Native => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "needs_native_decoder",
                format!(
                    "segment everything needs the native decoder (SAM's three masks per point); \
                     this server decodes with {}: restart `samkit serve` without \
                     --decoder-backend onnx{}",
                    m.decoder().backend(),
                    m.decoder()
                        .notice()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                ),
            ))
        }
        _ => {}
    }
    let source = crate::source::ImageSource::of(&st.root, &img.path, &st.windows);
    let job = st
        .auto_jobs
        .start(st.engine.clone(), img, source, st.budget, r);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"job": job.to_json(false)})),
    )
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct AutoQuery {
    /// Leave the proposals out (progress polling).
    #[serde(default)]
    pub(super) brief: bool,
}

pub(super) async fn get_auto(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<AutoQuery>,
) -> ApiResult<Json<Value>> {
    own_image(&st, id).await?;
    let job = st.auto_jobs.get(id).ok_or_else(|| no_job(id))?;
    Ok(Json(json!({"job": job.to_json(!q.brief)})))
}

pub(super) async fn discard_auto(State(st): S, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    own_image(&st, id).await?;
    if st.auto_jobs.discard(id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_job(id))
    }
}
