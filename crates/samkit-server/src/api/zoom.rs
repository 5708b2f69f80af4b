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
use samkit_engine::zoom::{crop_logits_in_image, mask_input_for_crop, Crop, ZoomConfig};
use samkit_engine::{upscale_logits, Size};

use super::*;
use crate::crops::CropEmbedding;
use predict::LowRes;

/// The previous prediction a refinement starts from: one candidate's low-resolution logits
/// and the frame they were decoded on.
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
    /// themselves when they are in that frame, else resampled into it from `full` (the
    /// logits over the whole image, when already made).
    fn mask_input(&self, frame: Option<Crop>, size: Size, full: Option<&[f32]>) -> LowRes {
        if self.frame == frame {
            return self.low_res.clone();
        }
        let target = frame.unwrap_or_else(|| Crop::whole(size));
        match full {
            Some(full) => mask_input_for_crop(full, size, &target),
            None => mask_input_for_crop(&self.full(size), size, &target),
        }
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
    let blocking = |e: tokio::task::JoinError| ApiError::internal(e.to_string());
    // The previous logits over the whole image are made once: for the region and, when
    // the decode moves to another frame, for the mask input.
    let (region, full, prev) = match zoom.filter(|z| points.len() >= z.from_click) {
        Some(z) => {
            let xy: Vec<(f32, f32)> = points.iter().map(|p| (p.x, p.y)).collect();
            tokio::task::spawn_blocking(move || {
                let full = prev.full(size);
                let mask: Vec<bool> = full.iter().map(|&v| v > 0.0).collect();
                (z.region(&mask, size, &xy), Some(full), prev)
            })
            .await
            .map_err(blocking)?
        }
        None => (None, None, prev),
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
    let input = tokio::task::spawn_blocking(move || prev.mask_input(frame, size, full.as_deref()))
        .await
        .map_err(blocking)?;
    Ok((crop, input))
}

/// Only an image whose longest side exceeds the model's input can gain from a crop.
pub(super) fn can_zoom(size: Size) -> bool {
    size.width.max(size.height) > INPUT_SIZE
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
            config
                .crop_around(&mask, size, &[click])
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
        assert_eq!(whole.mask_input(None, size, None).0, low.0);
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
        assert_eq!(on_crop.mask_input(Some(crop), size, None).0, low.0);
        // The whole image's left quarter (512 px) is the crop's left half: positive on
        // the crop's low-res columns below 128.
        let resampled = whole.mask_input(Some(crop), size, None);
        assert!(resampled.0[10 * LOW_RES + 120] > 0.0);
        assert!(resampled.0[10 * LOW_RES + 136] < 0.0);
        // And back: the crop's mask (its left quarter, 256 px) over the whole image.
        let back = on_crop.mask_input(None, size, None);
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
