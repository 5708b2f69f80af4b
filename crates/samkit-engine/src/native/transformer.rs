//! SAM's two-way transformer (`TwoWayTransformer`, `TwoWayAttentionBlock`), written
//! plainly for one prompt: the reference the fast path is tested against, and the path
//! for prompts with a mask input.

use ndarray::{Array2, ArrayView2};

use super::ops::{attention, layer_norm_rows, linear, relu};
use super::weights::{Block, MaskDecoder};

/// Intermediate values, for the stage-by-stage tests.
#[derive(Default)]
pub(crate) struct Trace {
    /// Image tokens after each block's `norm4`.
    pub keys: Vec<Array2<f32>>,
    /// Prompt tokens after each block's `norm3`.
    #[cfg_attr(not(test), allow(dead_code))] // the reference path, for the tests
    pub queries: Vec<Array2<f32>>,
    /// Prompt tokens after the final attention's norm.
    pub hs: Array2<f32>,
}

fn block(
    b: &Block,
    first: bool,
    queries: &mut Array2<f32>,
    keys: &mut Array2<f32>,
    query_pe: ArrayView2<f32>,
    key_pe: ArrayView2<f32>,
) {
    if first {
        // skip_first_layer_pe: the first self-attention replaces the tokens.
        *queries = attention(&b.self_attn, queries.view(), queries.view(), queries.view());
    } else {
        let q = &*queries + &query_pe;
        let out = attention(&b.self_attn, q.view(), q.view(), queries.view());
        *queries += &out;
    }
    layer_norm_rows(queries, &b.norm1);

    let q = &*queries + &query_pe;
    let k = &*keys + &key_pe;
    let out = attention(&b.token_to_image, q.view(), k.view(), keys.view());
    *queries += &out;
    layer_norm_rows(queries, &b.norm2);

    let mut hidden = linear(queries.view(), &b.mlp1);
    relu(&mut hidden);
    let out = linear(hidden.view(), &b.mlp2);
    *queries += &out;
    layer_norm_rows(queries, &b.norm3);

    let q = &*queries + &query_pe;
    let out = attention(&b.image_to_token, k.view(), q.view(), queries.view());
    *keys += &out;
    layer_norm_rows(keys, &b.norm4);
}

/// Runs the transformer on image tokens `image` (`[4096, 256]`, embedding + dense
/// prompt) with positional encodings `image_pe` and prompt tokens `tokens`
/// (output tokens then sparse prompt tokens). Returns (queries, keys).
pub(crate) fn two_way(
    d: &MaskDecoder,
    image: Array2<f32>,
    image_pe: ArrayView2<f32>,
    tokens: &Array2<f32>,
    mut trace: Option<&mut Trace>,
) -> (Array2<f32>, Array2<f32>) {
    let mut queries = tokens.clone();
    let mut keys = image;
    for (i, b) in d.layers.iter().enumerate() {
        block(b, i == 0, &mut queries, &mut keys, tokens.view(), image_pe);
        if let Some(t) = trace.as_deref_mut() {
            t.queries.push(queries.clone());
            t.keys.push(keys.clone());
        }
    }
    let q = &queries + tokens;
    let k = &keys + &image_pe;
    let out = attention(&d.final_attn, q.view(), k.view(), keys.view());
    queries += &out;
    layer_norm_rows(&mut queries, &d.norm_final);
    if let Some(t) = trace {
        t.hs = queries.clone();
    }
    (queries, keys)
}
