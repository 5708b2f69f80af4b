//! The decoder's weights as typed layers, taken by canonical (PyTorch state-dict) name
//! from [`DecoderWeights`] with every shape checked.

use ndarray::{Array1, Array2};

use super::onnx_weights::{DecoderWeights, WeightError};

/// Width of every token and image feature in SAM's decoder.
pub(crate) const DIM: usize = 256;
/// Attention heads in every attention layer.
pub(crate) const HEADS: usize = 8;
pub(crate) const MLP_DIM: usize = 2048;
/// Channels after the first and second transposed convolution of the upscaling.
pub(crate) const UP1: usize = 64;
pub(crate) const UP2: usize = 32;

/// `y = x · w + b` with `w` stored `[in, out]` (PyTorch's weight transposed).
pub(crate) struct Linear {
    pub w: Array2<f32>,
    pub b: Array1<f32>,
}

pub(crate) struct LayerNorm {
    pub gamma: Array1<f32>,
    pub beta: Array1<f32>,
    pub eps: f32,
}

pub(crate) struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub out: Linear,
}

impl Attention {
    /// Width of the attention's internal projections.
    pub fn internal(&self) -> usize {
        self.q.w.ncols()
    }
}

pub(crate) struct Block {
    pub self_attn: Attention,
    pub norm1: LayerNorm,
    pub token_to_image: Attention,
    pub norm2: LayerNorm,
    pub mlp1: Linear,
    pub mlp2: Linear,
    pub norm3: LayerNorm,
    pub image_to_token: Attention,
    pub norm4: LayerNorm,
}

/// Three linear layers with ReLU between them (segment-anything's `MLP`).
pub(crate) struct Mlp3 {
    pub layers: [Linear; 3],
}

/// A 2×2, stride-2 transposed convolution as one matrix product per input pixel:
/// `w` is `[in, 4·out]`, column `(dy·2 + dx)·out + o`.
pub(crate) struct ConvT2x2 {
    pub w: Array2<f32>,
    /// Per output channel.
    pub b: Array1<f32>,
    pub out: usize,
}

/// A 2×2, stride-2 convolution: `w` is `[4·in, out]`, row `(dy·2 + dx)·in + c`.
pub(crate) struct Conv2x2 {
    pub w: Array2<f32>,
    pub b: Array1<f32>,
}

pub(crate) struct PromptEncoder {
    /// `[2, 128]`
    pub gaussian: Array2<f32>,
    /// Labels 0..=3: negative, positive, box corner 1, box corner 2.
    pub point_embeddings: [Array1<f32>; 4],
    pub not_a_point: Array1<f32>,
    pub no_mask: Array1<f32>,
    pub down0: Conv2x2,
    pub down1: LayerNorm,
    pub down3: Conv2x2,
    pub down4: LayerNorm,
    /// 1×1 convolution 16 → 256.
    pub down6: Linear,
    /// GELU with the tanh approximation (an export option) instead of `erf`.
    pub gelu_tanh: bool,
}

pub(crate) struct MaskDecoder {
    pub iou_token: Array1<f32>,
    /// `[4, 256]`
    pub mask_tokens: Array2<f32>,
    pub layers: [Block; 2],
    pub final_attn: Attention,
    pub norm_final: LayerNorm,
    pub up0: ConvT2x2,
    pub up1: LayerNorm,
    pub up3: ConvT2x2,
    pub hyper: [Mlp3; 4],
    pub iou_head: Mlp3,
    pub gelu_tanh: bool,
}

pub(crate) struct Weights {
    pub prompt: PromptEncoder,
    pub decoder: MaskDecoder,
}

struct Take<'a>(&'a mut DecoderWeights);

impl Take<'_> {
    fn vec(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, WeightError> {
        self.0.take(name, shape)
    }

    fn array1(&mut self, name: &str, len: usize) -> Result<Array1<f32>, WeightError> {
        Ok(Array1::from(self.vec(name, &[len])?))
    }

    /// A `[1, len]` embedding row.
    fn row(&mut self, name: &str, len: usize) -> Result<Array1<f32>, WeightError> {
        Ok(Array1::from(self.vec(name, &[1, len])?))
    }

    fn linear(&mut self, prefix: &str, input: usize, output: usize) -> Result<Linear, WeightError> {
        let w = self.vec(&format!("{prefix}.weight"), &[output, input])?;
        let w = Array2::from_shape_vec((output, input), w)
            .expect("shape checked")
            .reversed_axes()
            .as_standard_layout()
            .into_owned();
        Ok(Linear {
            w,
            b: self.array1(&format!("{prefix}.bias"), output)?,
        })
    }

    fn norm(&mut self, prefix: &str, len: usize, eps: f32) -> Result<LayerNorm, WeightError> {
        Ok(LayerNorm {
            gamma: self.array1(&format!("{prefix}.weight"), len)?,
            beta: self.array1(&format!("{prefix}.bias"), len)?,
            eps,
        })
    }

    fn attention(&mut self, prefix: &str, internal: usize) -> Result<Attention, WeightError> {
        Ok(Attention {
            q: self.linear(&format!("{prefix}.q_proj"), DIM, internal)?,
            k: self.linear(&format!("{prefix}.k_proj"), DIM, internal)?,
            v: self.linear(&format!("{prefix}.v_proj"), DIM, internal)?,
            out: self.linear(&format!("{prefix}.out_proj"), internal, DIM)?,
        })
    }

    fn block(&mut self, prefix: &str) -> Result<Block, WeightError> {
        let p = |s: &str| format!("{prefix}.{s}");
        Ok(Block {
            self_attn: self.attention(&p("self_attn"), DIM)?,
            norm1: self.norm(&p("norm1"), DIM, 1e-5)?,
            token_to_image: self.attention(&p("cross_attn_token_to_image"), DIM / 2)?,
            norm2: self.norm(&p("norm2"), DIM, 1e-5)?,
            mlp1: self.linear(&p("mlp.lin1"), DIM, MLP_DIM)?,
            mlp2: self.linear(&p("mlp.lin2"), MLP_DIM, DIM)?,
            norm3: self.norm(&p("norm3"), DIM, 1e-5)?,
            image_to_token: self.attention(&p("cross_attn_image_to_token"), DIM / 2)?,
            norm4: self.norm(&p("norm4"), DIM, 1e-5)?,
        })
    }

    fn mlp3(&mut self, prefix: &str, output: usize) -> Result<Mlp3, WeightError> {
        Ok(Mlp3 {
            layers: [
                self.linear(&format!("{prefix}.layers.0"), DIM, DIM)?,
                self.linear(&format!("{prefix}.layers.1"), DIM, DIM)?,
                self.linear(&format!("{prefix}.layers.2"), DIM, output)?,
            ],
        })
    }

    /// PyTorch `ConvTranspose2d` weight `[in, out, 2, 2]`.
    fn conv_t(&mut self, prefix: &str, input: usize, out: usize) -> Result<ConvT2x2, WeightError> {
        let w = self.vec(&format!("{prefix}.weight"), &[input, out, 2, 2])?;
        let mut m = Array2::zeros((input, 4 * out));
        for c in 0..input {
            for o in 0..out {
                for s in 0..4 {
                    m[[c, s * out + o]] = w[(c * out + o) * 4 + s];
                }
            }
        }
        Ok(ConvT2x2 {
            w: m,
            b: self.array1(&format!("{prefix}.bias"), out)?,
            out,
        })
    }

    /// PyTorch `Conv2d` weight `[out, in, 2, 2]`.
    fn conv(&mut self, prefix: &str, input: usize, out: usize) -> Result<Conv2x2, WeightError> {
        let w = self.vec(&format!("{prefix}.weight"), &[out, input, 2, 2])?;
        let mut m = Array2::zeros((4 * input, out));
        for o in 0..out {
            for c in 0..input {
                for s in 0..4 {
                    m[[s * input + c, o]] = w[(o * input + c) * 4 + s];
                }
            }
        }
        Ok(Conv2x2 {
            w: m,
            b: self.array1(&format!("{prefix}.bias"), out)?,
        })
    }
}

impl Weights {
    /// Takes every weight SAM's decoder needs; the first one missing or mis-shaped is
    /// the error.
    pub fn from_decoder_weights(mut source: DecoderWeights) -> Result<Self, WeightError> {
        let gelu_tanh = source.gelu_tanh();
        let mut t = Take(&mut source);
        let pe = "prompt_encoder";
        let gaussian = t.vec(
            &format!("{pe}.pe_layer.positional_encoding_gaussian_matrix"),
            &[2, DIM / 2],
        )?;
        let point =
            |t: &mut Take, i: usize| t.row(&format!("{pe}.point_embeddings.{i}.weight"), DIM);
        let point_embeddings = [
            point(&mut t, 0)?,
            point(&mut t, 1)?,
            point(&mut t, 2)?,
            point(&mut t, 3)?,
        ];
        let d6 = t.vec(&format!("{pe}.mask_downscaling.6.weight"), &[DIM, 16, 1, 1])?;
        let d6 = Array2::from_shape_vec((DIM, 16), d6)
            .expect("shape checked")
            .reversed_axes()
            .as_standard_layout()
            .into_owned();
        let prompt = PromptEncoder {
            gaussian: Array2::from_shape_vec((2, DIM / 2), gaussian).expect("shape checked"),
            point_embeddings,
            not_a_point: t.row(&format!("{pe}.not_a_point_embed.weight"), DIM)?,
            no_mask: t.row(&format!("{pe}.no_mask_embed.weight"), DIM)?,
            down0: t.conv(&format!("{pe}.mask_downscaling.0"), 1, 4)?,
            down1: t.norm(&format!("{pe}.mask_downscaling.1"), 4, 1e-6)?,
            down3: t.conv(&format!("{pe}.mask_downscaling.3"), 4, 16)?,
            down4: t.norm(&format!("{pe}.mask_downscaling.4"), 16, 1e-6)?,
            down6: Linear {
                w: d6,
                b: t.array1(&format!("{pe}.mask_downscaling.6.bias"), DIM)?,
            },
            gelu_tanh,
        };
        let md = "mask_decoder";
        let tr = format!("{md}.transformer");
        let mask_tokens = t.vec(&format!("{md}.mask_tokens.weight"), &[4, DIM])?;
        let hyper =
            |t: &mut Take, i: usize| t.mlp3(&format!("{md}.output_hypernetworks_mlps.{i}"), UP2);
        let decoder = MaskDecoder {
            iou_token: t.row(&format!("{md}.iou_token.weight"), DIM)?,
            mask_tokens: Array2::from_shape_vec((4, DIM), mask_tokens).expect("shape checked"),
            layers: [
                t.block(&format!("{tr}.layers.0"))?,
                t.block(&format!("{tr}.layers.1"))?,
            ],
            final_attn: t.attention(&format!("{tr}.final_attn_token_to_image"), DIM / 2)?,
            norm_final: t.norm(&format!("{tr}.norm_final_attn"), DIM, 1e-5)?,
            up0: t.conv_t(&format!("{md}.output_upscaling.0"), DIM, UP1)?,
            up1: t.norm(&format!("{md}.output_upscaling.1"), UP1, 1e-6)?,
            up3: t.conv_t(&format!("{md}.output_upscaling.3"), UP1, UP2)?,
            hyper: [
                hyper(&mut t, 0)?,
                hyper(&mut t, 1)?,
                hyper(&mut t, 2)?,
                hyper(&mut t, 3)?,
            ],
            iou_head: t.mlp3(&format!("{md}.iou_prediction_head"), 4)?,
            gelu_tanh,
        };
        Ok(Self { prompt, decoder })
    }
}
