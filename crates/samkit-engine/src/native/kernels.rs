//! The decoder's hot loops that are not matrix products, on plain slices, compiled for
//! AVX-512 and AVX2+FMA as well as the baseline and chosen at run time
//! (`multiversion`): softmaxes, the per-head attention dots, LayerNorm and GELU.

use multiversion::multiversion;

use super::ops::gelu;

/// Width of one attention head in the cross attentions.
pub(crate) const HEAD: usize = 16;

/// GELU in place.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn gelu_slice(x: &mut [f32]) {
    for v in x {
        *v = gelu(*v);
    }
}

/// LayerNorm of each `width`-long row of `x` in place (biased variance).
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let width = gamma.len();
    let n = width as f32;
    for row in x.chunks_exact_mut(width) {
        let mean = row.iter().sum::<f32>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// `e^x` by Cephes' `expf` (range reduction by ln 2 in two parts, a degree-5 polynomial,
/// the exponent set directly): within 2 ulp of libm's, and branch-free, so the softmax
/// loops vectorise instead of calling libm once per value.
// The coefficients are written as published.
#[allow(clippy::excessive_precision)]
#[inline]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * 0.693_359_375 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_15e-4_f32;
    p = p * r + 1.398_199_950_7e-3;
    p = p * r + 8.333_451_907_3e-3;
    p = p * r + 4.166_579_589_4e-2;
    p = p * r + 1.666_666_545_9e-1;
    p = p * r + 5.000_000_120_1e-1;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Softmax of each `chunk`-long run of `x` in place. Maxima and sums are per run, the
/// exponentials one pass over everything, so they vectorise even for runs of 7.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn softmax_chunks(x: &mut [f32], chunk: usize) {
    for c in x.chunks_exact_mut(chunk) {
        let max = c.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        for v in c.iter_mut() {
            *v -= max;
        }
    }
    for v in x.iter_mut() {
        *v = exp(*v);
    }
    for c in x.chunks_exact_mut(chunk) {
        let inv = 1.0 / c.iter().sum::<f32>();
        for v in c.iter_mut() {
            *v *= inv;
        }
    }
}

/// Softmax down each column of a row-major `[rows, cols]` matrix in place.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn softmax_columns(x: &mut [f32], cols: usize) {
    let mut max = vec![f32::NEG_INFINITY; cols];
    for row in x.chunks_exact(cols) {
        for (m, &v) in max.iter_mut().zip(row) {
            *m = m.max(v);
        }
    }
    let mut sum = vec![0f32; cols];
    for row in x.chunks_exact_mut(cols) {
        for ((v, m), s) in row.iter_mut().zip(&max).zip(sum.iter_mut()) {
            *v = exp(*v - m);
            *s += *v;
        }
    }
    let inv: Vec<f32> = sum.iter().map(|s| 1.0 / s).collect();
    for row in x.chunks_exact_mut(cols) {
        for (v, i) in row.iter_mut().zip(&inv) {
            *v *= i;
        }
    }
}

/// Per-head scaled dot products of image rows with token rows: for `image` `[P, 128]`
/// and `tokens` `[T, 128]`, `out[p, h·T + t] = scale · image[p, head h] · tokens[t, head h]`.
pub(crate) fn head_scores(image: &[f32], tokens: &[f32], scale: f32, out: &mut [f32]) {
    let width = 8 * HEAD;
    let t = tokens.len() / width;
    // Tokens per head transposed to [16, T padded to 8] so the inner loop runs over
    // tokens, eight lanes at a time, instead of ending every 16-long dot in a reduction.
    let lanes = t.div_ceil(8) * 8;
    let mut kt = vec![0f32; 8 * HEAD * lanes];
    for k in 0..t {
        for h in 0..8 {
            for i in 0..HEAD {
                kt[(h * HEAD + i) * lanes + k] = tokens[k * width + h * HEAD + i] * scale;
            }
        }
    }
    head_scores_transposed(image, &kt, t, lanes, out);
}

#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn head_scores_transposed(image: &[f32], kt: &[f32], t: usize, lanes: usize, out: &mut [f32]) {
    let width = 8 * HEAD;
    for (row, o) in image.chunks_exact(width).zip(out.chunks_exact_mut(8 * t)) {
        for block in 0..lanes / 8 {
            // The eight heads' accumulators are independent, so the multiply-adds of one
            // head do not wait on each other's latency; eight tokens fill one register.
            let mut acc = [[0f32; 8]; 8];
            for i in 0..HEAD {
                for (h, a) in acc.iter_mut().enumerate() {
                    let q = row[h * HEAD + i];
                    let at = (h * HEAD + i) * lanes + block * 8;
                    let k: &[f32; 8] = kt[at..at + 8].try_into().expect("8");
                    for l in 0..8 {
                        a[l] += q * k[l];
                    }
                }
            }
            let n = (t - block * 8).min(8);
            for (h, a) in acc.iter().enumerate() {
                o[h * t + block * 8..h * t + block * 8 + n].copy_from_slice(&a[..n]);
            }
        }
    }
}

/// `x · w` for a few rows `x` `[M, K]` and `w` `[K, N]` (row-major), streaming each row
/// of `w` once for all of `x`'s rows: for the prompt tokens (M ≈ 7), where a general
/// GEMM would spend its time packing `w`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn few_rows_matmul(x: &[f32], w: &[f32], k: usize, out: &mut [f32]) {
    let n = w.len() / k;
    let m = x.len() / k;
    out.fill(0.0);
    for kk in 0..k {
        let wr = &w[kk * n..(kk + 1) * n];
        for r in 0..m {
            let xv = x[r * k + kk];
            if xv == 0.0 {
                continue;
            }
            let o = &mut out[r * n..(r + 1) * n];
            for (ov, wv) in o.iter_mut().zip(wr) {
                *ov += xv * wv;
            }
        }
    }
}

/// `out[p, j] += s[p] · (a[p, j] + pre[j]) + post[j] + post_m[p, j]` for row-major
/// `[P, N]` arrays: a cached projection rescaled per pixel onto a low-rank product.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn rescale_add(
    out: &mut [f32],
    a: &[f32],
    s: &[f32],
    pre: &[f32],
    post: &[f32],
    post_m: Option<&[f32]>,
) {
    let n = pre.len();
    for (p, (o, ar)) in out.chunks_exact_mut(n).zip(a.chunks_exact(n)).enumerate() {
        let sp = s[p];
        for j in 0..n {
            o[j] += sp * (ar[j] + pre[j]) + post[j];
        }
        if let Some(m) = post_m {
            for (ov, mv) in o.iter_mut().zip(&m[p * n..(p + 1) * n]) {
                *ov += mv;
            }
        }
    }
}

/// `out[p, j] = s2[p] · (src[p, offset + j] + add[j]) + s12[p] · a[p, j] + post[j]`,
/// `src` row-major with rows of `stride`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn rescale_add2(
    out: &mut [f32],
    (src, stride, offset): (&[f32], usize, usize),
    a: &[f32],
    s12: &[f32],
    s2: &[f32],
    add: &[f32],
    post: &[f32],
) {
    let n = add.len();
    for (p, (o, ar)) in out.chunks_exact_mut(n).zip(a.chunks_exact(n)).enumerate() {
        let (x, y) = (s2[p], s12[p]);
        let sr = &src[p * stride + offset..p * stride + offset + n];
        for j in 0..n {
            o[j] = x * (sr[j] + add[j]) + y * ar[j] + post[j];
        }
    }
}

/// GELU (exact, or tanh-approximated) of the upscaled features `[rows, 32]` followed by each mask token's hypernetwork
/// weights `hyper` `[4, 32]`: `[rows, 4]` logits.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn gelu_then_hyper(up: &mut [f32], hyper: &[f32], tanh: bool, out: &mut [f32]) {
    let c = hyper.len() / 4;
    if tanh {
        up.iter_mut().for_each(|v| *v = super::ops::gelu_tanh(*v));
    } else {
        for v in up.iter_mut() {
            *v = gelu(*v);
        }
    }
    assert_eq!(c, 32, "SAM's upscaled features have 32 channels");
    for (row, o) in up.chunks_exact(32).zip(out.chunks_exact_mut(4)) {
        for m in 0..4 {
            let h = &hyper[m * 32..(m + 1) * 32];
            // Sixteen lanes of partial sums and a tree to add them: a dot product the
            // compiler vectorises (a plain running sum must stay sequential).
            let mut acc = [0f32; 16];
            for l in 0..16 {
                acc[l] = row[l] * h[l] + row[16 + l] * h[16 + l];
            }
            let mut width = 8;
            while width > 0 {
                for l in 0..width {
                    acc[l] += acc[l + width];
                }
                width /= 2;
            }
            o[m] = acc[0];
        }
    }
}

/// Attention pooling per head: for weights `a` `[P, 8·T]` (column `h·T + t`) and image
/// values `v` `[P, 128]`, `out[t, head h] = Σ_p a[p, h·T + t] · v[p, head h]`, `[T, 128]`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub(crate) fn head_pool(a: &[f32], v: &[f32], t: usize, out: &mut [f32]) {
    let width = 8 * HEAD;
    out.fill(0.0);
    for (w, row) in a.chunks_exact(8 * t).zip(v.chunks_exact(width)) {
        for h in 0..8 {
            let val = &row[h * HEAD..(h + 1) * HEAD];
            for k in 0..t {
                let weight = w[h * t + k];
                let o = &mut out[k * width + h * HEAD..k * width + (h + 1) * HEAD];
                for i in 0..HEAD {
                    o[i] += weight * val[i];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut worst = 0f32;
        for i in -86_000..=87_000 {
            let x = i as f32 / 1000.0 + 0.000_37;
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 2.5e-7, "max relative error {worst}");
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
    }

    #[test]
    fn softmaxes_sum_to_one_and_keep_order() {
        let mut x = vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
        softmax_chunks(&mut x, 3);
        assert!((x[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6 && x[2] > x[1]);
        assert!((x[3] - 1.0 / 3.0).abs() < 1e-6);
        let mut y = vec![1.0, 0.0, 2.0, 0.0, 3.0, 0.0];
        softmax_columns(&mut y, 2);
        assert!((y[0] + y[2] + y[4] - 1.0).abs() < 1e-6 && (y[1] - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn head_scores_and_pooling_match_a_direct_computation() {
        let (p, t) = (3, 2);
        let image: Vec<f32> = (0..p * 128).map(|i| (i as f32 * 0.37).sin()).collect();
        let tokens: Vec<f32> = (0..t * 128).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut scores = vec![0.0; p * 8 * t];
        head_scores(&image, &tokens, 0.25, &mut scores);
        let mut pooled = vec![0.0; t * 128];
        head_pool(&scores, &image, t, &mut pooled);
        for pi in 0..p {
            for h in 0..8 {
                for k in 0..t {
                    let want: f32 = (0..16)
                        .map(|i| image[pi * 128 + h * 16 + i] * tokens[k * 128 + h * 16 + i])
                        .sum::<f32>()
                        * 0.25;
                    assert!((scores[pi * 16 + h * t + k] - want).abs() < 1e-5);
                }
            }
        }
        let want: f32 = (0..p)
            .map(|pi| scores[pi * 16 + 3 * t + 1] * image[pi * 128 + 3 * 16 + 5])
            .sum();
        assert!((pooled[128 + 3 * 16 + 5] - want).abs() < 1e-5);
    }
}
