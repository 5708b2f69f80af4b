//! Typed errors of the engine. Every message names the file or value at fault and,
//! where there is one, the fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot load the ONNX Runtime library {path}: {reason}. Run `samkit setup`, or pass --ort-lib PATH / set ORT_DYLIB_PATH to libonnxruntime.so (version 1.32 or newer)")]
    Runtime { path: PathBuf, reason: String },

    #[error("cannot load the OpenVINO library {path}: {reason}. Run `samkit setup`, pass --openvino-lib PATH to libopenvino_c.so (2025.1 or newer, with its CPU plugin beside it), or use --encoder-backend onnxruntime")]
    OpenVino { path: PathBuf, reason: String },

    #[error("cannot load {role} model {path}: {reason}")]
    ModelLoad {
        role: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error("{role} model {path} is not a SAM {role}: {problem}")]
    ModelShape {
        role: &'static str,
        path: PathBuf,
        problem: String,
    },

    #[error("cannot read image {path}: {reason}")]
    ImageRead { path: PathBuf, reason: String },

    /// A DICOM or NIfTI file that cannot be used (the message names the file).
    #[error(transparent)]
    Volume(#[from] samkit_volume::VolumeError),

    #[error("image {path} has zero size ({width}x{height})")]
    EmptyImage {
        path: PathBuf,
        width: u32,
        height: u32,
    },

    #[error("image {path} is {width}×{height} = {} pixels, over the budget of {max_pixels} pixels per image; if the file is genuine and the machine has the memory (about 3 bytes per pixel for 8-bit RGB, up to 11 for 16-bit RGBA), raise it with --max-pixels", u64::from(*width) * u64::from(*height))]
    ImageTooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        max_pixels: u64,
    },

    #[error("image {path} is {width}×{height}: SAM cannot encode an image whose long side is more than 2048 times its short side (it would be less than one pixel high after resizing to 1024); crop or pad it")]
    ImageTooThin {
        path: PathBuf,
        width: u32,
        height: u32,
    },

    #[error("invalid prompt: {0}")]
    Prompt(String),

    #[error("the embedding was made by model {embedding_model}, but this model is {model}: re-embed the image")]
    ModelMismatch {
        embedding_model: String,
        model: String,
    },

    #[error("inference failed in the {stage}: {reason}")]
    Inference { stage: &'static str, reason: String },

    #[error("embedding cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
