//! Engine and asset errors as Python exceptions.

use pyo3::exceptions::{PyFileNotFoundError, PyRuntimeError, PyValueError};
use pyo3::PyErr;
use samkit_engine::EngineError;

/// `ValueError` for what the caller passed (prompts, image sizes), `FileNotFoundError`
/// for a missing image, `RuntimeError` for the model and the runtimes.
pub fn engine(e: EngineError) -> PyErr {
    let message = e.to_string();
    match e {
        EngineError::Prompt(_)
        | EngineError::EmptyImage { .. }
        | EngineError::ImageTooLarge { .. }
        | EngineError::ImageTooThin { .. }
        | EngineError::ModelMismatch { .. } => PyValueError::new_err(message),
        EngineError::Volume(samkit_volume_error) => volume(samkit_volume_error, message),
        EngineError::ImageRead { ref path, .. } if !path.exists() => {
            PyFileNotFoundError::new_err(message)
        }
        EngineError::ImageRead { .. } => PyValueError::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}

/// A DICOM/NIfTI/TIFF-stack problem is the file's or the arguments' (`ValueError`), a missing file
/// `FileNotFoundError`.
fn volume(e: samkit_engine::VolumeError, message: String) -> PyErr {
    match e {
        samkit_engine::VolumeError::Dicom { ref path, .. }
        | samkit_engine::VolumeError::Nifti { ref path, .. }
        | samkit_engine::VolumeError::Tiff { ref path, .. }
            if !path.exists() =>
        {
            PyFileNotFoundError::new_err(message)
        }
        _ => PyValueError::new_err(message),
    }
}

pub fn auto(e: samkit_auto::AutoError) -> PyErr {
    match e {
        samkit_auto::AutoError::Engine(e) => engine(e),
        samkit_auto::AutoError::Param(_) => PyValueError::new_err(e.to_string()),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

pub fn assets(e: samkit_assets::AssetsError) -> PyErr {
    match e {
        samkit_assets::AssetsError::MissingFile { .. } => {
            PyFileNotFoundError::new_err(e.to_string())
        }
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

pub fn value(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}
