//! SAM's mask postprocessing (`SamOnnxModel.mask_postprocessing`): the 256×256 logits
//! are resized bilinearly to 1024×1024, cropped to the resized image, and resized
//! bilinearly to the original size, both as `F.interpolate(..., mode="bilinear",
//! align_corners=False)`.

use crate::prediction::MaskLogits;
use crate::preprocess::{resized_size, Size, INPUT_SIZE};
use crate::{LowResLogits, LOW_RES};

/// Source index pairs and weights of a 1-D bilinear resize, half-pixel centres, as
/// PyTorch's `upsample_bilinear2d` with `align_corners=False`.
struct Taps {
    i0: Vec<usize>,
    i1: Vec<usize>,
    w1: Vec<f32>,
}

fn taps(input: usize, scale: f32, count: usize) -> Taps {
    let mut t = Taps {
        i0: Vec::with_capacity(count),
        i1: Vec::with_capacity(count),
        w1: Vec::with_capacity(count),
    };
    for x in 0..count {
        let src = ((x as f32 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src as usize).min(input - 1);
        let i1 = (i0 + 1).min(input - 1);
        t.i0.push(i0);
        t.i1.push(i1);
        t.w1.push(src - i0 as f32);
    }
    t
}

/// Bilinear resize of a `sh × sw` map to `dh × dw`, keeping only the first `keep_h`
/// rows and `keep_w` columns of the output (SAM crops right after its first resize).
fn resize(
    src: &[f32],
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    (keep_h, keep_w): (usize, usize),
) -> Vec<f32> {
    let xs = taps(sw, sw as f32 / dw as f32, keep_w);
    let ys = taps(sh, sh as f32 / dh as f32, keep_h);
    // Horizontal pass on every source row, then vertical: the same arithmetic as
    // PyTorch's h-lerp of w-lerps up to the order of two roundings.
    let mut rows = vec![0f32; sh * keep_w];
    for y in 0..sh {
        let s = &src[y * sw..(y + 1) * sw];
        let d = &mut rows[y * keep_w..(y + 1) * keep_w];
        for x in 0..keep_w {
            let (a, b, w) = (s[xs.i0[x]], s[xs.i1[x]], xs.w1[x]);
            d[x] = a + (b - a) * w;
        }
    }
    let mut out = vec![0f32; keep_h * keep_w];
    for y in 0..keep_h {
        let (r0, r1, w) = (ys.i0[y], ys.i1[y], ys.w1[y]);
        let a = &rows[r0 * keep_w..(r0 + 1) * keep_w];
        let b = &rows[r1 * keep_w..(r1 + 1) * keep_w];
        let d = &mut out[y * keep_w..(y + 1) * keep_w];
        for x in 0..keep_w {
            d[x] = a[x] + (b[x] - a[x]) * w;
        }
    }
    out
}

/// The full-resolution logits of one 256×256 low-resolution map for an image of
/// `original` size, as the ONNX decoder's `masks` output.
pub fn upscale_logits(low_res: &LowResLogits, original: Size) -> MaskLogits {
    let side = INPUT_SIZE as usize;
    let crop = resized_size(original);
    let (ch, cw) = (crop.height as usize, crop.width as usize);
    let padded = resize(
        &low_res.0,
        (LOW_RES, LOW_RES),
        (side, side),
        (ch.min(side), cw.min(side)),
    );
    let (h, w) = (original.height as usize, original.width as usize);
    let data = resize(&padded, (ch, cw), (h, w), (h, w));
    MaskLogits {
        size: original,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upscaling_matches_pytorch_half_pixel_bilinear() {
        // F.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4),
        //               mode="bilinear", align_corners=False)
        let out = resize(&[0.0, 1.0, 2.0, 3.0], (2, 2), (4, 4), (4, 4));
        let want = [
            0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0,
        ];
        for (a, b) in out.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
        // Downscaling 4 → 2 averages the middle pairs.
        let down = resize(&want, (4, 4), (2, 2), (2, 2));
        assert!((down[0] - 0.375).abs() < 1e-6, "{down:?}");
    }

    #[test]
    fn a_constant_map_stays_constant_at_any_size() {
        let low = LowResLogits(vec![1.5; LOW_RES * LOW_RES]);
        let m = upscale_logits(
            &low,
            Size {
                width: 333,
                height: 1,
            },
        );
        assert_eq!(m.data.len(), 333);
        assert!(m.data.iter().all(|&v| v == 1.5));
    }
}
