//! Predictions: a prompt decoded against the image's embedding.

use super::*;
use samkit_engine::zoom::{crop_logits_in_image, points_in_crop, Crop};
use samkit_engine::{
    stability_score, upscale_logits, Candidate, Decoded, DecoderBackend, Embedding, MaskLogits,
    Size,
};
use samkit_mask::Mask;

use super::zoom::{can_zoom, encode_ahead, refine_on, PrevLogits};

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
    /// A mask to start from (COCO RLE of the image's size), e.g. an accepted instance
    /// being edited; instead of `prev`.
    pub(super) mask_input: Option<Value>,
    /// SAM's `remove_small_regions` on every candidate: holes, then islands, below this
    /// many pixels. 0 or absent: none.
    pub(super) min_region_area: Option<f64>,
    /// Zoom-in refinement on images larger than the model's view (`api/zoom.rs`); default
    /// on unless the server runs with `--no-zoom`.
    pub(super) zoom: Option<bool>,
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

/// The embedding of `img`, waiting up to `wait` for it; the API's error otherwise.
pub(super) async fn wait_embedding(
    st: &AppState,
    img: &samkit_store::Image,
    wait: Duration,
) -> ApiResult<Arc<Embedding>> {
    match st.engine.embedding(img.id, wait).await {
        Ok(e) => Ok(e),
        Err(EmbedWait::Model(m)) => Err(model_err(m)),
        Err(EmbedWait::Failed(msg)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "encoding_failed",
            format!("{} could not be encoded: {msg}", img.path),
        )),
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
            Err(e)
        }
    }
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
    let min_area = min_region_area(&r)?;
    let (mask_input, prev) = match (&r.prev, &r.mask_input) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give prev (a prediction's token) or mask_input (a mask), not both",
            ))
        }
        (None, Some(m)) => (Some(mask_input_from_rle(m, &img)?), None),
        (None, None) => (None, None),
        (Some(prev), None) => {
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
            (
                None,
                Some(PrevLogits {
                    low_res: low,
                    frame: entry.frame,
                }),
            )
        }
    };
    let bbox = r.bbox.map(|[x0, y0, x1, y1]| BoxPrompt { x0, y0, x1, y1 });
    let wait = Duration::from_millis(r.wait_ms.unwrap_or(15_000).min(60_000));
    let t_wait = Instant::now();
    let emb = wait_embedding(&st, &img, wait).await?;
    let wait_ms = t_wait.elapsed().as_secs_f64() * 1e3;
    let size = emb.original;
    let multimask = r.multimask.unwrap_or(true);
    let backend = match st.engine.model() {
        ModelState::Ready(m) => m.decoder().backend(),
        other => return Err(model_err(other)),
    };
    // Zoom-in needs every candidate at low resolution (the native decoder) and no box.
    let zoom = st
        .zoom
        .filter(|_| r.zoom != Some(false) && backend == DecoderBackend::Native)
        .filter(|_| bbox.is_none() && can_zoom(size));
    let first_click = zoom.is_some() && prev.is_none() && mask_input.is_none() && points.len() == 1;
    let (crop, mask_input) = match prev {
        Some(p) => {
            let (crop, input) = refine_on(&st, &img, zoom, p, &points, size).await?;
            (crop, Some(input))
        }
        None => (None, mask_input),
    };
    let frame = crop.as_ref().map(|c| c.crop);
    let prompt = match &frame {
        Some(f) => Prompt {
            points: points_in_crop(&points, f),
            bbox: None,
            mask_input,
        },
        None => Prompt {
            points: points.clone(),
            bbox,
            mask_input,
        },
    };
    let (proposals, decode_ms) = match backend {
        // One pass gives all four outputs at low resolution.
        DecoderBackend::Native => {
            let on = crop.as_ref().map_or(emb, |c| c.embedding.clone());
            let main = st.engine.decode(move |m| {
                let t = Instant::now();
                let decoded = m.decode_candidates(&on, &prompt).map_err(|e| e.to_string());
                (decoded, t.elapsed().as_secs_f64() * 1e3)
            });
            let (decoded, ms) = main.await.ok_or_else(|| model_err(st.engine.model()))?;
            let decoded =
                decoded.map_err(|e| ApiError::bad_request(format!("cannot predict: {e}")))?;
            if let (Some(z), true) = (zoom, first_click) {
                let (p, sel) = (&points[0], decoded.selected().low_res.clone());
                encode_ahead(&st, z, id, sel, (p.x, p.y), size);
            }
            (Proposals::from_decoded(decoded, size, frame), ms)
        }
        DecoderBackend::Onnx => onnx_proposals(&st, emb, prompt, multimask).await?,
    };
    let out = tokio::task::spawn_blocking(move || proposals.into_json(multimask, min_area))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| ApiError::bad_request(format!("cannot predict: {e}")))?;
    let (cands, low): (Vec<Value>, Vec<LowRes>) = out.into_iter().unzip();
    let token = st.engine.put_token(TokenEntry {
        image_id: id,
        low_res: Arc::new(low),
        frame,
    });
    let zoom = crop.map(|c| {
        json!({"crop": [c.crop.x0, c.crop.y0, c.crop.x1, c.crop.y1],
               "encode_ms": (c.encode_ms * 10.0).round() / 10.0})
    });
    Ok(Json(json!({
        "token": token,
        "candidates": cands,
        "decoder": backend.to_string(),
        "decode_ms": (decode_ms * 10.0).round() / 10.0,
        "wait_ms": (wait_ms * 10.0).round() / 10.0,
        "zoom": zoom,
    })))
}

/// ONNX Runtime returns only the mask it selects. A lone click also gets SAM's
/// single-mask output as a second candidate, decoded at the same time on another session
/// of the pool so the answer is not twice as slow.
async fn onnx_proposals(
    st: &Arc<AppState>,
    emb: Arc<Embedding>,
    prompt: Prompt,
    multimask: bool,
) -> ApiResult<(Proposals, f64)> {
    let (emb2, prompt2) = (emb.clone(), prompt.clone());
    let main = st.engine.decode(move |m| {
        let t = Instant::now();
        let pred = m.predict(&emb, &prompt).map_err(|e| e.to_string());
        (pred, t.elapsed().as_secs_f64() * 1e3)
    });
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
    let pred = pred.map_err(|e| ApiError::bad_request(format!("cannot predict: {e}")))?;
    let mut proposals: Vec<Proposal> = pred
        .candidates
        .into_iter()
        .map(|c| Proposal::full(None, c))
        .collect();
    if let Some((Some(c), alt_ms)) = alt {
        if proposals.len() == 1 {
            proposals.push(Proposal::full(Some(0), c));
            decode_ms = decode_ms.max(alt_ms);
        }
    }
    Ok((
        Proposals {
            list: proposals,
            selected: 0,
        },
        decode_ms,
    ))
}

pub(super) type LowRes = samkit_engine::LowResLogits;

/// The mask `logit > 0` of row-major logits.
pub(super) fn logits_to_mask(data: &[f32], w: u32, h: u32) -> Result<Mask, String> {
    let bits = data.iter().map(|&v| u8::from(v > 0.0)).collect();
    Mask::from_raw(w, h, bits).map_err(|e| e.to_string())
}

/// COCO RLE of `logit > 0` for row-major logits (encoded from row-major order by
/// `samkit-mask`, without a transpose).
#[cfg(test)]
pub(super) fn logits_to_rle(data: &[f32], w: u32, h: u32) -> Result<CocoRle, String> {
    Ok(CocoRle::encode(&logits_to_mask(data, w, h)?))
}
/// One candidate mask of a prediction, at low resolution and, once needed, full resolution.
pub(super) struct Proposal {
    /// Decoder output token: 0 = single-mask, 1..=3 = multimask; `None` when ONNX Runtime
    /// did not say which.
    token: Option<u8>,
    iou: f32,
    /// SAM's stability score of the 256×256 logits (free natively; the full-resolution
    /// one would cost a pass over every pixel of every candidate).
    stability: f32,
    low_res: LowRes,
    /// Upscaled by the decoder already (ONNX Runtime), else only when it is sent.
    logits: Option<MaskLogits>,
    size: Size,
    /// The crop it was decoded on (zoom-in); `None`: the whole image.
    frame: Option<Crop>,
}

impl Proposal {
    fn full(token: Option<u8>, c: Candidate) -> Self {
        Self {
            token,
            iou: c.iou,
            stability: stability_score(&c.low_res.0, 0.0, 1.0),
            size: c.logits.size,
            low_res: c.low_res,
            logits: Some(c.logits),
            frame: None,
        }
    }
}

/// Every candidate of a prediction and the one the decoder's own rule selects.
pub(super) struct Proposals {
    list: Vec<Proposal>,
    selected: usize,
}

impl Proposals {
    /// `size` is the image's; `frame` the crop the candidates were decoded on, if any.
    pub(super) fn from_decoded(decoded: Decoded, size: Size, frame: Option<Crop>) -> Self {
        let list = decoded
            .candidates
            .into_iter()
            .map(|c| Proposal {
                token: c.token,
                iou: c.iou,
                stability: c.stability,
                low_res: c.low_res,
                logits: None,
                size,
                frame,
            })
            .collect();
        Self {
            list,
            selected: decoded.selected,
        }
    }

    /// The API's candidates (JSON and low-res logits): the decoder's selection first,
    /// then the others by predicted IoU, best first; a mask equal to one already listed
    /// is left out. Only the selection unless `multimask`. Only the candidates sent are
    /// upscaled. With `min_area` > 0 each mask sent is cleaned of small holes and islands
    /// (`cleaned_px` says how many pixels that changed); the low-res logits kept for
    /// refinement stay SAM's own.
    pub(super) fn into_json(
        self,
        multimask: bool,
        min_area: u64,
    ) -> Result<Vec<(Value, LowRes)>, String> {
        let Proposals { list, selected } = self;
        let mut order: Vec<Proposal> = Vec::with_capacity(list.len());
        let mut rest = Vec::with_capacity(list.len());
        for (i, p) in list.into_iter().enumerate() {
            if i == selected {
                order.insert(0, p);
            } else {
                rest.push(p);
            }
        }
        if multimask {
            rest.sort_by(|a, b| b.iou.total_cmp(&a.iou));
            order.extend(rest);
        }
        let mut seen: Vec<CocoRle> = Vec::with_capacity(order.len());
        let mut out = Vec::with_capacity(order.len());
        for p in order {
            let logits = p.logits.unwrap_or_else(|| match &p.frame {
                None => upscale_logits(&p.low_res, p.size),
                Some(f) => MaskLogits {
                    size: p.size,
                    data: crop_logits_in_image(&p.low_res, f, p.size),
                },
            });
            let size = logits.size;
            let mask = logits_to_mask(&logits.data, size.width, size.height)?;
            let (mask, cleaned_px) = clean_small_regions(mask, min_area);
            let rle = CocoRle::encode(&mask);
            if seen.contains(&rle) {
                continue;
            }
            let v = json!({
                "rle": {"size": [rle.height(), rle.width()], "counts": rle.counts()},
                "iou": p.iou, "token": p.token,
                "stability": p.stability,
                "area": rle.area(), "bbox": rle.bbox(),
                "cleaned_px": cleaned_px,
            });
            seen.push(rle);
            out.push((v, p.low_res));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samkit_engine::{LowResCandidate, LowResLogits, LOW_RES};

    /// A low-res map that is positive on the columns below `cut` (a different mask per cut).
    fn low(cut: usize) -> LowRes {
        LowResLogits(
            (0..LOW_RES * LOW_RES)
                .map(|i| if i % LOW_RES < cut { 4.0 } else { -4.0 })
                .collect(),
        )
    }

    fn decoded(ious: [f32; 4], cuts: [usize; 4], selected: usize) -> Decoded {
        Decoded {
            candidates: (0..4)
                .map(|t| LowResCandidate {
                    token: Some(t as u8),
                    iou: ious[t],
                    // Told apart from a recomputed one.
                    stability: if t == 1 { 0.5 } else { 1.0 },
                    low_res: low(cuts[t]),
                })
                .collect(),
            selected,
        }
    }

    const SIZE: Size = Size {
        width: 64,
        height: 48,
    };

    #[test]
    fn the_selection_comes_first_then_by_predicted_iou() {
        let d = decoded([0.7, 0.8, 0.95, 0.6], [32, 96, 160, 224], 2);
        let out = Proposals::from_decoded(d, SIZE, None)
            .into_json(true, 0)
            .unwrap();
        let tokens: Vec<u64> = out
            .iter()
            .map(|(v, _)| v["token"].as_u64().unwrap())
            .collect();
        assert_eq!(tokens, [2, 1, 0, 3]);
        // The low-res logits kept under the token follow the same order (`prev.candidate`).
        assert_eq!(out[1].1, low(96));
        let (v, _) = &out[0];
        assert_eq!(v["iou"].as_f64().unwrap() as f32, 0.95);
        assert_eq!(v["rle"]["size"], json!([48, 64]));
        // Columns below 160/256 of the width: 40 of 64.
        assert_eq!(v["area"].as_u64().unwrap(), 40 * 48);
        assert_eq!(v["stability"].as_f64().unwrap(), 1.0);
        assert_eq!(out[1].0["stability"].as_f64().unwrap(), 0.5);

        // More than one point: the single-mask output is the selection even with a lower
        // predicted IoU than others.
        let d = decoded([0.7, 0.8, 0.95, 0.6], [32, 96, 160, 224], 0);
        let out = Proposals::from_decoded(d, SIZE, None)
            .into_json(true, 0)
            .unwrap();
        let tokens: Vec<u64> = out
            .iter()
            .map(|(v, _)| v["token"].as_u64().unwrap())
            .collect();
        assert_eq!(tokens, [0, 2, 1, 3]);
    }

    #[test]
    fn without_multimask_only_the_selection_and_equal_masks_once() {
        let d = decoded([0.7, 0.8, 0.95, 0.6], [32, 96, 160, 224], 1);
        let out = Proposals::from_decoded(d, SIZE, None)
            .into_json(false, 0)
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0["token"], 1);
        // Tokens 1 and 3 give the same full-resolution mask: it is listed once.
        let d = decoded([0.7, 0.8, 0.95, 0.6], [32, 96, 160, 96], 2);
        let out = Proposals::from_decoded(d, SIZE, None)
            .into_json(true, 0)
            .unwrap();
        let tokens: Vec<u64> = out
            .iter()
            .map(|(v, _)| v["token"].as_u64().unwrap())
            .collect();
        assert_eq!(tokens, [2, 1, 0]);
    }
}
