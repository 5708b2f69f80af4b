//! Zoom-in refinement as a [`Segmenter`] (RITM's `ZoomIn`, as FocalClick and SimpleClick
//! evaluate with it; geometry in [`samkit_engine::zoom`]): from click `from_click` on, the
//! image is cropped around the current mask and the clicks, the crop is encoded at the
//! model's full input size, the clicks go to the decoder in crop coordinates with the
//! previous logits resampled into the crop, and the crop's mask is pasted back (background
//! outside it).
//!
//! The crop and its embedding are kept by RITM's rule (positive clicks inside, the next
//! region overlapping it by IoU ≥ 0.5; [`samkit_engine::zoom::keeps`]), so an object costs a
//! few crop encodes, not one per click (1.9 on the GrabCut mosaic, EVALUATION.md;
//! [`ZoomSegmenter::encoder_passes`] counts them). By default a crop is used only where it
//! shows pixels the whole view lost ([`ZoomConfig::min_gain`]). Zoom-in needs the previous
//! prediction at every click, so it runs the `prev` variant only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use image::RgbImage;
pub use samkit_engine::zoom::ZoomConfig;
use samkit_engine::zoom::{crop_logits_in_image, cut, keeps, mask_input_for_crop, Crop};
use samkit_engine::{upscale_logits, Embedding, LowResLogits};

use crate::clicker::Click;
use crate::run::{BoxError, Segmentation, Segmenter};
use crate::sam::SamSegmenter;

/// The whole image's embedding and the image (crops are cut from it).
pub struct ZoomEmbedding {
    whole: Embedding,
    image: RgbImage,
}

/// What a click hands to the next: the frame its logits are in and those logits, the
/// whole image's logits (to resample into another crop) and the crop embedding in use.
#[derive(Clone)]
pub struct ZoomState {
    frame: Option<Crop>,
    low_res: LowResLogits,
    logits: Vec<f32>,
    crop: Option<Arc<(Crop, Embedding)>>,
}

/// A [`SamSegmenter`] that refines on zoomed-in crops.
pub struct ZoomSegmenter<'a> {
    inner: SamSegmenter<'a>,
    config: ZoomConfig,
    encodes: AtomicUsize,
}

impl<'a> ZoomSegmenter<'a> {
    pub fn new(inner: SamSegmenter<'a>, config: ZoomConfig) -> Self {
        ZoomSegmenter {
            inner,
            config,
            encodes: AtomicUsize::new(0),
        }
    }

    /// Crop encoder passes so far (whole-image passes not counted).
    pub fn encoder_passes(&self) -> usize {
        self.encodes.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> ZoomConfig {
        self.config
    }
}

impl Segmenter for ZoomSegmenter<'_> {
    type Embedding = ZoomEmbedding;
    type State = ZoomState;

    fn embed(&self, image: &RgbImage) -> Result<ZoomEmbedding, BoxError> {
        Ok(ZoomEmbedding {
            whole: self.inner.embed(image)?,
            image: image.clone(),
        })
    }

    fn predict(
        &self,
        embedding: &ZoomEmbedding,
        clicks: &[Click],
        prev: Option<&ZoomState>,
    ) -> Result<Segmentation<ZoomState>, BoxError> {
        let size = embedding.whole.original;
        let whole_state = |low_res: LowResLogits, crop| {
            let logits = upscale_logits(&low_res, size).data;
            ZoomState {
                frame: None,
                low_res,
                logits,
                crop,
            }
        };
        // SAM on the whole image, its own protocol (before zooming in, or no gain).
        let on_whole = |prev: Option<&ZoomState>| -> Result<Segmentation<ZoomState>, BoxError> {
            let prev_low = prev.map(|p| match p.frame {
                None => p.low_res.clone(),
                Some(_) => mask_input_for_crop(&p.logits, size, &Crop::whole(size)),
            });
            let (mask, low) = self.inner.decode(&embedding.whole, clicks, prev_low)?;
            let state = whole_state(low, prev.and_then(|p| p.crop.clone()));
            Ok(Segmentation { mask, state })
        };
        let Some(prev) = prev else {
            return on_whole(None);
        };
        let mask: Vec<bool> = prev.logits.iter().map(|&v| v > 0.0).collect();
        let click_xy: Vec<(f32, f32)> = clicks.iter().map(|c| (c.x as f32, c.y as f32)).collect();
        let Some(roi) = self.config.region(&mask, size, &click_xy) else {
            return on_whole(Some(prev));
        };
        // Keep the crop and its embedding by RITM's rule.
        let positive: Vec<(f32, f32)> = clicks
            .iter()
            .filter(|c| c.positive)
            .map(|c| (c.x as f32, c.y as f32))
            .collect();
        let crop = match &prev.crop {
            Some(c) if keeps(&c.0, &roi, &positive) => c.clone(),
            _ => {
                self.encodes.fetch_add(1, Ordering::Relaxed);
                Arc::new((roi, self.inner.embed(&cut(&embedding.image, &roi))?))
            }
        };
        let frame = crop.0;
        let mask_input = match prev.frame {
            Some(f) if f == frame => prev.low_res.clone(),
            _ => mask_input_for_crop(&prev.logits, size, &frame),
        };
        // Clicks beyond a kept crop are negative (RITM's rule keeps the positive ones
        // inside): left out, as `samkit_engine::zoom::points_in_crop` does.
        let local: Vec<Click> = clicks
            .iter()
            .filter(|c| frame.has(c.x as f32, c.y as f32))
            .map(|c| Click {
                x: c.x - frame.x0,
                y: c.y - frame.y0,
                ..*c
            })
            .collect();
        let (_, low) = self.inner.decode(&crop.1, &local, Some(mask_input))?;
        let logits = crop_logits_in_image(&low, &frame, size);
        let mask = logits.iter().map(|&v| v > 0.0).collect();
        Ok(Segmentation {
            mask,
            state: ZoomState {
                frame: Some(frame),
                low_res: low,
                logits,
                crop: Some(crop),
            },
        })
    }
}
