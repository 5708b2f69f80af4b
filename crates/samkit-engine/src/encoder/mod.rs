//! The image encoder: ONNX Runtime in f32 (the exact reference) or OpenVINO's CPU plugin
//! (faster on Intel CPUs; bf16 where the CPU has AMX), chosen when a model is loaded.
//!
//! OpenVINO is never required: when it cannot be loaded or cannot compile the file, the
//! encoder runs on ONNX Runtime and [`EncoderInfo::notice`] says why. Embeddings of each
//! backend and precision are kept apart (see [`EncoderInfo::embedding_id`]).

mod cpu;
mod openvino;

use std::path::Path;
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;

pub use cpu::CpuBf16;
pub use openvino::{init_openvino, offer_openvino, openvino_unavailable, openvino_version};

use crate::error::{EngineError, Result};
use crate::model::{admits, open_session, shape_of, EngineOptions};
use crate::preprocess::INPUT_SIZE;
use crate::EMBEDDING_LEN;

/// What runs the encoder, as asked for (`--encoder-backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderBackend {
    /// OpenVINO when it loads, else ONNX Runtime (with a notice).
    Auto,
    /// ONNX Runtime, f32: the reference the parity tests hold to.
    #[default]
    OnnxRuntime,
    /// OpenVINO; still ONNX Runtime, with a notice, when OpenVINO cannot run the file.
    OpenVino,
}

impl std::str::FromStr for EncoderBackend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "onnxruntime" => Ok(Self::OnnxRuntime),
            "openvino" => Ok(Self::OpenVino),
            _ => Err(format!(
                "unknown encoder backend '{s}': use auto, onnxruntime or openvino"
            )),
        }
    }
}

impl std::fmt::Display for EncoderBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::OnnxRuntime => "onnxruntime",
            Self::OpenVino => "openvino",
        })
    }
}

/// The encoder's arithmetic, as asked for (`--precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// bf16 on OpenVINO where the CPU has AMX, else f32.
    #[default]
    Auto,
    F32,
    /// bf16 (OpenVINO only, and only where the CPU has native bf16).
    Bf16,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "f32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            _ => Err(format!("unknown precision '{s}': use auto, f32 or bf16")),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
        })
    }
}

/// What runs a loaded model's encoder, and why (serialised as reports show it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EncoderInfo {
    /// `onnxruntime` or `openvino`.
    pub backend: &'static str,
    /// `f32` or `bf16`.
    pub precision: &'static str,
    /// The CPU's native bf16 (`AMX`, `AVX512_BF16`, `none`).
    pub cpu_bf16: &'static str,
    /// How the choice was made, in one line.
    pub reason: String,
    /// Why what was asked for does not run (OpenVINO missing or refusing the file, bf16
    /// not available), if so.
    pub notice: Option<String>,
}

impl EncoderInfo {
    /// The id that keys this encoder's embeddings: the model's id for ONNX Runtime f32
    /// (the reference), `<id>+openvino-<precision>` otherwise, so that an embedding is
    /// never served to a run that asked for another backend or precision.
    pub fn embedding_id(&self, model_id: &str) -> String {
        if self.backend == "onnxruntime" {
            model_id.to_string()
        } else {
            format!("{model_id}+{}-{}", self.backend, self.precision)
        }
    }
}

/// A loaded encoder.
pub(crate) enum ImageEncoder {
    Onnx {
        session: Mutex<Session>,
        input: String,
        output: String,
    },
    OpenVino(openvino::OpenVinoEncoder),
}

impl ImageEncoder {
    /// Loads `path` on the backend and precision `opts` ask for (see [`EncoderBackend`]).
    pub(crate) fn load(path: &Path, opts: EngineOptions) -> Result<(Self, EncoderInfo)> {
        let cpu = CpuBf16::detect();
        let mut notices = Vec::new();
        let mut info = EncoderInfo {
            backend: "onnxruntime",
            precision: "f32",
            cpu_bf16: cpu.describe(),
            reason: String::new(),
            notice: None,
        };
        if opts.encoder != EncoderBackend::OnnxRuntime {
            let (bf16, why) = match opts.precision {
                Precision::F32 => (false, "f32 as asked".to_string()),
                Precision::Bf16 if cpu.native() => (true, "bf16 as asked".to_string()),
                Precision::Bf16 => {
                    notices.push("bf16 was asked for, but this CPU has no native bf16 (neither AMX nor AVX512_BF16): the encoder runs in f32".to_string());
                    (false, "f32: no native bf16".to_string())
                }
                // Measured on a Xeon with AVX512_BF16 and no AMX: bf16 1.45x slower than f32.
                Precision::Auto if cpu.amx => (true, "bf16: the CPU has AMX".to_string()),
                Precision::Auto if cpu.avx512 => (
                    false,
                    "f32: the CPU has AVX512_BF16 but no AMX, where bf16 is slower".to_string(),
                ),
                Precision::Auto => (false, "f32: no native bf16 on this CPU".to_string()),
            };
            if path.is_file() {
                match openvino::OpenVinoEncoder::compile(path, bf16, opts.intra_threads) {
                    Ok(encoder) => {
                        info.backend = "openvino";
                        info.precision = if bf16 { "bf16" } else { "f32" };
                        info.reason = format!("{}: OpenVINO, {why}", opts.encoder);
                        info.notice = (!notices.is_empty()).then(|| notices.join("; "));
                        return Ok((Self::OpenVino(encoder), info));
                    }
                    Err(reason) => notices.push(format!(
                        "{reason}; the encoder runs on ONNX Runtime instead (--encoder-backend onnxruntime chooses it without this notice)"
                    )),
                }
            }
        } else if opts.precision == Precision::Bf16 {
            notices.push(
                "ONNX Runtime runs the encoder in f32 only: bf16 needs --encoder-backend openvino"
                    .to_string(),
            );
        }
        info.reason = match opts.encoder {
            EncoderBackend::OnnxRuntime => "onnxruntime as asked".to_string(),
            asked => format!("{asked}: ONNX Runtime, OpenVINO unavailable"),
        };
        info.notice = (!notices.is_empty()).then(|| notices.join("; "));
        // The encoder's arena would keep its largest run's working memory (≈ 400 MB,
        // grown in powers of two) for the life of the model; a run takes about a second,
        // so allocating afresh costs little.
        let session = open_session("encoder", path, opts, false)?;
        let (input, output) = validate_encoder(&session, path)?;
        Ok((
            Self::Onnx {
                session: Mutex::new(session),
                input,
                output,
            },
            info,
        ))
    }

    /// Runs the encoder on a preprocessed `[1, 3, 1024, 1024]` input; returns the
    /// `[1, 256, 64, 64]` embedding.
    pub(crate) fn run(&self, input: Vec<f32>) -> Result<Vec<f32>> {
        match self {
            Self::OpenVino(encoder) => encoder.run(&input),
            Self::Onnx {
                session,
                input: input_name,
                output,
            } => {
                let infer = |reason: String| EngineError::Inference {
                    stage: "encoder",
                    reason,
                };
                let side = INPUT_SIZE as usize;
                let tensor = Tensor::from_array(([1usize, 3, side, side], input))
                    .map_err(|e| infer(e.to_string()))?;
                let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
                let outputs = session
                    .run(ort::inputs![input_name.as_str() => tensor])
                    .map_err(|e| infer(e.to_string()))?;
                let (shape, data) = outputs[output.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| infer(e.to_string()))?;
                if data.len() != EMBEDDING_LEN {
                    return Err(infer(format!(
                        "encoder returned shape {shape:?}, expected [1, 256, 64, 64]"
                    )));
                }
                Ok(data.to_vec())
            }
        }
    }
}

fn validate_encoder(session: &Session, path: &Path) -> Result<(String, String)> {
    let bad = |problem: String| EngineError::ModelShape {
        role: "encoder",
        path: path.to_path_buf(),
        problem,
    };
    let [input] = session.inputs() else {
        return Err(bad(format!(
            "it has {} inputs ({}), expected one image input of shape [1, 3, 1024, 1024]: is this the decoder?",
            session.inputs().len(),
            session.inputs().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
        )));
    };
    let ishape = shape_of(input.dtype()).unwrap_or_default();
    if !admits(&ishape, &[1, 3, 1024, 1024]) {
        return Err(bad(format!(
            "input '{}' has shape {ishape:?}, expected [1, 3, 1024, 1024]",
            input.name()
        )));
    }
    let Some(output) = session.outputs().first() else {
        return Err(bad("it has no outputs".into()));
    };
    let oshape = shape_of(output.dtype()).unwrap_or_default();
    if !admits(&oshape, &[1, 256, 64, 64]) {
        return Err(bad(format!(
            "output '{}' has shape {oshape:?}, expected [1, 256, 64, 64]",
            output.name()
        )));
    }
    Ok((input.name().to_string(), output.name().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_and_precision_parse_and_print() {
        for b in [
            EncoderBackend::Auto,
            EncoderBackend::OnnxRuntime,
            EncoderBackend::OpenVino,
        ] {
            assert_eq!(b.to_string().parse::<EncoderBackend>(), Ok(b));
        }
        for p in [Precision::Auto, Precision::F32, Precision::Bf16] {
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
        }
        let err = "ort".parse::<EncoderBackend>().unwrap_err();
        assert!(err.contains("auto, onnxruntime or openvino"), "{err}");
        assert!("fp16".parse::<Precision>().unwrap_err().contains("bf16"));
    }

    #[test]
    fn embedding_ids_keep_backends_and_precisions_apart() {
        let info = |backend, precision| EncoderInfo {
            backend,
            precision,
            cpu_bf16: "none",
            reason: String::new(),
            notice: None,
        };
        assert_eq!(info("onnxruntime", "f32").embedding_id("m"), "m");
        assert_eq!(info("openvino", "f32").embedding_id("m"), "m+openvino-f32");
        assert_eq!(
            info("openvino", "bf16").embedding_id("m"),
            "m+openvino-bf16"
        );
    }
}
