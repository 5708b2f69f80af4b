//! The few element-wise and row-wise operations of SAM's decoder, on `ndarray` rows.

use ndarray::{Array2, ArrayView2, ArrayViewMut1};

use super::weights::{LayerNorm, Linear};

/// `x · w + b`.
pub(crate) fn linear(x: ArrayView2<f32>, l: &Linear) -> Array2<f32> {
    let mut y = matmul(x, &l.w);
    y += &l.b;
    y
}

/// `x · w`; a few rows (prompt tokens) without the GEMM's packing of `w`.
pub(crate) fn matmul(x: ArrayView2<f32>, w: &Array2<f32>) -> Array2<f32> {
    if x.nrows() > 32 {
        return x.dot(w);
    }
    let x = x.as_standard_layout();
    let mut out = vec![0f32; x.nrows() * w.ncols()];
    super::kernels::few_rows_matmul(
        x.as_slice().expect("standard"),
        w.as_slice().expect("weights are row-major"),
        w.nrows(),
        &mut out,
    );
    Array2::from_shape_vec((x.nrows(), w.ncols()), out).expect("sized")
}

pub(crate) fn relu(x: &mut Array2<f32>) {
    x.mapv_inplace(|v| v.max(0.0));
}

/// LayerNorm over each row (biased variance, as PyTorch).
pub(crate) fn layer_norm_rows(x: &mut Array2<f32>, n: &LayerNorm) {
    super::kernels::layer_norm(
        x.as_slice_mut().expect("standard layout"),
        n.gamma.as_slice().expect("contiguous"),
        n.beta.as_slice().expect("contiguous"),
        n.eps,
    );
}

pub(crate) fn layer_norm_row(mut row: ArrayViewMut1<f32>, n: &LayerNorm) {
    let len = row.len() as f32;
    let mean = row.sum() / len;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / len;
    let inv = 1.0 / (var + n.eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(&n.gamma).zip(&n.beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// Softmax over each row.
pub(crate) fn softmax_rows(x: &mut Array2<f32>) {
    let cols = x.ncols();
    super::kernels::softmax_chunks(x.as_slice_mut().expect("standard layout"), cols);
}

/// The error function, as Eigen's and XLA's single-precision rational approximation
/// (odd degree-13 numerator over even degree-8 denominator on [−4, 4], where f32
/// `erf` is ±1 outside): branch-free, so loops over it vectorise, unlike libm's.
// The coefficients are written as published.
#[allow(clippy::excessive_precision)]
#[inline]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_258_013_06e-10_f32;
    p = p * x2 + 2.770_681_424_959_02e-8;
    p = p * x2 + -2.101_024_020_825_08e-6;
    p = p * x2 + -5.692_506_394_623_46e-5;
    p = p * x2 + -7.349_906_303_268_55e-4;
    p = p * x2 + -2.954_599_808_540_25e-3;
    p = p * x2 + -1.609_603_332_624_15e-2;
    p *= x;
    let mut q = -1.456_607_184_649_96e-5_f32;
    q = q * x2 + -2.133_740_552_789_05e-4;
    q = q * x2 + -1.682_826_974_382_03e-3;
    q = q * x2 + -7.373_329_167_204_68e-3;
    q = q * x2 + -1.426_473_905_141_89e-2;
    p / q
}

/// GELU with the exact (erf) form, as `nn.GELU()`.
#[inline]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// GELU with the tanh approximation, as `nn.GELU(approximate="tanh")`.
pub(crate) fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2/π)
    0.5 * x * (1.0 + (C * (x + 0.044_715 * x * x * x)).tanh())
}

/// GELU in place: exact, or with the tanh approximation when the export used it.
pub(crate) fn gelu_inplace(x: &mut [f32], tanh: bool) {
    if tanh {
        x.iter_mut().for_each(|v| *v = gelu_tanh(*v));
    } else {
        super::kernels::gelu_slice(x);
    }
}

/// Multi-head attention (segment-anything's `Attention`): `q`, `k`, `v` are the inputs
/// before their projections.
pub(crate) fn attention(
    a: &super::weights::Attention,
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
) -> Array2<f32> {
    let q = linear(q, &a.q);
    let k = linear(k, &a.k);
    let v = linear(v, &a.v);
    attend(a, q.view(), k.view(), v.view())
}

/// Attention from already projected `q`, `k`, `v`, through the output projection.
pub(crate) fn attend(
    a: &super::weights::Attention,
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
) -> Array2<f32> {
    let internal = a.internal();
    let d = internal / super::weights::HEADS;
    let scale = 1.0 / (d as f32).sqrt();
    let mut mixed = Array2::<f32>::zeros((q.nrows(), internal));
    for h in 0..super::weights::HEADS {
        let cols = ndarray::s![.., h * d..(h + 1) * d];
        let mut scores = q.slice(cols).dot(&k.slice(cols).t());
        scores *= scale;
        softmax_rows(&mut scores);
        mixed.slice_mut(cols).assign(&scores.dot(&v.slice(cols)));
    }
    linear(mixed.view(), &a.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_libm_to_a_few_ulp() {
        let mut worst = 0f32;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let err = (erf(x) - libm::erff(x)).abs();
            worst = worst.max(err);
        }
        assert!(worst < 5e-7, "max |erf − libm::erff| = {worst}");
    }
}
