//! Masks into and out of a prediction: a mask to start from (`mask_input`, e.g. an
//! accepted instance being edited) and SAM's small-region clean-up of the masks sent
//! (`min_region_area`).

use super::*;
use samkit_engine::propagate::mask_input_from_mask;
use samkit_mask::{remove_small_regions, Mask, RegionMode};

/// The largest `min_region_area` (px): beyond it the clean-up would remove objects, not specks.
pub(super) const MAX_MIN_REGION_AREA: u64 = 100_000;

/// `min_region_area` of a predict request, checked: a whole number of pixels within bounds.
pub(super) fn min_region_area(r: &PredictReq) -> ApiResult<u64> {
    match r.min_region_area {
        None => Ok(0),
        Some(a) if a.is_finite() && a >= 0.0 && a.fract() == 0.0 && a <= MAX_MIN_REGION_AREA as f64 => {
            Ok(a as u64)
        }
        Some(a) => Err(ApiError::bad_request(format!(
            "min_region_area must be a whole number of pixels from 0 (no clean-up) to {MAX_MIN_REGION_AREA}, not {a}"
        ))),
    }
}

/// SAM's mask input (low-res logits) for a binary mask over the whole image, sent as COCO RLE.
pub(super) fn mask_input_from_rle(v: &Value, img: &samkit_store::Image) -> ApiResult<LowRes> {
    let rle: CocoRle = serde_json::from_value(v.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid mask_input: {e}; expected COCO RLE {{\"size\": [h, w], \"counts\": ...}} of the image"
        ))
    })?;
    if (i64::from(rle.height()), i64::from(rle.width())) != (img.height, img.width) {
        return Err(ApiError::bad_request(format!(
            "mask_input size is [{}, {}] but image {} is [{}, {}] (size is [height, width])",
            rle.height(),
            rle.width(),
            img.id,
            img.height,
            img.width
        )));
    }
    Ok(mask_input_from_mask(&rle.decode()))
}

/// SAM's clean-up of a mask (segment-anything `amg.py`, as its automatic generator does it):
/// holes below `min_area` filled, then islands below it removed. Returns the pixels changed.
pub(super) fn clean_small_regions(mask: Mask, min_area: u64) -> (Mask, u64) {
    if min_area == 0 {
        return (mask, 0);
    }
    let (filled, _) = remove_small_regions(&mask, min_area, RegionMode::Holes);
    let (cleaned, _) = remove_small_regions(&filled, min_area, RegionMode::Islands);
    let changed = mask
        .as_slice()
        .iter()
        .zip(cleaned.as_slice())
        .filter(|(a, b)| a != b)
        .count() as u64;
    (cleaned, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use samkit_engine::LOW_RES;

    fn req(v: Value) -> PredictReq {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn min_region_area_is_a_whole_number_of_pixels_within_bounds() {
        let p = json!([{"x": 1, "y": 1, "label": "positive"}]);
        assert_eq!(min_region_area(&req(json!({"points": p}))).unwrap(), 0);
        for ok in [0, 100, MAX_MIN_REGION_AREA] {
            let r = req(json!({"points": p, "min_region_area": ok}));
            assert_eq!(min_region_area(&r).unwrap(), ok);
        }
        for bad in [
            json!(-1),
            json!(2.5),
            json!(1e9),
            json!(MAX_MIN_REGION_AREA + 1),
        ] {
            let e =
                min_region_area(&req(json!({"points": p, "min_region_area": bad}))).unwrap_err();
            assert!(
                e.message.contains("min_region_area must be a whole number"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn clean_up_fills_small_holes_and_drops_small_islands() {
        // A 10 × 10 block with a 1-pixel hole, and a 2-pixel speck far from it.
        let mut m = Mask::new(20, 12).unwrap();
        for y in 1..11 {
            for x in 1..11 {
                m.set(x, y, true);
            }
        }
        m.set(5, 5, false);
        m.set(17, 2, true);
        m.set(18, 2, true);
        let (same, n) = clean_small_regions(m.clone(), 0);
        assert_eq!((same, n), (m.clone(), 0));
        let (out, n) = clean_small_regions(m, 4);
        assert_eq!(n, 3);
        assert_eq!(out.area(), 100);
        assert!(out.get(5, 5) && !out.get(17, 2));
    }

    #[test]
    fn a_mask_input_is_positive_inside_negative_outside_and_on_the_padding() {
        let img: samkit_store::Image = serde_json::from_value(json!({
            "id": 1, "project_id": 1, "path": "a.png", "width": 64, "height": 32,
            "content_hash": "h", "status": "todo", "version": 1, "instance_count": 0,
            "missing": false, "created_at": "", "updated_at": "", "updated_by": ""
        }))
        .unwrap();
        // The left half of the image.
        let mask = Mask::from_fn(64, 32, |x, _| x < 32).unwrap();
        let rle = CocoRle::encode(&mask);
        let v = json!({"size": [32, 64], "counts": rle.counts()});
        let low = mask_input_from_rle(&v, &img).unwrap();
        assert_eq!(low.0.len(), LOW_RES * LOW_RES);
        // 64 × 32 fills the top 256 × 128 cells of the grid; the rest is padding.
        let at = |x: usize, y: usize| low.0[y * LOW_RES + x];
        assert!(
            at(10, 60) > 10.0 && at(240, 60) < -10.0,
            "{} {}",
            at(10, 60),
            at(240, 60)
        );
        assert!(at(10, 200) < 0.0, "padding is background");
        let wrong = json!({"size": [64, 32], "counts": rle.counts()});
        let e = mask_input_from_rle(&wrong, &img).unwrap_err();
        assert!(
            e.message.contains("mask_input size is [64, 32]"),
            "{}",
            e.message
        );
        assert!(mask_input_from_rle(&json!({"size": [32, 64]}), &img).is_err());
    }
}
