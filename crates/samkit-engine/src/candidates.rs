//! Every mask the decoder proposes for a prompt, at low resolution, with SAM's scores,
//! and the rule the shipped ONNX decoder uses to pick one.

use crate::LowResLogits;

/// The number of mask outputs of a SAM decoder: the single-mask token and three
/// multimask tokens.
pub const MASK_TOKENS: usize = 4;

/// One of the decoder's mask outputs for a prompt, before upscaling.
#[derive(Debug, Clone)]
pub struct LowResCandidate {
    /// Which output token made it: 0 = the single-mask output, 1..=3 = the multimask
    /// outputs. `None` when the ONNX decoder returned it without saying which.
    pub token: Option<u8>,
    /// SAM's own estimate of this mask's IoU with the intended object.
    pub iou: f32,
    /// SAM's stability score of the 256×256 logits (threshold 0, offset 1); the
    /// full-resolution figure is [`stability_score`] of the upscaled logits.
    pub stability: f32,
    pub low_res: LowResLogits,
}

/// All candidates of one prompt and the one the shipped decoder's rule selects.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// In token order for the native decoder (4 of them); the ONNX decoder gives its
    /// selected mask first and, for a lone click, its single-mask output second.
    pub candidates: Vec<LowResCandidate>,
    /// Index in `candidates` of the mask the shipped decoder returns.
    pub selected: usize,
}

impl Decoded {
    /// The candidate the shipped decoder's rule selects.
    pub fn selected(&self) -> &LowResCandidate {
        &self.candidates[self.selected]
    }

    /// The index of the candidate with the highest predicted IoU (first on ties).
    pub fn best_iou(&self) -> usize {
        let mut best = 0;
        for (i, c) in self.candidates.iter().enumerate() {
            if c.iou > self.candidates[best].iou {
                best = i;
            }
        }
        best
    }
}

/// The shipped ONNX decoder's choice among its four outputs (segment-anything's
/// `SamOnnxModel.select_masks`): `argmax(iou + (num_points − 2.5) · [1000, 0, 0, 0])`,
/// where `num_points` counts every decoder point, padding and box corners included. So
/// one click (plus padding) takes the best multimask output, more take the single one.
pub fn export_selection(ious: &[f32], num_points: usize) -> usize {
    let bias = (num_points as f32 - 2.5) * 1000.0;
    let mut best = 0;
    let mut best_score = f32::NEG_INFINITY;
    for (i, &iou) in ious.iter().enumerate() {
        let score = if i == 0 { iou + bias } else { iou };
        // torch.argmax returns the first maximum.
        if score > best_score {
            best = i;
            best_score = score;
        }
    }
    best
}

/// SAM's stability score (`calculate_stability_score`, as `samkit_mask::stability_score`):
/// the IoU between the masks thresholded at `threshold + offset` and at
/// `threshold − offset`. 0/0 counts as 0.
pub fn stability_score(logits: &[f32], threshold: f32, offset: f32) -> f32 {
    samkit_mask::stability_score(logits, logits.len(), threshold, offset)
        .expect("the expected length is the slice's own")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_click_takes_the_best_multimask_output_more_points_the_single_one() {
        let ious = [0.99, 0.5, 0.9, 0.7];
        assert_eq!(export_selection(&ious, 2), 2);
        assert_eq!(export_selection(&ious, 3), 0);
        // Ties go to the first, as torch.argmax.
        assert_eq!(export_selection(&[0.1, 0.8, 0.8, 0.2], 2), 1);
    }

    #[test]
    fn stability_is_the_iou_of_the_two_thresholds() {
        let logits = [-2.0, -0.5, 0.5, 1.5, 3.0];
        // > 1: 2 values; > −1: 4 values.
        assert_eq!(stability_score(&logits, 0.0, 1.0), 0.5);
        assert_eq!(stability_score(&[-5.0; 4], 0.0, 1.0), 0.0);
    }
}
