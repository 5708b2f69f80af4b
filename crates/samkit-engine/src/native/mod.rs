//! SAM's prompt decoder in Rust, with its weights read from the decoder ONNX file
//! itself, so any SAM-compatible export runs natively. Unlike the exported graph it
//! returns all four mask outputs, decodes many prompts per call, and keeps the work
//! that does not depend on the prompt with the image (see `fast`).
//!
//! Tensors are `ndarray` (already a workspace dependency; its `matrixmultiply` GEMM is
//! single-threaded, so the decoder's thread count is ours to set).

mod fast;
mod kernels;
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
use std::sync::{Arc, Mutex};

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

/// Images whose prompt-independent work is kept, about 20 MB each. Fewer than the
/// images being annotated at once makes every prompt rebuild it (≈ 40 ms): with 3 for
/// the load test's 4 images the native decoder served fewer prompts than ONNX Runtime
/// (BENCHMARKS.md, native decoder).
const CACHED_IMAGES: usize = 4;

pub(crate) struct NativeDecoder {
    /// Prompts of a batch decoded at once; 1 decodes them in turn.
    threads: usize,
    /// Most recently used first, keyed by a hash of the embedding and its model id.
    images: Mutex<Vec<(u64, Arc<fast::ImageCache>)>>,
    weights: Weights,
    /// `get_dense_pe()` as image tokens `[4096, 256]`.
    image_pe: Array2<f32>,
    pe_projections: fast::PeProjections,
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
        let pe_projections = fast::PeProjections::new(&weights, &image_pe);
        Ok(Self {
            threads,
            images: Mutex::new(Vec::new()),
            weights,
            image_pe,
            pe_projections,
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

    /// SAM's decoder as written, one prompt at a time: the oracle the cached path is
    /// tested against, stage by stage.
    #[cfg_attr(not(test), allow(dead_code))]
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

    /// The prompt-independent work for an image.
    pub(crate) fn image_cache(&self, embedding: &Embedding) -> fast::ImageCache {
        fast::ImageCache::new(
            &self.weights,
            &image_tokens(embedding),
            &self.image_pe,
            &self.pe_projections,
        )
    }

    /// Decodes one prompt without a mask input through the per-image cache.
    pub(crate) fn decode_cached(
        &self,
        cache: &fast::ImageCache,
        input: &DecoderInput,
        trace: Option<&mut transformer::Trace>,
    ) -> RawOutputs {
        fast::decode(&self.weights, cache, &self.tokens(input), trace)
    }

    /// The image's prompt-independent work, computed on first use and kept for the
    /// next prompts on the same embedding. Keyed by content (XXH3 of the 4 MiB
    /// embedding, a fraction of a millisecond), so a changed embedding is never
    /// decoded with a stale cache.
    fn cached_image(&self, embedding: &Embedding) -> Arc<fast::ImageCache> {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(embedding.model_id.as_bytes());
        h.update(bytemuck::cast_slice(&embedding.data));
        let key = h.digest();
        let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = images.iter().position(|(k, _)| *k == key) {
            let hit = images.remove(i);
            let cache = hit.1.clone();
            images.insert(0, hit);
            return cache;
        }
        drop(images);
        let cache = Arc::new(self.image_cache(embedding));
        let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        images.insert(0, (key, cache.clone()));
        images.truncate(CACHED_IMAGES);
        cache
    }

    /// Builds and keeps the image's prompt-independent work.
    pub fn prepare(&self, embedding: &Embedding) {
        self.cached_image(embedding);
    }

    /// Decodes prompts that share one embedding; with more than one thread, the
    /// prompts are shared out between them.
    pub fn decode(&self, embedding: &Embedding, inputs: &[DecoderInput]) -> Vec<RawOutputs> {
        let cache = self.cached_image(embedding);
        let one = |input: &DecoderInput| match input.mask {
            None => self.decode_cached(&cache, input, None),
            Some(mask) => {
                let z = prompt_encoder::mask_features(&self.weights.prompt, mask);
                self.decode_cached(&cache.with_mask(&self.weights, &z), input, None)
            }
        };
        let threads = self.threads.min(inputs.len());
        if threads <= 1 {
            return inputs.iter().map(one).collect();
        }
        let chunk = inputs.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = inputs
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }
}
