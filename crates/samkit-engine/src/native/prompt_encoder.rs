//! SAM's prompt encoder as the ONNX export runs it (`SamOnnxModel._embed_points` and
//! `_embed_masks`): random-Fourier positional encodings of the points, the label
//! embeddings, and the dense embedding of the previous mask or the "no mask" vector.

use std::f32::consts::PI;

use ndarray::Array2;

use super::ops::{gelu_inplace, layer_norm_row, linear};
use super::weights::{Conv2x2, PromptEncoder, DIM};
use crate::{LowResLogits, LOW_RES};

/// Side of the image embedding grid.
pub(crate) const GRID: usize = 64;
/// Tokens of the image embedding.
pub(crate) const PIXELS: usize = GRID * GRID;

/// `_pe_encoding`: `[sin(2π·(2c−1)·G), cos(2π·(2c−1)·G)]` of normalised coordinates.
fn pe_encoding(pe: &PromptEncoder, x: f32, y: f32, out: &mut [f32]) {
    let (x, y) = (2.0 * x - 1.0, 2.0 * y - 1.0);
    let half = DIM / 2;
    for j in 0..half {
        let v = 2.0 * PI * (x * pe.gaussian[[0, j]] + y * pe.gaussian[[1, j]]);
        out[j] = v.sin();
        out[half + j] = v.cos();
    }
}

/// The positional encoding of every image-embedding cell, `[4096, 256]`, row
/// `y·64 + x` (`PromptEncoder.get_dense_pe`, cell centres).
pub(crate) fn dense_pe(pe: &PromptEncoder) -> Array2<f32> {
    let mut out = Array2::zeros((PIXELS, DIM));
    for (p, mut row) in out.rows_mut().into_iter().enumerate() {
        let (y, x) = (p / GRID, p % GRID);
        let (fx, fy) = (
            (x as f32 + 0.5) / GRID as f32,
            (y as f32 + 0.5) / GRID as f32,
        );
        pe_encoding(pe, fx, fy, row.as_slice_mut().expect("standard layout"));
    }
    out
}

/// The sparse prompt tokens `[N, 256]` of decoder points in the 1024 frame with labels
/// −1 (padding), 0, 1 (negative, positive click), 2, 3 (box corners).
pub(crate) fn point_tokens(pe: &PromptEncoder, coords: &[f32], labels: &[f32]) -> Array2<f32> {
    let mut out = Array2::zeros((labels.len(), DIM));
    for (i, mut row) in out.rows_mut().into_iter().enumerate() {
        let row = row.as_slice_mut().expect("standard layout");
        let label = labels[i];
        if label == -1.0 {
            row.copy_from_slice(pe.not_a_point.as_slice().expect("contiguous"));
            continue;
        }
        let size = crate::preprocess::INPUT_SIZE as f32;
        let x = (coords[2 * i] + 0.5) / size;
        let y = (coords[2 * i + 1] + 0.5) / size;
        pe_encoding(pe, x, y, row);
        for (k, emb) in pe.point_embeddings.iter().enumerate() {
            if label == k as f32 {
                for (v, e) in row.iter_mut().zip(emb) {
                    *v += e;
                }
            }
        }
    }
    out
}

/// A 2×2 stride-2 convolution of a `[side·side, in]` map (row `y·side + x`) into
/// `[(side/2)², out]`.
fn conv2x2(input: &Array2<f32>, side: usize, conv: &Conv2x2) -> Array2<f32> {
    let cin = input.ncols();
    let half = side / 2;
    let mut patches = Array2::zeros((half * half, 4 * cin));
    for y in 0..half {
        for x in 0..half {
            let mut row = patches.row_mut(y * half + x);
            for dy in 0..2 {
                for dx in 0..2 {
                    let s = dy * 2 + dx;
                    let src = input.row((2 * y + dy) * side + 2 * x + dx);
                    row.slice_mut(ndarray::s![s * cin..(s + 1) * cin])
                        .assign(&src);
                }
            }
        }
    }
    let mut out = patches.dot(&conv.w);
    out += &conv.b;
    out
}

/// The dense prompt embedding `[4096, 256]`: `mask_downscaling` of the previous
/// low-resolution logits, or the "no mask" embedding in every cell.
#[cfg_attr(not(test), allow(dead_code))] // the reference path, for the tests
pub(crate) fn dense_embedding(pe: &PromptEncoder, mask: Option<&LowResLogits>) -> Array2<f32> {
    match mask {
        Some(mask) => linear(mask_features(pe, mask).view(), &pe.down6),
        None => {
            let mut out = Array2::zeros((PIXELS, DIM));
            out += &pe.no_mask;
            out
        }
    }
}

/// `mask_downscaling` up to its last (1×1) convolution: 16 features per embedding cell,
/// `[4096, 16]`; the dense embedding is these times `down6`.
pub(crate) fn mask_features(pe: &PromptEncoder, mask: &LowResLogits) -> Array2<f32> {
    let input =
        Array2::from_shape_vec((LOW_RES * LOW_RES, 1), mask.0.clone()).expect("256×256 logits");
    let mut x = conv2x2(&input, LOW_RES, &pe.down0);
    for row in x.rows_mut() {
        layer_norm_row(row, &pe.down1);
    }
    gelu_inplace(x.as_slice_mut().expect("standard layout"), pe.gelu_tanh);
    let mut x = conv2x2(&x, LOW_RES / 2, &pe.down3);
    for row in x.rows_mut() {
        layer_norm_row(row, &pe.down4);
    }
    gelu_inplace(x.as_slice_mut().expect("standard layout"), pe.gelu_tanh);
    x
}
