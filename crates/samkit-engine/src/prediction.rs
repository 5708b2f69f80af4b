//! What the decoder returns: one or more candidate masks as logits at the original
//! resolution, each with SAM's predicted IoU and its low-resolution logits.

use image::GrayImage;

use crate::preprocess::Size;
use crate::LowResLogits;

/// Mask logits at the original image resolution, row-major; the mask is `logit > 0`.
#[derive(Debug, Clone)]
pub struct MaskLogits {
    pub size: Size,
    pub data: Vec<f32>,
}

impl MaskLogits {
    /// The binary mask as an 8-bit image: 255 = object, 0 = background.
    pub fn to_gray(&self) -> GrayImage {
        let buf = self
            .data
            .iter()
            .map(|&v| if v > 0.0 { 255 } else { 0 })
            .collect();
        GrayImage::from_raw(self.size.width, self.size.height, buf).expect("size matches data")
    }

    /// The binary mask, row-major.
    pub fn to_bools(&self) -> Vec<bool> {
        self.data.iter().map(|&v| v > 0.0).collect()
    }

    /// Number of object pixels.
    pub fn area(&self) -> u64 {
        self.data.iter().filter(|&&v| v > 0.0).count() as u64
    }
}

/// One candidate mask.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub logits: MaskLogits,
    /// SAM's own estimate of this mask's IoU with the intended object.
    pub iou: f32,
    /// Logits at 256×256, to feed back as the next prompt's `mask_input`.
    pub low_res: LowResLogits,
}

/// All candidates of one decoder call, in the decoder's order. The default decoder
/// returns one (it picks the best of three itself); other exports may return several.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub candidates: Vec<Candidate>,
}

impl Prediction {
    /// Appends `candidate` unless an existing candidate has the same mask.
    pub fn push_distinct(&mut self, candidate: Candidate) {
        let mask = candidate.logits.to_bools();
        if self.candidates.iter().all(|c| c.logits.to_bools() != mask) {
            self.candidates.push(candidate);
        }
    }

    /// The candidate with the highest predicted IoU.
    pub fn best(&self) -> &Candidate {
        self.candidates
            .iter()
            .max_by(|a, b| a.iou.total_cmp(&b.iou))
            .expect("a prediction has at least one candidate")
    }
}
