//! SAM's stability score.

use crate::MaskError;

/// segment-anything `calculate_stability_score` for one mask's logits:
/// `|logits > t + offset| / |logits > t - offset|`, the IoU between the masks
/// binarised at a high and a low threshold (`t = mask_threshold`, 0.0 in SAM;
/// `offset` is `stability_score_offset`, 1.0 in SAM's automatic mask generator).
///
/// `expected_len` guards against a logits buffer of the wrong size. When nothing is
/// above the low threshold (0/0, NaN in PyTorch) the score is 0.0, so such a mask
/// is filtered by any positive `stability_score_thresh`, as with NaN in SAM.
pub fn stability_score(
    logits: &[f32],
    expected_len: usize,
    mask_threshold: f32,
    offset: f32,
) -> Result<f32, MaskError> {
    if logits.len() != expected_len {
        return Err(MaskError::LogitsLength {
            expected: expected_len,
            got: logits.len(),
        });
    }
    let hi = mask_threshold + offset;
    let lo = mask_threshold - offset;
    let (mut inter, mut union) = (0u64, 0u64);
    for &v in logits {
        inter += u64::from(v > hi);
        union += u64::from(v > lo);
    }
    Ok(if union == 0 {
        0.0
    } else {
        (inter as f64 / union as f64) as f32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sam_formula() {
        let logits = [-2.0, -0.5, 0.5, 1.5, 3.0];
        // > 1.0: {1.5, 3.0} = 2; > -1.0: {-0.5, 0.5, 1.5, 3.0} = 4
        assert_eq!(stability_score(&logits, 5, 0.0, 1.0).unwrap(), 0.5);
        assert_eq!(stability_score(&[-5.0; 4], 4, 0.0, 1.0).unwrap(), 0.0);
        assert!(stability_score(&logits, 4, 0.0, 1.0).is_err());
    }
}
