//! The end of SAM's mask decoder: output upscaling (two 2×2 transposed convolutions),
//! the hypernetwork MLPs that turn each mask token into weights over the upscaled
//! features, and the IoU prediction head.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::ops::{gelu_inplace, linear, relu};
use super::prompt_encoder::{GRID, PIXELS};
use super::weights::{ConvT2x2, MaskDecoder, Mlp3, DIM, UP2};
use crate::candidates::MASK_TOKENS;
use crate::LOW_RES;

pub(crate) fn mlp3(m: &Mlp3, x: ArrayView1<f32>) -> Array1<f32> {
    let x = x.insert_axis(ndarray::Axis(0));
    let mut h = linear(x, &m.layers[0]);
    relu(&mut h);
    let mut h = linear(h.view(), &m.layers[1]);
    relu(&mut h);
    linear(h.view(), &m.layers[2]).row(0).to_owned()
}

/// A transposed convolution of `[n, in]` pixels into `[4n, out]` sub-pixels, row
/// `pixel·4 + dy·2 + dx`.
pub(crate) fn conv_t(x: ArrayView2<f32>, c: &ConvT2x2) -> Array2<f32> {
    let y = x.dot(&c.w);
    let n = y.nrows();
    let mut y = y
        .into_shape_with_order((4 * n, c.out))
        .expect("contiguous product");
    y += &c.b;
    y
}

/// The second half of the upscaling, from the first transposed convolution's output
/// (`[4·4096, 64]`, before its LayerNorm), to the 256×256 logits of every mask token:
/// `[4, 65536]`.
pub(crate) fn upscaled_masks(
    d: &MaskDecoder,
    mut up0: Array2<f32>,
    hyper: ArrayView2<f32>,
) -> Array2<f32> {
    // In blocks of rows, so each block's features stay in cache from the LayerNorm to
    // the mask logits: [16·4096, 4], each sub-pixel's logit for each mask token.
    const BLOCK: usize = 1024;
    let rows = up0.nrows();
    let mut src = vec![0f32; 4 * rows * MASK_TOKENS];
    let hyper = hyper.as_standard_layout();
    let hyper = hyper.as_slice().expect("standard");
    let (gamma, beta) = (
        d.up1.gamma.as_slice().expect("contiguous"),
        d.up1.beta.as_slice().expect("contiguous"),
    );
    for start in (0..rows).step_by(BLOCK) {
        let end = (start + BLOCK).min(rows);
        let mut block = up0.slice_mut(ndarray::s![start..end, ..]);
        let x = block
            .as_slice_mut()
            .expect("row blocks of a standard array");
        super::kernels::layer_norm(x, gamma, beta, d.up1.eps);
        gelu_inplace(x, d.gelu_tanh);
        let mut up = conv_t(block.view(), &d.up3);
        debug_assert_eq!(up.ncols(), UP2);
        super::kernels::gelu_then_hyper(
            up.as_slice_mut().expect("standard layout"),
            hyper,
            d.gelu_tanh,
            &mut src[4 * start * MASK_TOKENS..4 * end * MASK_TOKENS],
        );
    }
    let mut masks = vec![0f32; MASK_TOKENS * LOW_RES * LOW_RES];
    let plane = LOW_RES * LOW_RES;
    // Row (pixel·4 + s1)·4 + s2 is sub-pixel (4i + 2·dy1 + dy2, 4j + 2·dx1 + dx2).
    for (p, block) in src.chunks_exact(16 * MASK_TOKENS).enumerate() {
        let (i, j) = (p / GRID, p % GRID);
        for s1 in 0..4 {
            for s2 in 0..4 {
                let y = 4 * i + 2 * (s1 / 2) + s2 / 2;
                let x = 4 * j + 2 * (s1 % 2) + s2 % 2;
                let logits = &block[(s1 * 4 + s2) * MASK_TOKENS..(s1 * 4 + s2 + 1) * MASK_TOKENS];
                for (m, v) in logits.iter().enumerate() {
                    masks[m * plane + y * LOW_RES + x] = *v;
                }
            }
        }
    }
    Array2::from_shape_vec((MASK_TOKENS, plane), masks).expect("sized")
}

/// The hypernetwork weights `[4, 32]` of the mask tokens `hs[1..5]`.
pub(crate) fn hyper_weights(d: &MaskDecoder, hs: ArrayView2<f32>) -> Array2<f32> {
    let mut out = Array2::zeros((MASK_TOKENS, UP2));
    for m in 0..MASK_TOKENS {
        out.row_mut(m).assign(&mlp3(&d.hyper[m], hs.row(1 + m)));
    }
    out
}

/// The predicted IoU of every mask token, from the IoU token `hs[0]`.
pub(crate) fn iou_predictions(d: &MaskDecoder, hs: ArrayView2<f32>) -> Array1<f32> {
    mlp3(&d.iou_head, hs.row(0))
}

/// Low-resolution logits `[4, 65536]` and predicted IoUs of the transformer's outputs
/// (`hs`: prompt tokens, `src`: image tokens `[4096, 256]`).
#[cfg_attr(not(test), allow(dead_code))] // the reference path, for the tests
pub(crate) fn masks_and_iou(
    d: &MaskDecoder,
    hs: ArrayView2<f32>,
    src: ArrayView2<f32>,
) -> (Array2<f32>, Array1<f32>) {
    debug_assert_eq!(src.dim(), (PIXELS, DIM));
    let up0 = conv_t(src, &d.up0);
    let hyper = hyper_weights(d, hs);
    (upscaled_masks(d, up0, hyper.view()), iou_predictions(d, hs))
}
