//! Zoom-in refinement in the web app (issue 14; geometry and rule in
//! [`samkit_engine::zoom`], measured with `samkit eval --zoom-in`): a refinement click — the
//! second point on, with the previous prediction's token, no box — on an image larger than
//! the model's view is decoded on a crop around the previous mask and the clicks, encoded
//! at the model's full input size (`crops.rs`), with the previous logits resampled into the
//! crop; the candidates are pasted back into the image. A crop that would show no more of
//! the image's pixels than the whole view ([`samkit_engine::zoom::pixel_gain`]) is not
//! used: photos smaller than the model's input are never zoomed.
//!
//! After the first click on such an image the crop the second click will most likely use
//! is encoded ahead, while the annotator looks at the first mask.

use samkit_engine::preprocess::INPUT_SIZE;
use samkit_engine::zoom::{
    crop_logits_in_image, mask_input_for_crop, object_roi, pixel_gain, Crop, ZoomConfig,
};
use samkit_engine::{upscale_logits, Size};

use super::*;
use crate::crops::CropEmbedding;
use predict::LowRes;

/// The previous prediction a refinement starts from: one candidate's low-resolution logits
/// and the frame they were decoded on.
#[derive(Clone)]
pub(super) struct PrevLogits {
    pub(super) low_res: LowRes,
    pub(super) frame: Option<Crop>,
}

impl PrevLogits {
    /// Its logits over the whole image, at full resolution.
    fn full(&self, size: Size) -> Vec<f32> {
        match &self.frame {
            None => upscale_logits(&self.low_res, size).data,
            Some(f) => crop_logits_in_image(&self.low_res, f, size),
        }
    }

    /// The mask input for a decode on `frame` (`None`: the whole image): the logits
    /// themselves when they are in that frame, else resampled into it.
    pub(super) fn mask_input(&self, frame: Option<Crop>, size: Size) -> LowRes {
        if self.frame == frame {
            return self.low_res.clone();
        }
        let target = frame.unwrap_or_else(|| Crop::whole(size));
        mask_input_for_crop(&self.full(size), size, &target)
    }
}

/// The positive points' coordinates (RITM's rule for keeping a crop looks at those).
fn positive(points: &[Point]) -> Vec<(f32, f32)> {
    points
        .iter()
        .filter(|p| p.label == PointLabel::Positive)
        .map(|p| (p.x, p.y))
        .collect()
}

/// Where a refinement from `prev` is decoded — a crop (with its embedding) when `zoom`
/// is on and [`ZoomConfig::region`] gives one, else the whole image (`None`) — and its
/// mask input in that frame. The pixel work runs on a blocking thread.
pub(super) async fn refine_on(
    st: &Arc<AppState>,
    img: &samkit_store::Image,
    zoom: Option<ZoomConfig>,
    prev: PrevLogits,
    points: &[Point],
    size: Size,
) -> ApiResult<(Option<CropEmbedding>, LowRes)> {
    let blocking = |e: tokio::task::JoinError| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    };
    let region = match zoom {
        Some(z) => {
            let (p, pts) = (prev.clone(), points.to_vec());
            tokio::task::spawn_blocking(move || refinement_region(&z, &p, &pts, size))
                .await
                .map_err(blocking)?
        }
        None => None,
    };
    let crop = match region {
        Some(roi) => Some(
            st.engine
                .crop_embedding(img.id, roi, &positive(points))
                .await
                .map_err(|msg| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "encoding_failed",
                        format!(
                            "a crop of {} could not be encoded: {msg}; predict with \"zoom\": false",
                            img.path
                        ),
                    )
                })?,
        ),
        None => None,
    };
    let frame = crop.as_ref().map(|c| c.crop);
    let input = tokio::task::spawn_blocking(move || prev.mask_input(frame, size))
        .await
        .map_err(blocking)?;
    Ok((crop, input))
}

/// Only an image whose longest side exceeds the model's input can gain from a crop.
pub(super) fn can_zoom(size: Size) -> bool {
    size.width.max(size.height) > INPUT_SIZE
}

/// The crop to decode this refinement on, if any (`ZoomConfig::region` of the previous
/// mask and the points).
fn refinement_region(
    config: &ZoomConfig,
    prev: &PrevLogits,
    points: &[Point],
    size: Size,
) -> Option<Crop> {
    if points.len() < config.from_click {
        return None;
    }
    let mask: Vec<bool> = prev.full(size).iter().map(|&v| v > 0.0).collect();
    let xy: Vec<(f32, f32)> = points.iter().map(|p| (p.x, p.y)).collect();
    config.region(&mask, size, &xy)
}

/// After a first click: encodes, in the background, the crop around `low_res`'s mask and
/// the click that a second click inside it would be decoded on.
pub(super) fn encode_ahead(
    st: &Arc<AppState>,
    config: ZoomConfig,
    image_id: i64,
    low_res: LowRes,
    click: (f32, f32),
    size: Size,
) {
    let st = st.clone();
    tokio::spawn(async move {
        let roi = tokio::task::spawn_blocking(move || {
            let mask: Vec<bool> = upscale_logits(&low_res, size)
                .data
                .iter()
                .map(|&v| v > 0.0)
                .collect();
            object_roi(&mask, size, &[click], config.expand, config.min_size)
                .filter(|roi| pixel_gain(roi, size) > config.min_gain)
                .map(|roi| (roi, click))
        })
        .await
        .ok()
        .flatten();
        if let Some((roi, click)) = roi {
            if let Err(e) = st.engine.crop_embedding(image_id, roi, &[click]).await {
                tracing::warn!("could not encode a crop of image {image_id} ahead: {e}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use samkit_engine::{LowResLogits, LOW_RES};

    #[test]
    fn logits_in_their_own_frame_go_back_unchanged_else_resampled() {
        let size = Size {
            width: 2048,
            height: 1536,
        };
        let low = LowResLogits(
            (0..LOW_RES * LOW_RES)
                .map(|i| if i % LOW_RES < 64 { 5.0 } else { -5.0 })
                .collect(),
        );
        let whole = PrevLogits {
            low_res: low.clone(),
            frame: None,
        };
        assert_eq!(whole.mask_input(None, size).0, low.0);
        let crop = Crop {
            x0: 0,
            y0: 0,
            x1: 1024,
            y1: 1024,
        };
        let on_crop = PrevLogits {
            low_res: low.clone(),
            frame: Some(crop),
        };
        assert_eq!(on_crop.mask_input(Some(crop), size).0, low.0);
        // The whole image's left quarter (512 px) is the crop's left half: positive on
        // the crop's low-res columns below 128.
        let resampled = whole.mask_input(Some(crop), size);
        assert!(resampled.0[10 * LOW_RES + 120] > 0.0);
        assert!(resampled.0[10 * LOW_RES + 136] < 0.0);
        // And back: the crop's mask (its left quarter, 256 px) over the whole image.
        let back = on_crop.mask_input(None, size);
        assert!(back.0[10 * LOW_RES + 30] > 0.0);
        assert!(back.0[10 * LOW_RES + 34] < 0.0);
    }

    #[test]
    fn only_images_larger_than_the_models_input_zoom() {
        assert!(!can_zoom(Size {
            width: 1024,
            height: 700
        }));
        assert!(can_zoom(Size {
            width: 700,
            height: 1025
        }));
    }
}
