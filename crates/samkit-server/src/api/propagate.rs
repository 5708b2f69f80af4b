//! `POST /api/images/{id}/propagate`: one step of propagation through a volume. The mask
//! of an instance on one slice prompts this slice (its box, optionally itself as mask
//! input; `samkit_engine::propagate`); the result becomes an instance of the same category
//! unless the rule stops there (predicted IoU too low, mask vanished or leaked) or the
//! slice already has that object. The client walks the slices, showing each result.

use super::*;
use crate::source::ImageSource;
use samkit_engine::propagate::{object_contrast, propagation_prompt, PropagationRule};
use samkit_mask::Mask;

/// Overlap with an instance of the same category above which the slice already has the
/// object (propagating again over slices done before adds nothing).
const EXISTING_IOU: f64 = 0.5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PropagateReq {
    /// The instance on another slice of the same volume to start from.
    from_instance: i64,
    /// Stop below this predicted IoU (default 0.8).
    min_iou: Option<f64>,
    /// Also give the model the previous mask as its mask input (default: the box only;
    /// the mask input holds the mask where the object was, see
    /// `samkit_engine::propagate::propagation_prompt`).
    #[serde(default)]
    mask_input: bool,
    wait_ms: Option<u64>,
}

fn stored_mask(inst: &samkit_store::Instance) -> ApiResult<Mask> {
    let rle: CocoRle = serde_json::from_value(inst.rle.0.clone()).map_err(|e| {
        ApiError::internal(format!("instance {} has an unreadable mask: {e}", inst.id))
    })?;
    Ok(rle.decode())
}

pub(super) async fn propagate(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<PropagateReq>,
) -> ApiResult<Response> {
    let target = own_image(&st, id).await?;
    if target.missing {
        return Err(missing_err(&target));
    }
    let from = own_instance(&st, r.from_instance).await?;
    if from.deleted {
        return Err(ApiError::bad_request(format!(
            "instance {} is deleted; restore it or start from another",
            from.id
        )));
    }
    let source = own_image(&st, from.image_id).await?;
    let (src_file, src_z) = samkit_engine::split_slice_name(&source.path);
    let (dst_file, dst_z) = samkit_engine::split_slice_name(&target.path);
    if src_z.is_none() || dst_z.is_none() || src_file != dst_file || src_z == dst_z {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_same_volume",
            format!(
                "instance {} is on {}, not on another slice of the volume of {}; propagate from a slice of the same volume",
                from.id, source.path, target.path
            ),
        ));
    }
    let mut rule = PropagationRule::default();
    if let Some(m) = r.min_iou {
        if !(0.0..=1.0).contains(&m) {
            return Err(ApiError::bad_request(format!(
                "min_iou must be from 0 to 1, not {m}"
            )));
        }
        rule.min_iou = m as f32;
    }
    let previous = stored_mask(&from)?;
    if (i64::from(previous.width()), i64::from(previous.height())) != (target.width, target.height)
    {
        return Err(ApiError::bad_request(format!(
            "instance {} is {}×{} but {} is {}×{}",
            from.id,
            previous.width(),
            previous.height(),
            target.path,
            target.width,
            target.height
        )));
    }
    let prompt = propagation_prompt(&previous, r.mask_input)
        .ok_or_else(|| ApiError::bad_request(format!("instance {} has an empty mask", from.id)))?;
    let previous_area = previous.area();
    let wait = Duration::from_millis(r.wait_ms.unwrap_or(30_000).min(120_000));
    let emb = wait_embedding(&st, &target, wait).await?;
    let bbox = prompt.bbox.map(|b| [b.x0, b.y0, b.x1, b.y1]);
    let t = Instant::now();
    let pred = st
        .engine
        .decode(move |m| m.predict(&emb, &prompt).map_err(|e| e.to_string()))
        .await
        .ok_or_else(|| model_err(st.engine.model()))?
        .map_err(|e| ApiError::bad_request(format!("cannot predict: {e}")))?;
    let decode_ms = (t.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    let best = pred.best();
    let iou = best.iou;
    let size = best.logits.size;
    let mask =
        logits_to_mask(&best.logits.data, size.width, size.height).map_err(ApiError::internal)?;
    let area = mask.area();
    let rle = CocoRle::encode(&mask);
    // The pixels of both slices (the volume is cached), for the contrast rule.
    let (src, dst) = (
        ImageSource::of(&st.root, &source.path, &st.windows),
        ImageSource::of(&st.root, &target.path, &st.windows),
    );
    let (budget, m, p) = (st.budget, mask.clone(), previous.clone());
    let (contrast, previous_contrast) = tokio::task::spawn_blocking(move || {
        let of = |s: &ImageSource, m: &Mask| {
            s.load_rgb(budget)
                .ok()
                .and_then(|img| object_contrast(&img, m))
        };
        (of(&dst, &m), of(&src, &p))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let summary = json!({
        "from_instance": from.id, "iou": iou, "area": area, "previous_area": previous_area,
        "decode_ms": decode_ms, "contrast": contrast, "previous_contrast": previous_contrast,
    });
    let stop = |code: &str, message: String| -> ApiResult<Response> {
        let mut v = summary.clone();
        v["instance"] = Value::Null;
        v["stopped"] = json!({"code": code, "message": message});
        Ok((StatusCode::OK, axum::Json(v)).into_response())
    };
    if let Err(s) = rule.judge(previous_area, iou, area, contrast, previous_contrast) {
        return stop(s.code(), format!("{}: {s}", target.path));
    }
    for other in st.store.list_instances(id, false).await.api()? {
        if other.category_id != from.category_id {
            continue;
        }
        let overlap = mask.iou(&stored_mask(&other)?).unwrap_or(0.0);
        if overlap >= EXISTING_IOU {
            return stop(
                "exists",
                format!(
                    "{} already has this object (instance {}, IoU {overlap:.2})",
                    target.path, other.id
                ),
            );
        }
    }
    let new = NewInstance {
        image_id: id,
        category_id: from.category_id,
        rle: serde_json::to_value(&rle).map_err(|e| ApiError::internal(e.to_string()))?,
        area: area as i64,
        bbox: rle.bbox(),
        score: Some(f64::from(iou)),
        prompts: json!({"propagated_from": from.id, "box": bbox, "mask_input": r.mask_input}),
        client_id: None,
        attributes: Value::Null,
    };
    let store = st.store.clone();
    let (inst, _) = tokio::spawn(async move { store.create_instance(new, &a).await })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .api()?;
    let mut v = summary;
    v["instance"] = instance_json(&inst);
    v["stopped"] = Value::Null;
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}
