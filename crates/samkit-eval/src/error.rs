//! Errors of the evaluation: each names the file and says what to do.

use std::path::PathBuf;

/// Everything that can go wrong loading a dataset, running the protocol or writing results.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] samkit_outfile::WriteError),
    #[error("{path} is not a directory (give --images/--masks/--ignore a folder)")]
    NotADirectory { path: PathBuf },
    #[error("cannot decode image {path}: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("{path} is {width}×{height} = {} pixels, over the budget of {max_pixels} pixels per image: raise it with --max-pixels if the file is genuine", u64::from(*width) * u64::from(*height))]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("mask {mask} has no image: expected {stem}.<png|jpg|jpeg|bmp|tif|tiff|webp> in {images_dir}")]
    MaskWithoutImage {
        mask: PathBuf,
        stem: String,
        images_dir: PathBuf,
    },
    #[error("{first} and {second} share the base name '{stem}': keep one image per mask")]
    AmbiguousImage {
        stem: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{what} {path} is {got_w}x{got_h} but image {image} is {want_w}x{want_h}: sizes must be equal")]
    SizeMismatch {
        what: &'static str,
        path: PathBuf,
        got_w: u32,
        got_h: u32,
        image: PathBuf,
        want_w: u32,
        want_h: u32,
    },
    #[error("no mask (*.png) in {masks_dir}")]
    NoMasks { masks_dir: PathBuf },
    #[error("every mask was skipped (no object pixels): nothing to evaluate")]
    NothingToEvaluate,
    #[error("{stage} failed on {name}: {source}")]
    Segmenter {
        stage: &'static str,
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot resume from {path}: {reason} (run without --resume to start over)")]
    Resume { path: PathBuf, reason: String },
    #[error("cannot draw plot {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
    #[error("invalid settings: {0}")]
    Config(String),
}

/// Results of this crate.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
