//! The encoder on OpenVINO's CPU plugin (crate `openvino`, library loaded at run time).
//!
//! OpenVINO reads the encoder's ONNX file directly. One `Core` serves the process; each
//! load compiles the model once (≈ 0.6 s) with its precision and thread count, and the
//! compiled model and its infer request live as long as the [`SamModel`](crate::SamModel).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use openvino::{
    CompiledModel, Core, DeviceType, ElementType, InferRequest, PartialShape, RwPropertyKey, Shape,
    Tensor,
};

use crate::error::{EngineError, Result};
use crate::preprocess::INPUT_SIZE;
use crate::EMBEDDING_LEN;

/// The process's OpenVINO: loaded once by [`init_openvino`], or why it could not be.
static OPENVINO: OnceLock<std::result::Result<Loaded, String>> = OnceLock::new();

struct Loaded {
    path: PathBuf,
    version: String,
    // Properties are set on the core per device, then the model compiled, under this lock.
    core: Mutex<Core>,
}

/// Loads the OpenVINO C library (`libopenvino_c.so`, with its core library, CPU plugin and
/// ONNX reader beside it) once per process. A later call is free when the first succeeded
/// with the same path; a process can hold only one OpenVINO.
pub fn init_openvino(path: &Path) -> Result<()> {
    let err = |reason: String| EngineError::OpenVino {
        path: path.to_path_buf(),
        reason,
    };
    let state = OPENVINO.get_or_init(|| load(path));
    match state {
        Ok(loaded) if loaded.path == path => Ok(()),
        Ok(loaded) => Err(err(format!(
            "OpenVINO is already loaded from {} in this process",
            loaded.path.display()
        ))),
        Err(reason) => Err(err(reason.clone())),
    }
}

/// Records that OpenVINO cannot be had (its download failed, say), so that a model asking
/// for it says why in its notice. Does nothing once OpenVINO is loaded.
pub fn openvino_unavailable(reason: &str) {
    let _ = OPENVINO.set(Err(reason.to_string()));
}

/// What a caller that resolved OpenVINO does with the outcome: loads it from the path, or
/// records why there is none. Either way a model asking for OpenVINO then loads, its
/// notice saying why when the encoder does not run on OpenVINO.
pub fn offer_openvino(lib: std::result::Result<&Path, &str>) {
    match lib {
        // A failure is remembered and becomes the encoder's notice.
        Ok(path) => {
            let _ = init_openvino(path);
        }
        Err(reason) => openvino_unavailable(reason),
    }
}

/// The loaded OpenVINO's version, once [`init_openvino`] has succeeded.
pub fn openvino_version() -> Option<String> {
    match OPENVINO.get() {
        Some(Ok(loaded)) => Some(loaded.version.clone()),
        _ => None,
    }
}

fn load(path: &Path) -> std::result::Result<Loaded, String> {
    if !path.is_file() {
        return Err("no such file".into());
    }
    check_c_api(path)?;
    let owned = path.to_path_buf();
    // The bindings panic (rather than return an error) when a library lacks one of the
    // C API's functions or reports an odd version: a wrong file must not end the process.
    let created = std::panic::catch_unwind(move || {
        openvino_sys::library::load_from(owned)?;
        let core = Core::new().map_err(|e| e.to_string())?;
        let version = core
            .versions("CPU")
            .map_err(|e| format!("its CPU plugin cannot be loaded: {e}"))?
            .into_iter()
            .map(|(_, v)| v.build_number)
            .next()
            .ok_or("it has no CPU plugin")?;
        Ok::<_, String>((core, version))
    });
    match created {
        Ok(Ok((core, version))) => Ok(Loaded {
            path: path.to_path_buf(),
            version,
            core: Mutex::new(core),
        }),
        Ok(Err(reason)) => Err(reason),
        Err(_) => Err("it is not a usable OpenVINO C library (a function of the C API is missing or its version is unreadable)".into()),
    }
}

/// Whether `path` opens as a shared library exporting OpenVINO's C API. The bindings
/// would panic at the first missing function; this names the problem instead.
fn check_c_api(path: &Path) -> std::result::Result<(), String> {
    // SAFETY: opening runs the library's initialisers, as loading it for use would; this
    // is the file the user (or the pinned download) named as OpenVINO.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("it cannot be opened as a shared library: {e}"))?;
    for symbol in ["ov_core_create", "ov_get_openvino_version"] {
        // SAFETY: only the symbol's presence is checked; it is not called.
        let found = unsafe { library.get::<*const ()>(symbol.as_bytes()) }.is_ok();
        if !found {
            return Err(format!(
                "it is not OpenVINO's C library (libopenvino_c.so): it lacks {symbol}"
            ));
        }
    }
    Ok(())
}

/// A compiled encoder and its infer request.
pub(crate) struct OpenVinoEncoder {
    // Dropped after the request that uses it.
    request: Mutex<(InferRequest, CompiledModel)>,
    input: String,
    output: String,
}

impl OpenVinoEncoder {
    /// Reads and compiles `path` for the CPU. `threads` 0 lets OpenVINO use every core.
    pub(crate) fn compile(
        path: &Path,
        bf16: bool,
        threads: usize,
    ) -> std::result::Result<Self, String> {
        let loaded = match OPENVINO.get() {
            Some(Ok(loaded)) => loaded,
            Some(Err(reason)) => return Err(format!("OpenVINO could not be loaded: {reason}")),
            None => {
                return Err(
                    "OpenVINO is not loaded (samkit_engine::init_openvino was not called)".into(),
                )
            }
        };
        let path_str = path
            .to_str()
            .ok_or("the encoder's path is not valid UTF-8, which OpenVINO needs")?;
        let mut core = loaded.core.lock().unwrap_or_else(|e| e.into_inner());
        let mut model = core
            .read_model_from_file(path_str, "")
            .map_err(|e| format!("OpenVINO cannot read the encoder: {e}"))?;
        let inputs = model.get_inputs_len().map_err(|e| e.to_string())?;
        if inputs != 1 {
            return Err(format!(
                "the encoder has {inputs} inputs, expected one image"
            ));
        }
        let side = i64::from(INPUT_SIZE);
        model
            .reshape_single_input(
                &PartialShape::new_static(4, &[1, 3, side, side]).map_err(|e| e.to_string())?,
            )
            .map_err(|e| format!("the encoder's input does not take [1, 3, 1024, 1024]: {e}"))?;
        let cpu = DeviceType::CPU;
        let precision = if bf16 { "bf16" } else { "f32" };
        let threads = threads.to_string();
        let mut props = vec![
            (RwPropertyKey::HintInferencePrecision, precision),
            (RwPropertyKey::NumStreams, "1"),
            (RwPropertyKey::HintPerformanceMode, "LATENCY"),
            // Pinned threads cannot move off a core another program is busy on: with a
            // build running beside it, pinned OpenVINO took 1.3x ONNX Runtime's time,
            // unpinned 0.63x.
            (RwPropertyKey::HintEnableCpuPinning, "NO"),
        ];
        if threads != "0" {
            props.push((RwPropertyKey::InferenceNumThreads, threads.as_str()));
        }
        for (key, value) in props {
            core.set_property(&cpu, &key, value)
                .map_err(|e| format!("OpenVINO refuses {key:?} = {value}: {e}"))?;
        }
        let mut compiled = core
            .compile_model(&model, cpu)
            .map_err(|e| format!("OpenVINO cannot compile the encoder: {e}"))?;
        let name = |node: std::result::Result<openvino::Node, openvino::InferenceError>| {
            node.and_then(|n| n.get_name()).map_err(|e| e.to_string())
        };
        let input = name(compiled.get_input_by_index(0))?;
        let output = name(compiled.get_output_by_index(0))?;
        let request = compiled
            .create_infer_request()
            .map_err(|e| format!("OpenVINO cannot create an infer request: {e}"))?;
        Ok(Self {
            request: Mutex::new((request, compiled)),
            input,
            output,
        })
    }

    /// Runs the encoder on a preprocessed `[1, 3, 1024, 1024]` input.
    pub(crate) fn run(&self, input: &[f32]) -> Result<Vec<f32>> {
        let infer = |reason: String| EngineError::Inference {
            stage: "encoder (OpenVINO)",
            reason,
        };
        let side = i64::from(INPUT_SIZE);
        let shape = Shape::new(&[1, 3, side, side]).map_err(|e| infer(e.to_string()))?;
        let mut tensor = Tensor::new(ElementType::F32, &shape).map_err(|e| infer(e.to_string()))?;
        let data = tensor
            .get_data_mut::<f32>()
            .map_err(|e| infer(e.to_string()))?;
        if data.len() != input.len() {
            return Err(infer(format!(
                "input has {} values, expected {}",
                input.len(),
                data.len()
            )));
        }
        data.copy_from_slice(input);
        let mut guard = self.request.lock().unwrap_or_else(|e| e.into_inner());
        let request = &mut guard.0;
        request
            .set_tensor(&self.input, &tensor)
            .map_err(|e| infer(e.to_string()))?;
        request.infer().map_err(|e| infer(e.to_string()))?;
        let out = request
            .get_tensor(&self.output)
            .map_err(|e| infer(e.to_string()))?;
        let data = out.get_data::<f32>().map_err(|e| infer(e.to_string()))?;
        if data.len() != EMBEDDING_LEN {
            return Err(infer(format!(
                "the encoder returned {} values, expected [1, 256, 64, 64]",
                data.len()
            )));
        }
        Ok(data.to_vec())
    }
}
