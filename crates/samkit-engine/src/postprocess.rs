//! SAM's mask postprocessing (`SamOnnxModel.mask_postprocessing`): the 256×256 logits
//! are resized bilinearly to 1024×1024, cropped to the resized image, and resized
//! bilinearly to the original size, both as `F.interpolate(..., mode="bilinear",
//! align_corners=False)`.

use crate::prediction::MaskLogits;
use crate::preprocess::{resized_size, Size, INPUT_SIZE};
use crate::{LowResLogits, LOW_RES};

/// Source index pairs and weights of a 1-D linear resize with half-pixel centres, as
/// ONNX Runtime's `Resize` computes them (the exported graph's op): the source
/// coordinate is `(x + 0.5) / scale − 0.5` with `scale = out / in` in f32, clamped to the
/// input, and the weights are the distances to both neighbours. Computing the coordinate
/// as `(x + 0.5) · (in / out)` instead moves it by up to 1e-4 pixel on a 1000-pixel side,
/// enough to flip a mask pixel.
struct Taps {
    i0: Vec<usize>,
    i1: Vec<usize>,
    /// Weight of `i1` and of `i0`.
    w1: Vec<f32>,
    w0: Vec<f32>,
}

fn taps(input: usize, output: usize, count: usize) -> Taps {
    let scale = output as f32 / input as f32;
    let mut t = Taps {
        i0: Vec::with_capacity(count),
        i1: Vec::with_capacity(count),
        w1: Vec::with_capacity(count),
        w0: Vec::with_capacity(count),
    };
    for x in 0..count {
        let src = ((x as f32 + 0.5) / scale - 0.5).clamp(0.0, (input - 1) as f32);
        let i0 = (src as usize).min(input - 1);
        let i1 = (i0 + 1).min(input - 1);
        let (w1, w0) = if i0 == i1 {
            (0.5, 0.5)
        } else {
            ((src - i0 as f32).abs(), (src - i1 as f32).abs())
        };
        t.i0.push(i0);
        t.i1.push(i1);
        t.w1.push(w1);
        t.w0.push(w0);
    }
    t
}

/// Bilinear resize of a `sh × sw` map to `dh × dw`, keeping only the first `keep_h`
/// rows and `keep_w` columns of the output (SAM crops right after its first resize).
/// Each output is `w0y·w0x·a + w0y·w1x·b + w1y·w0x·c + w1y·w1x·d`, summed in that order,
/// as ONNX Runtime does, so the masks match the exported decoder's to the last bit or so.
fn resize(
    src: &[f32],
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    (keep_h, keep_w): (usize, usize),
) -> Vec<f32> {
    let xs = taps(sw, dw, keep_w);
    let ys = taps(sh, dh, keep_h);
    let mut out = vec![0f32; keep_h * keep_w];
    for y in 0..keep_h {
        let (r0, r1) = (
            &src[ys.i0[y] * sw..(ys.i0[y] + 1) * sw],
            &src[ys.i1[y] * sw..(ys.i1[y] + 1) * sw],
        );
        let (v0, v1) = (ys.w0[y], ys.w1[y]);
        let d = &mut out[y * keep_w..(y + 1) * keep_w];
        for (x, out) in d.iter_mut().enumerate() {
            let (x0, x1, u0, u1) = (xs.i0[x], xs.i1[x], xs.w0[x], xs.w1[x]);
            *out = u0 * v0 * r0[x0] + u1 * v0 * r0[x1] + u0 * v1 * r1[x0] + u1 * v1 * r1[x1];
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
