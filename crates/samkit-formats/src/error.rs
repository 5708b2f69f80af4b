use std::path::PathBuf;
use thiserror::Error;

/// What is wrong with one item of the input.
#[derive(Debug, Error)]
pub enum Problem {
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error(transparent)]
    Mask(#[from] samkit_mask::MaskError),
    #[error("category id {0} does not exist")]
    UnknownCategory(u64),
    #[error("image id {0} does not exist")]
    UnknownImage(u64),
    #[error("duplicate {kind} id {id}")]
    DuplicateId { kind: &'static str, id: u64 },
    #[error("mask is {mask_width}×{mask_height} but the image is {image_width}×{image_height}")]
    SizeMismatch {
        mask_width: u32,
        mask_height: u32,
        image_width: u32,
        image_height: u32,
    },
    #[error("unsupported segmentation: {0}")]
    Segmentation(String),
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("no image named {0}.* in the images folder")]
    MissingImage(String),
    #[error("{0}")]
    Other(String),
}

/// An error naming the file, the annotation (when there is one) and the problem.
#[derive(Debug, Error)]
pub enum FormatError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}{}: {problem}", path.display(), annotation.map(|a| format!(", annotation {a}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        annotation: Option<u64>,
        problem: Problem,
    },
    #[error("{}: image error: {source}", path.display())]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("{}: {message}", path.display())]
    Write { path: PathBuf, message: String },
    #[error(transparent)]
    Output(#[from] samkit_outfile::WriteError),
    #[error("cannot tell the format of {}: {message}", path.display())]
    UnknownInput { path: PathBuf, message: String },
}

impl FormatError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FormatError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn invalid(
        path: impl Into<PathBuf>,
        annotation: Option<u64>,
        problem: impl Into<Problem>,
    ) -> Self {
        FormatError::Invalid {
            path: path.into(),
            annotation,
            problem: problem.into(),
        }
    }
    pub(crate) fn write(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        FormatError::Write {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
