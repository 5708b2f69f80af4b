//! Predictions: a prompt decoded against the image's embedding.

use super::*;

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum LabelReq {
    Name(String),
    Num(i64),
}

#[derive(Deserialize)]
pub(super) struct PointReq {
    pub(super) x: f32,
    pub(super) y: f32,
    pub(super) label: LabelReq,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum PrevReq {
    Token(String),
    Full {
        token: String,
        #[serde(default)]
        candidate: usize,
    },
}

#[derive(Deserialize)]
pub(super) struct PredictReq {
    #[serde(default)]
    pub(super) points: Vec<PointReq>,
    #[serde(rename = "box")]
    pub(super) bbox: Option<[f32; 4]>,
    pub(super) prev: Option<PrevReq>,
    pub(super) multimask: Option<bool>,
    pub(super) wait_ms: Option<u64>,
}

pub(super) fn model_err(m: ModelState) -> ApiError {
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

/// The points of a predict request, checked (no state needed).
pub(super) fn prompt_points(r: &PredictReq) -> ApiResult<Vec<Point>> {
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
    Ok(points)
}

pub(super) async fn predict(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<PredictReq>,
) -> ApiResult<Json<Value>> {
    let img = own_image(&st, id).await?;
    if img.missing {
        return Err(missing_err(&img));
    }
    let points = prompt_points(&r)?;
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

pub(super) type LowRes = samkit_engine::LowResLogits;

/// COCO RLE of `logit > 0` for row-major logits (encoded from row-major order by
/// `samkit-mask`, without a transpose).
pub(super) fn logits_to_rle(data: &[f32], w: u32, h: u32) -> Result<CocoRle, String> {
    let bits = data.iter().map(|&v| u8::from(v > 0.0)).collect();
    let mask = samkit_mask::Mask::from_raw(w, h, bits).map_err(|e| e.to_string())?;
    Ok(CocoRle::encode(&mask))
}
/// The API's candidates (JSON, IoU, low-res logits), best predicted IoU first; one
/// candidate unless `multimask`.
pub(super) fn candidates_json(
    pred: Prediction,
    multimask: bool,
) -> Result<Vec<(Value, f32, LowRes)>, String> {
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
