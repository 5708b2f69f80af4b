//! SAM's prompt decoder in Rust, with its weights read from the decoder ONNX file
//! itself, so any SAM-compatible export runs natively. Unlike the exported graph it
//! returns all four mask outputs, decodes many prompts per call, and keeps the work
//! that does not depend on the prompt with the image (see `fast`).
//!
//! Tensors are `ndarray` (already a workspace dependency; its `matrixmultiply` GEMM is
//! single-threaded, so the decoder's thread count is ours to set).

mod mask_head;
pub(crate) mod onnx_proto;
pub(crate) mod onnx_weights;
mod ops;
mod prompt_encoder;
mod transformer;
mod weights;

#[cfg(test)]
mod tests;

use std::path::Path;

use ndarray::{Array1, Array2};

pub(crate) use onnx_weights::WeightError;

use crate::{Embedding, LowResLogits};
use prompt_encoder::PIXELS;
use weights::{Weights, DIM};

/// The decoder's points for one prompt in the 1024 frame, as [`crate::Prompt::decoder_points`].
pub(crate) struct DecoderInput<'a> {
    pub coords: &'a [f32],
    pub labels: &'a [f32],
    pub mask: Option<&'a LowResLogits>,
}

/// Every mask output of one prompt: `[4, 65536]` low-resolution logits and 4 IoUs.
pub(crate) struct RawOutputs {
    pub masks: Array2<f32>,
    pub iou: Array1<f32>,
}

pub(crate) struct NativeDecoder {
    /// Prompts of a batch decoded at once; 1 decodes them in turn.
    threads: usize,
    weights: Weights,
    /// `get_dense_pe()` as image tokens `[4096, 256]`.
    image_pe: Array2<f32>,
    /// The IoU token then the 4 mask tokens, `[5, 256]`.
    output_tokens: Array2<f32>,
}

/// The image embedding `[256, 64, 64]` as tokens `[4096, 256]`.
fn image_tokens(embedding: &Embedding) -> Array2<f32> {
    let channel_major = ndarray::ArrayView2::from_shape((DIM, PIXELS), &embedding.data)
        .expect("embedding length is checked on creation");
    channel_major.t().as_standard_layout().into_owned()
}

impl NativeDecoder {
    /// `threads`: 0 = one per core.
    pub fn load(path: &Path, threads: usize) -> Result<Self, WeightError> {
        let source = onnx_weights::DecoderWeights::from_onnx_file(path)?;
        let weights = Weights::from_decoder_weights(source)?;
        let image_pe = prompt_encoder::dense_pe(&weights.prompt);
        let mut output_tokens = Array2::zeros((5, DIM));
        output_tokens.row_mut(0).assign(&weights.decoder.iou_token);
        output_tokens
            .slice_mut(ndarray::s![1.., ..])
            .assign(&weights.decoder.mask_tokens);
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Ok(Self {
            threads,
            weights,
            image_pe,
            output_tokens,
        })
    }

    /// The prompt tokens: output tokens then the sparse prompt embedding.
    fn tokens(&self, input: &DecoderInput) -> Array2<f32> {
        let sparse = prompt_encoder::point_tokens(&self.weights.prompt, input.coords, input.labels);
        ndarray::concatenate(
            ndarray::Axis(0),
            &[self.output_tokens.view(), sparse.view()],
        )
        .expect("same width")
    }

    /// SAM's decoder as written, one prompt at a time.
    pub fn decode_reference(
        &self,
        embedding: &Embedding,
        input: &DecoderInput,
        trace: Option<&mut transformer::Trace>,
    ) -> RawOutputs {
        let d = &self.weights.decoder;
        let mut src = image_tokens(embedding);
        src += &prompt_encoder::dense_embedding(&self.weights.prompt, input.mask);
        let tokens = self.tokens(input);
        let (hs, keys) = transformer::two_way(d, src, self.image_pe.view(), &tokens, trace);
        let (masks, iou) = mask_head::masks_and_iou(d, hs.view(), keys.view());
        RawOutputs { masks, iou }
    }

    /// Decodes prompts that share one embedding.
    pub fn decode(&self, embedding: &Embedding, inputs: &[DecoderInput]) -> Vec<RawOutputs> {
        let _ = self.threads;
        inputs
            .iter()
            .map(|input| self.decode_reference(embedding, input, None))
            .collect()
    }
}
