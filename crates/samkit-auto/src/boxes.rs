//! Masks for boxes (`samkit masks-from-boxes`): one box prompt per object, SAM's
//! single-mask output (`multimask_output=False`, decoder token 0, what SAM's notebook
//! and the box-to-mask tools use for a box), upscaled and thresholded at 0.

use samkit_engine::{upscale_logits, BoxPrompt, Embedding, Prompt, SamDecoder};
use samkit_mask::Mask;

use crate::{AutoError, Result};

/// A box checked against its image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckedBox {
    /// Inside the image as given.
    Inside(BoxPrompt),
    /// Reached outside the image: cut to it.
    Clipped(BoxPrompt),
    /// Nothing left inside the image (or zero width or height, or not finite).
    Empty,
}

/// A COCO `bbox` `[x, y, width, height]` in pixels against a `width × height` image.
pub fn check_xywh(bbox: [f64; 4], width: u32, height: u32) -> CheckedBox {
    let [x, y, w, h] = bbox;
    if !bbox.iter().all(|v| v.is_finite()) || w <= 0.0 || h <= 0.0 {
        return CheckedBox::Empty;
    }
    let (iw, ih) = (f64::from(width), f64::from(height));
    let (x0, y0, x1, y1) = (x.max(0.0), y.max(0.0), (x + w).min(iw), (y + h).min(ih));
    if x1 <= x0 || y1 <= y0 {
        return CheckedBox::Empty;
    }
    let b = BoxPrompt {
        x0: x0 as f32,
        y0: y0 as f32,
        x1: x1 as f32,
        y1: y1 as f32,
    };
    if (x0, y0, x1, y1) == (x, y, x + w, y + h) {
        CheckedBox::Inside(b)
    } else {
        CheckedBox::Clipped(b)
    }
}

/// One mask per box (all inside the embedded image) with its predicted IoU, decoded
/// together (memory grows with the number of boxes: pass batches).
pub fn masks_for_boxes(
    decoder: &SamDecoder,
    embedding: &Embedding,
    boxes: &[BoxPrompt],
) -> Result<Vec<(Mask, f32)>> {
    let prompts: Vec<Prompt> = boxes
        .iter()
        .map(|b| Prompt {
            bbox: Some(*b),
            ..Default::default()
        })
        .collect();
    let size = embedding.original;
    decoder
        .decode_batch(embedding, &prompts)?
        .into_iter()
        .map(|d| {
            let single = d
                .candidates
                .iter()
                .find(|c| c.token == Some(0))
                .ok_or_else(|| {
                    AutoError::Decoder(format!(
                        "masks from boxes need the decoder's single-mask output; the {} decoder \
                         does not give it for a box: use --decoder-backend native",
                        decoder.backend()
                    ))
                })?;
            let logits = upscale_logits(&single.low_res, size);
            let bools: Vec<bool> = logits.data.iter().map(|&v| v > 0.0).collect();
            Ok((
                Mask::from_bools(size.width, size.height, &bools)?,
                single.iou,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(x0: f32, y0: f32, x1: f32, y1: f32) -> BoxPrompt {
        BoxPrompt { x0, y0, x1, y1 }
    }

    #[test]
    fn boxes_are_kept_clipped_or_empty() {
        assert_eq!(
            check_xywh([10.0, 5.0, 20.0, 10.0], 100, 50),
            CheckedBox::Inside(bp(10.0, 5.0, 30.0, 15.0))
        );
        // Up to the border is inside; beyond it is cut.
        assert_eq!(
            check_xywh([80.0, 40.0, 20.0, 10.0], 100, 50),
            CheckedBox::Inside(bp(80.0, 40.0, 100.0, 50.0))
        );
        assert_eq!(
            check_xywh([-5.0, 40.0, 20.0, 30.0], 100, 50),
            CheckedBox::Clipped(bp(0.0, 40.0, 15.0, 50.0))
        );
        for empty in [
            [10.0, 10.0, 0.0, 5.0],
            [10.0, 10.0, 5.0, -1.0],
            [100.0, 10.0, 5.0, 5.0],
            [-10.0, 10.0, 10.0, 5.0],
            [f64::NAN, 0.0, 1.0, 1.0],
            [0.0, 0.0, f64::INFINITY, 1.0],
        ] {
            assert_eq!(check_xywh(empty, 100, 50), CheckedBox::Empty, "{empty:?}");
        }
    }
}
