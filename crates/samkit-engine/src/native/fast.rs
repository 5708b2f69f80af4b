//! The decoder for prompts without a mask input, with the prompt-independent work done
//! once per image.
//!
//! Without a mask input every prompt's image tokens start equal (embedding + "no mask"
//! vector), so layer 0's image-side projections are per image. After layer 0 the image
//! tokens are that start plus the image-to-token attention output, then LayerNorm: per
//! pixel, `x_p = S_p + Σ_j a_pj u_j + b`, where the `a_pj` (heads × prompt tokens, a few
//! dozen) are the attention weights and the `u_j` per-prompt vectors. A linear map of the
//! normalised tokens is then `r_p · (W S_p + Σ_j a_pj W u_j + W b) + const`: a per-image
//! projection rescaled per pixel plus a low-rank correction. That gives layer 1's
//! image-side projections and the first transposed convolution of the upscaling (no
//! spatial overlap: a per-pixel linear map) for a fraction of their direct cost; the
//! LayerNorm statistics come from the same expansion. The final token-to-image
//! attention is reassociated (`(x W) q = x (W q)`) instead. The results equal the
//! reference path's up to rounding (tested).

use std::sync::Arc;

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};

use super::ops::{attention, layer_norm_rows, linear, relu};
use super::prompt_encoder::PIXELS;
use super::weights::{Block, LayerNorm, Weights, DIM, HEADS};
use super::RawOutputs;
use super::{kernels, mask_head};

use kernels::HEAD;

/// The prompt-independent part of decoding one image (no mask input).
pub(crate) struct ImageCache {
    /// `‖s0c_p‖²` and `s0c_p · centre(b_out0)` of the image tokens plus the "no mask"
    /// embedding, rows centred (`s0c`).
    s0_sq: Array1<f32>,
    s0_b: Array1<f32>,
    /// `s0c · c6ᵀ` and `r' · r6ᵀ` `[4096, 17]`: the image side of the cross terms when a
    /// mask input adds `z̃ · w̃` to the tokens (see [`ImageCache::with_mask`]).
    s0_c6: Array2<f32>,
    rp_r6: Array2<f32>,
    /// Layer 0: token-to-image keys and values, image-to-token queries `[4096, 128]`.
    k0: Array2<f32>,
    v0: Array2<f32>,
    q0: Array2<f32>,
    /// `s0c · W_out0ᵀ` `[4096, 128]`: the image side of `⟨s0c_p, u_j⟩`.
    g0: Array2<f32>,
    /// `r = γ4 ⊙ s0c` (layer 0's norm4 scale), `[4096, 256]`: kept only for the tests,
    /// which form the image tokens explicitly.
    #[cfg(test)]
    r: Array2<f32>,
    /// Layer 1 projections of `r`, and of `β4 + pe` with the bias.
    rk1: Array2<f32>,
    pk1: Arc<Array2<f32>>,
    rv1: Array2<f32>,
    rq1: Array2<f32>,
    pq1: Arc<Array2<f32>>,
    /// Per pixel, of `r' = centre(r + γ4 ⊙ centre(b_out0))` (the image part of the
    /// centred tokens after layer 1, up to the per-pixel scale): `‖r'‖²`, `r' · centre(β4 + b_out1)`, `r' · γ4`.
    rp_sq: Array1<f32>,
    rp_c: Array1<f32>,
    rp_g4: Array1<f32>,
    /// `(r' ⊙ γ4) · W_out0ᵀ` and `r' · W_out1ᵀ` `[4096, 128]`: the image side of
    /// `⟨r', u_j⟩` for layer 0's and layer 1's image-to-token vectors.
    e0: Array2<f32>,
    e1: Array2<f32>,
    /// Final attention: `(γ1 ⊙ r') · W_k`, `(β1 + pe) · W_k + b_k`, `(γ1 ⊙ r') · W_v`.
    rkf: Array2<f32>,
    pkf: Arc<Array2<f32>>,
    rvf: Array2<f32>,
    /// The first transposed convolution of `γ1 ⊙ r'`, `[4096, 256]`.
    c_up: Array2<f32>,
}

/// Projections of the positional encodings alone, the same for every image: layer 1's
/// `(β4 + pe) · W + b` for its token-to-image keys and image-to-token queries, and the
/// final attention's `(β1 + pe) · W_k + b_k`, `[4096, 128]` each.
pub(crate) struct PeProjections {
    pk1: Arc<Array2<f32>>,
    pq1: Arc<Array2<f32>>,
    pkf: Arc<Array2<f32>>,
}

impl PeProjections {
    pub fn new(w: &Weights, pe: &Array2<f32>) -> Self {
        let d = &w.decoder;
        let (l0, l1) = (&d.layers[0], &d.layers[1]);
        let mut pe_beta = pe.clone();
        pe_beta += &l0.norm4.beta;
        let mut pe_beta1 = pe.clone();
        pe_beta1 += &l1.norm4.beta;
        Self {
            pk1: Arc::new(linear(pe_beta.view(), &l1.token_to_image.k)),
            pq1: Arc::new(linear(pe_beta.view(), &l1.image_to_token.q)),
            pkf: Arc::new(linear(pe_beta1.view(), &d.final_attn.k)),
        }
    }
}

fn centre_rows(x: &mut Array2<f32>) -> Array1<f32> {
    let mean = x.mean_axis(Axis(1)).expect("non-empty rows");
    for (mut row, m) in x.rows_mut().into_iter().zip(&mean) {
        row -= *m;
    }
    mean
}

fn centre(v: ArrayView1<f32>) -> Array1<f32> {
    let m = v.mean().unwrap_or(0.0);
    v.mapv(|x| x - m)
}

/// `(γ ⊙ x) · W` row-wise: the linear part of a LayerNorm followed by a projection.
fn scaled_dot(x: ArrayView2<f32>, gamma: &Array1<f32>, w: &Array2<f32>) -> Array2<f32> {
    let wg = w * &gamma.view().insert_axis(Axis(1));
    x.dot(&wg)
}

impl ImageCache {
    pub fn new(w: &Weights, image: &Array2<f32>, pe: &Array2<f32>, shared: &PeProjections) -> Self {
        let d = &w.decoder;
        let l0 = &d.layers[0];
        let l1 = &d.layers[1];
        let mut s0 = image.clone();
        s0 += &w.prompt.no_mask;
        let s0_pe = &s0 + pe;
        let k0 = linear(s0_pe.view(), &l0.token_to_image.k);
        let v0 = linear(s0.view(), &l0.token_to_image.v);
        let q0 = linear(s0_pe.view(), &l0.image_to_token.q);
        let mut s0c = s0;
        centre_rows(&mut s0c);
        let s0_sq = s0c.map_axis(Axis(1), |r| r.dot(&r));
        let s0_b = s0c.dot(&centre(l0.image_to_token.out.b.view()));
        let (_, c6, r6) = mask_basis(w);
        let s0_c6 = s0c.dot(&c6.t());
        let g0 = s0c.dot(&l0.image_to_token.out.w.t());
        let r = &s0c * &l0.norm4.gamma;
        let rk1 = r.dot(&l1.token_to_image.k.w);
        let rv1 = r.dot(&l1.token_to_image.v.w);
        let rq1 = r.dot(&l1.image_to_token.q.w);
        let fa = &d.final_attn;
        let g1 = &l1.norm4.gamma;
        let gb0 = centre(l0.image_to_token.out.b.view()) * &l0.norm4.gamma;
        let mut rp = &r + &gb0;
        centre_rows(&mut rp);
        let cc = centre((&l0.norm4.beta + &l1.image_to_token.out.b).view());
        let rp_sq = rp.map_axis(Axis(1), |v| v.dot(&v));
        let rp_r6 = rp.dot(&r6.t());
        let rp_c = rp.dot(&cc);
        let rp_g4 = rp.dot(&l0.norm4.gamma);
        let e0 = (&rp * &l0.norm4.gamma).dot(&l0.image_to_token.out.w.t());
        let e1 = rp.dot(&l1.image_to_token.out.w.t());
        let rkf = scaled_dot(rp.view(), g1, &fa.k.w);
        let rvf = scaled_dot(rp.view(), g1, &fa.v.w);
        let c_up = scaled_dot(rp.view(), g1, &d.up0.w);
        Self {
            s0_sq,
            s0_b,
            s0_c6,
            rp_r6,
            k0,
            v0,
            q0,
            g0,
            #[cfg(test)]
            r,
            rk1,
            pk1: shared.pk1.clone(),
            rv1,
            rq1,
            pq1: shared.pq1.clone(),
            rp_sq,
            rp_c,
            rp_g4,
            e0,
            e1,
            rkf,
            pkf: shared.pkf.clone(),
            rvf,
            c_up,
        }
    }
}

/// The mask input's contribution to the image tokens, `z̃ · w̃` with `z̃ = [z, 1]`:
/// `w̃` is `mask_downscaling`'s last convolution and its bias minus the "no mask"
/// vector, `[17, 256]` (returned first); `c6` is `w̃` with rows centred and `r6 = centre(c6 ⊙ γ4)`, what
/// it adds to `s0c` and to `r'`.
fn mask_basis(w: &Weights) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let pe = &w.prompt;
    let mut wt = Array2::zeros((17, DIM));
    wt.slice_mut(s![..16, ..]).assign(&pe.down6.w);
    wt.row_mut(16).assign(&(&pe.down6.b - &pe.no_mask));
    let mut c6 = wt.clone();
    centre_rows(&mut c6);
    let mut r6 = &c6 * &w.decoder.layers[0].norm4.gamma;
    centre_rows(&mut r6);
    (wt, c6, r6)
}

impl ImageCache {
    /// The cache for a prompt with a mask input: the image tokens are then
    /// `s0 + z̃ · w̃` instead of `s0` (`z` the mask's 16 features per cell, `[4096, 16]`),
    /// a rank-17 change, so every cached projection changes by `z̃` times a small matrix
    /// and every cached square by a cross term and a quadratic form.
    pub fn with_mask(&self, w: &Weights, z: &Array2<f32>) -> Self {
        let d = &w.decoder;
        let (l0, l1, fa) = (&d.layers[0], &d.layers[1], &d.final_attn);
        let (g4, g1) = (&l0.norm4.gamma, &l1.norm4.gamma);
        let (wt, c6, r6) = mask_basis(w);
        let mut zt = Array2::ones((PIXELS, 17));
        zt.slice_mut(s![.., ..16]).assign(z);
        let plus = |base: &Array2<f32>, m: Array2<f32>| {
            let mut out = zt.dot(&m);
            out += base;
            out
        };
        // ‖a + z̃·b‖² = ‖a‖² + 2 z̃·(a bᵀ) + z̃ (b bᵀ) z̃ᵀ, per pixel.
        let square = |base: &Array1<f32>, cross: &Array2<f32>, b: &Array2<f32>| {
            let zg = zt.dot(&b.dot(&b.t()));
            let mut out = base.clone();
            for p in 0..PIXELS {
                let (zp, cp, gp) = (zt.row(p), cross.row(p), zg.row(p));
                out[p] += 2.0 * zp.dot(&cp) + zp.dot(&gp);
            }
            out
        };
        let bo0c = centre(l0.image_to_token.out.b.view());
        let cc = centre((&l0.norm4.beta + &l1.image_to_token.out.b).view());
        let c6g4 = &c6 * g4;
        Self {
            s0_sq: square(&self.s0_sq, &self.s0_c6, &c6),
            s0_b: &self.s0_b + &zt.dot(&c6.dot(&bo0c)),
            // Cross terms of a cache with a mask are never extended again.
            s0_c6: Array2::zeros((0, 17)),
            rp_r6: Array2::zeros((0, 17)),
            k0: plus(&self.k0, wt.dot(&l0.token_to_image.k.w)),
            v0: plus(&self.v0, wt.dot(&l0.token_to_image.v.w)),
            q0: plus(&self.q0, wt.dot(&l0.image_to_token.q.w)),
            g0: plus(&self.g0, c6.dot(&l0.image_to_token.out.w.t())),
            #[cfg(test)]
            r: plus(&self.r, c6g4.clone()),
            rk1: plus(&self.rk1, c6g4.dot(&l1.token_to_image.k.w)),
            pk1: self.pk1.clone(),
            rv1: plus(&self.rv1, c6g4.dot(&l1.token_to_image.v.w)),
            rq1: plus(&self.rq1, c6g4.dot(&l1.image_to_token.q.w)),
            pq1: self.pq1.clone(),
            rp_sq: square(&self.rp_sq, &self.rp_r6, &r6),
            rp_c: &self.rp_c + &zt.dot(&r6.dot(&cc)),
            rp_g4: &self.rp_g4 + &zt.dot(&r6.dot(g4)),
            e0: plus(&self.e0, (&r6 * g4).dot(&l0.image_to_token.out.w.t())),
            e1: plus(&self.e1, r6.dot(&l1.image_to_token.out.w.t())),
            rkf: plus(&self.rkf, scaled_dot(r6.view(), g1, &fa.k.w)),
            pkf: self.pkf.clone(),
            rvf: plus(&self.rvf, scaled_dot(r6.view(), g1, &fa.v.w)),
            c_up: plus(&self.c_up, scaled_dot(r6.view(), g1, &d.up0.w)),
        }
    }
}

/// Token-to-image attention from projected queries `[T, 128]` against projected image
/// keys and values `[4096, 128]`; returns the mixed heads `[T, 128]`.
fn tokens_attend(q: ArrayView2<f32>, k: ArrayView2<f32>, v: ArrayView2<f32>) -> Array2<f32> {
    let t = q.nrows();
    let scale = 1.0 / (HEAD as f32).sqrt();
    let q = q.as_standard_layout();
    let mut scores = vec![0f32; k.nrows() * HEADS * t];
    kernels::head_scores(
        slice(&k),
        q.as_slice().expect("standard"),
        scale,
        &mut scores,
    );
    kernels::softmax_columns(&mut scores, HEADS * t);
    let mut mixed = vec![0f32; t * HEADS * HEAD];
    kernels::head_pool(&scores, slice(&v), t, &mut mixed);
    Array2::from_shape_vec((t, HEADS * HEAD), mixed).expect("sized")
}

fn slice<'a>(a: &'a ArrayView2<f32>) -> &'a [f32] {
    a.as_slice().expect("row-major image-side arrays")
}

/// Image-to-token attention weights: for each pixel and head, the softmax over the
/// prompt tokens of `q_p · k_t`. `[4096, HEADS·T]`, column `h·T + t`.
fn image_attend_weights(q: ArrayView2<f32>, k: ArrayView2<f32>) -> Array2<f32> {
    let t = k.nrows();
    let scale = 1.0 / (HEAD as f32).sqrt();
    let k = k.as_standard_layout();
    let mut a = vec![0f32; q.nrows() * HEADS * t];
    kernels::head_scores(slice(&q), k.as_slice().expect("standard"), scale, &mut a);
    kernels::softmax_chunks(&mut a, t);
    Array2::from_shape_vec((q.nrows(), HEADS * t), a).expect("sized")
}

/// The per-prompt vectors `u_(h,t) = v_t[head h] · W_out[head h rows]`, `[HEADS·T, 256]`.
fn head_vectors(v: ArrayView2<f32>, out: &Array2<f32>) -> Array2<f32> {
    let t = v.nrows();
    let mut u = Array2::zeros((HEADS * t, out.ncols()));
    for h in 0..HEADS {
        let rows = s![h * HEAD..(h + 1) * HEAD, ..];
        let cols = s![.., h * HEAD..(h + 1) * HEAD];
        u.slice_mut(s![h * t..(h + 1) * t, ..])
            .assign(&v.slice(cols).dot(&out.slice(rows)));
    }
    u
}

/// The token side of a block up to (and including) `norm3`.
fn token_side(
    b: &Block,
    first: bool,
    queries: &mut Array2<f32>,
    query_pe: ArrayView2<f32>,
    image_k: ArrayView2<f32>,
    image_v: ArrayView2<f32>,
) {
    if first {
        *queries = attention(&b.self_attn, queries.view(), queries.view(), queries.view());
    } else {
        let q = &*queries + &query_pe;
        let out = attention(&b.self_attn, q.view(), q.view(), queries.view());
        *queries += &out;
    }
    layer_norm_rows(queries, &b.norm1);
    let q = linear((&*queries + &query_pe).view(), &b.token_to_image.q);
    let mixed = tokens_attend(q.view(), image_k, image_v);
    *queries += &linear(mixed.view(), &b.token_to_image.out);
    layer_norm_rows(queries, &b.norm2);
    let mut hidden = linear(queries.view(), &b.mlp1);
    relu(&mut hidden);
    *queries += &linear(hidden.view(), &b.mlp2);
    layer_norm_rows(queries, &b.norm3);
}

/// `1 / sqrt(var + eps)` of each pixel's tokens from their variance sum `n·var`.
fn inv_std(sum_sq: &Array1<f32>, n: usize, norm: &LayerNorm) -> Array1<f32> {
    sum_sq.mapv(|v| 1.0 / ((v / n as f32).max(0.0) + norm.eps).sqrt())
}

/// Decodes one prompt (tokens `[T, 256]`, no mask input) against a cached image.
pub(crate) fn decode(
    w: &Weights,
    cache: &ImageCache,
    tokens: &Array2<f32>,
    trace: Option<&mut super::transformer::Trace>,
) -> RawOutputs {
    let d = &w.decoder;
    let (l0, l1) = (&d.layers[0], &d.layers[1]);
    let t = tokens.nrows();
    let n = DIM;

    // Layer 0.
    let mut queries = tokens.clone();
    token_side(
        l0,
        true,
        &mut queries,
        tokens.view(),
        cache.k0.view(),
        cache.v0.view(),
    );
    let qp = &queries + tokens;
    let kt = linear(qp.view(), &l0.image_to_token.k);
    let vt = linear(queries.view(), &l0.image_to_token.v);
    let a0 = image_attend_weights(cache.q0.view(), kt.view());
    let u0 = head_vectors(vt.view(), &l0.image_to_token.out.w);
    let mut u0c = u0.clone();
    centre_rows(&mut u0c);
    let bo0c = centre(l0.image_to_token.out.b.view());
    // LayerNorm statistics of x1 = s0 + a0·u0 + b0, per pixel, from the expansion.
    let mut cross = Array2::zeros((PIXELS, HEADS * t));
    kernels::head_scores(
        slice(&cache.g0.view()),
        vt.as_slice().expect("standard"),
        1.0,
        cross.as_slice_mut().expect("standard"),
    );
    let gram = u0c.dot(&u0c.t());
    let ub = u0c.dot(&bo0c);
    let sb = &cache.s0_b;
    let a0_gram = a0.dot(&gram);
    let mut var1 = cache.s0_sq.clone();
    let bb = bo0c.dot(&bo0c);
    let cols = HEADS * t;
    let (a0s, crs, ags) = (
        a0.as_slice().expect("standard"),
        cross.as_slice().expect("standard"),
        a0_gram.as_slice().expect("standard"),
    );
    let ub = ub.as_slice().expect("contiguous");
    for p in 0..PIXELS {
        let r = p * cols..(p + 1) * cols;
        let (ap, cp, gp) = (&a0s[r.clone()], &crs[r.clone()], &ags[r]);
        let mut acc = 0.0;
        for j in 0..cols {
            acc += ap[j] * (2.0 * cp[j] + gp[j] + 2.0 * ub[j]);
        }
        var1[p] += acc + 2.0 * sb[p] + bb;
    }
    let r1 = inv_std(&var1, n, &l0.norm4);

    // keys1 = r1 ⊙ (γ4 ⊙ (s0c + a0·u0c + b0c)) + β4 = r1 ⊙ (r + a0·gu0 + gb0) + β4.
    let gu0 = &u0c * &l0.norm4.gamma;
    let gb0 = &bo0c * &l0.norm4.gamma;
    let a0r = &a0 * &r1.view().insert_axis(Axis(1));

    // Layer 1 image-side projections through the expansion.
    let r1s = r1.as_slice().expect("contiguous");
    let project =
        |cached: &Array2<f32>, lin: &super::weights::Linear, bias_part: Option<&Array2<f32>>| {
            let wu = gu0.dot(&lin.w);
            let wb = gb0.dot(&lin.w);
            let mut out = a0r.dot(&wu);
            let mut post = Array1::zeros(lin.w.ncols());
            if bias_part.is_none() {
                post += &l0.norm4.beta.dot(&lin.w);
                post += &lin.b;
            }
            kernels::rescale_add(
                out.as_slice_mut().expect("standard"),
                slice(&cached.view()),
                r1s,
                wb.as_slice().expect("contiguous"),
                post.as_slice().expect("contiguous"),
                bias_part.map(|b| b.as_slice().expect("standard")),
            );
            out
        };
    let k1 = project(&cache.rk1, &l1.token_to_image.k, Some(&cache.pk1));
    let v1 = project(&cache.rv1, &l1.token_to_image.v, None);
    token_side(l1, false, &mut queries, tokens.view(), k1.view(), v1.view());
    drop((k1, v1));
    let q1 = project(&cache.rq1, &l1.image_to_token.q, Some(&cache.pq1));
    let qp = &queries + tokens;
    let kt1 = linear(qp.view(), &l1.image_to_token.k);
    let vt1 = linear(queries.view(), &l1.image_to_token.v);
    let a1 = image_attend_weights(q1.view(), kt1.view());
    drop(q1);
    let u1 = head_vectors(vt1.view(), &l1.image_to_token.out.w);

    // After layer 1 the image tokens are x2 = r1·(r + gb0) + coeffs·vectors + c,
    // centred x2c = r1·r' + coeffs·cv + cc; they are never formed (see the module doc).
    let mut coeffs = Array2::zeros((PIXELS, 2 * cols));
    coeffs.slice_mut(s![.., ..cols]).assign(&a0r);
    coeffs.slice_mut(s![.., cols..]).assign(&a1);
    let vectors = ndarray::concatenate(Axis(0), &[gu0.view(), u1.view()]).expect("same width");
    let mut cv = vectors.clone();
    centre_rows(&mut cv);
    let c = &l0.norm4.beta + &l1.image_to_token.out.b;
    let cc = centre(c.view());
    let k2 = coeffs.ncols();

    // ‖x2c‖² per pixel. ⟨r', cv_j⟩: layer 0's vectors are γ4 ⊙ (u0_j − mean u0_j),
    // layer 1's are u1_j (r' is centred, so only the vectors' own centring matters).
    let mut cross0 = vec![0f32; PIXELS * cols];
    kernels::head_scores(
        slice(&cache.e0.view()),
        vt.as_slice().expect("standard"),
        1.0,
        &mut cross0,
    );
    let mut cross1 = vec![0f32; PIXELS * cols];
    kernels::head_scores(
        slice(&cache.e1.view()),
        vt1.as_slice().expect("standard"),
        1.0,
        &mut cross1,
    );
    let u0_mean = u0.mean_axis(Axis(1)).expect("rows");
    let g1 = &l1.norm4.gamma;
    let fa = &d.final_attn;
    let scale = 1.0 / (HEAD as f32).sqrt();
    let qf = linear((&queries + tokens).view(), &fa.q);
    let qs = qf.as_slice().expect("standard");
    let cc_row = cc.view().insert_axis(Axis(0));
    let cvk = scaled_dot(cv.view(), g1, &fa.k.w);
    let mut dk = vec![0f32; k2 * cols];
    kernels::head_scores(cvk.as_slice().expect("standard"), qs, scale, &mut dk);
    let wc = &d.up0.w;
    let m = scaled_dot(cv.view(), g1, wc);
    // Everything the coefficients multiply, in one product (one wide GEMM instead of
    // three narrow ones): the Gram matrix for ‖x2c‖², the final attention's low-rank
    // scores, the first upscaling convolution's low-rank part.
    let gram2 = cv.dot(&cv.t());
    let width = k2 + cols + m.ncols();
    let mut rhs = Array2::zeros((k2, width));
    rhs.slice_mut(s![.., ..k2]).assign(&gram2);
    rhs.slice_mut(s![.., k2..k2 + cols])
        .assign(&ArrayView2::from_shape((k2, cols), &dk).expect("sized"));
    rhs.slice_mut(s![.., k2 + cols..]).assign(&m);
    let prod = coeffs.dot(&rhs);
    let ps = prod.as_slice().expect("standard");
    let cv_cc = cv.dot(&cc);
    let cc_sq = cc.dot(&cc);
    let cs = coeffs.as_slice().expect("standard");
    let cv_cc = cv_cc.as_slice().expect("contiguous");
    let u0_mean = u0_mean.as_slice().expect("contiguous");
    let mut var2 = Array1::zeros(PIXELS);
    for p in 0..PIXELS {
        let cp = &cs[p * k2..(p + 1) * k2];
        let gp = &ps[p * width..p * width + k2];
        let (c0, c1) = (
            &cross0[p * cols..(p + 1) * cols],
            &cross1[p * cols..(p + 1) * cols],
        );
        let rg = cache.rp_g4[p];
        let mut cross = 0.0;
        let mut quad = 0.0;
        for j in 0..cols {
            cross += cp[j] * (c0[j] - u0_mean[j] * rg);
            cross += cp[cols + j] * c1[j];
        }
        for j in 0..k2 {
            quad += cp[j] * (gp[j] + 2.0 * cv_cc[j]);
        }
        let ri = r1[p];
        var2[p] = ri * ri * cache.rp_sq[p] + 2.0 * ri * (cross + cache.rp_c[p]) + quad + cc_sq;
    }
    let r2 = inv_std(&var2, n, &l1.norm4);

    // Final token-to-image attention on the expansion: per-image projections of r',
    // a low-rank correction, the per-pixel scales r1 and r2.
    let kc = scaled_dot(cc_row, g1, &fa.k.w);
    let mut s_r = vec![0f32; PIXELS * cols];
    kernels::head_scores(slice(&cache.rkf.view()), qs, scale, &mut s_r);
    let mut s_pe = vec![0f32; PIXELS * cols];
    kernels::head_scores(slice(&cache.pkf.view()), qs, scale, &mut s_pe);
    let mut kcq = vec![0f32; cols];
    kernels::head_scores(kc.as_slice().expect("standard"), qs, scale, &mut kcq);
    let mut scores = Array2::zeros((PIXELS, cols));
    {
        let ss = scores.as_slice_mut().expect("standard");
        for p in 0..PIXELS {
            let (r1p, r2p) = (r1[p], r2[p]);
            let row = &mut ss[p * cols..(p + 1) * cols];
            let low_rank = &ps[p * width + k2..p * width + k2 + cols];
            let (sr, sp) = (
                &s_r[p * cols..(p + 1) * cols],
                &s_pe[p * cols..(p + 1) * cols],
            );
            for j in 0..cols {
                row[j] = r2p * (r1p * sr[j] + low_rank[j] + kcq[j]) + sp[j];
            }
        }
    }
    kernels::softmax_columns(scores.as_slice_mut().expect("standard"), cols);
    // Values: Σ_p a_p (r2 (r1 rvf_p + coeffs_p·cvv + vc)) + β1·W_v + b_v.
    let ar = &scores * &r2.view().insert_axis(Axis(1));
    let arr = &ar * &r1.view().insert_axis(Axis(1));
    let mut pooled = vec![0f32; t * HEADS * HEAD];
    kernels::head_pool(
        arr.as_slice().expect("standard"),
        slice(&cache.rvf.view()),
        t,
        &mut pooled,
    );
    let mut mixed = Array2::from_shape_vec((t, HEADS * HEAD), pooled).expect("sized");
    let wmat = ar.t().dot(&coeffs);
    let ar_sum = ar.sum_axis(Axis(0));
    let cvv = scaled_dot(cv.view(), g1, &fa.v.w);
    let vc = scaled_dot(cc_row, g1, &fa.v.w).row(0).to_owned();
    let mut v_const = l1.norm4.beta.dot(&fa.v.w);
    v_const += &fa.v.b;
    for h in 0..HEADS {
        let hs = h * HEAD..(h + 1) * HEAD;
        for tk in 0..t {
            let j = h * t + tk;
            let mut out = wmat.row(j).dot(&cvv.slice(s![.., hs.clone()]));
            out.scaled_add(ar_sum[j], &vc.slice(s![hs.clone()]));
            out += &v_const.slice(s![hs.clone()]);
            let mut dst = mixed.slice_mut(s![tk, hs.clone()]);
            dst += &out;
        }
    }
    queries += &linear(mixed.view(), &fa.out);
    layer_norm_rows(&mut queries, &d.norm_final);
    if let Some(tr) = trace {
        // The image tokens after layer 1, formed only for the tests.
        #[cfg(test)]
        {
            let mut x2 = cache.r.clone();
            x2 += &(centre(l0.image_to_token.out.b.view()) * &l0.norm4.gamma);
            x2 *= &r1.view().insert_axis(Axis(1));
            x2 += &coeffs.dot(&vectors);
            x2 += &c;
            layer_norm_rows(&mut x2, &l1.norm4);
            tr.keys.push(x2);
        }
        tr.hs = queries.clone();
    }

    // First transposed convolution of keys2 = r2 ⊙ γ1 ⊙ x2c + β1 (no spatial overlap:
    // a per-pixel linear map) through the expansion.
    let l_const = scaled_dot(cc_row, g1, wc).row(0).to_owned();
    let mut bias = l1.norm4.beta.dot(wc);
    for (i, v) in bias.iter_mut().enumerate() {
        *v += d.up0.b[i % d.up0.out];
    }
    // up = r2 ⊙ (r1 ⊙ c_up + coeffs·m + l) + bias, in one pass over the product.
    let mut up = Array2::zeros((PIXELS, m.ncols()));
    let r2s = r2.as_slice().expect("contiguous");
    let r12: Vec<f32> = r1s.iter().zip(r2s).map(|(a, b)| a * b).collect();
    kernels::rescale_add2(
        up.as_slice_mut().expect("standard"),
        (ps, width, k2 + cols),
        slice(&cache.c_up.view()),
        &r12,
        r2s,
        l_const.as_slice().expect("contiguous"),
        bias.as_slice().expect("contiguous"),
    );
    let up0 = up
        .into_shape_with_order((4 * PIXELS, d.up0.out))
        .expect("contiguous");

    let hyper = mask_head::hyper_weights(d, queries.view());
    let masks = mask_head::upscaled_masks(d, up0, hyper.view());
    let iou = mask_head::iou_predictions(d, queries.view());
    RawOutputs { masks, iou }
}
