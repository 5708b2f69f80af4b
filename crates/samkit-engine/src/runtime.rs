//! Loading the ONNX Runtime shared library at run time (`ort`'s `load-dynamic`).
//!
//! `ort::init_from` is used rather than `ORT_DYLIB_PATH` discovery inside `ort` so that a
//! missing or too-old library is a typed error instead of a panic at the first session.

use std::path::Path;
use std::sync::Mutex;

use crate::error::{EngineError, Result};

static ENVIRONMENT: std::sync::OnceLock<ort::environment::Environment> = std::sync::OnceLock::new();
static LOADED: Mutex<Option<std::path::PathBuf>> = Mutex::new(None);

/// Loads ONNX Runtime from `path` once per process. Later calls with the same path are
/// free; a later call with a different path is refused, because a process can hold only
/// one ONNX Runtime.
pub fn init_runtime(path: &Path) -> Result<()> {
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(done) = loaded.as_ref() {
        if done == path {
            return Ok(());
        }
        return Err(EngineError::Runtime {
            path: path.to_path_buf(),
            reason: format!(
                "ONNX Runtime is already loaded from {} in this process",
                done.display()
            ),
        });
    }
    if !path.is_file() {
        return Err(EngineError::Runtime {
            path: path.to_path_buf(),
            reason: "no such file".into(),
        });
    }
    let builder = ort::init_from(path).map_err(|e| EngineError::Runtime {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let env = builder
        .with_name("samkit")
        .build()
        .map_err(|e| EngineError::Runtime {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    // The environment must outlive every session; keep it for the life of the process.
    let _ = ENVIRONMENT.set(env);
    *loaded = Some(path.to_path_buf());
    Ok(())
}

/// The process's ONNX Runtime environment, once [`init_runtime`] has succeeded.
pub(crate) fn environment() -> Option<&'static ort::environment::Environment> {
    ENVIRONMENT.get()
}
