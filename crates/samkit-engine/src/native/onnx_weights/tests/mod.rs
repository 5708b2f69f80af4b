//! Tests of the weight reader. This module holds the shared fixtures; the tests are
//! grouped by concern: the default export (mapping, layout against ONNX Runtime, extra
//! outputs), other export styles, and hostile files.

use std::sync::OnceLock;

use ort::session::Session;
use ort::value::Tensor;

use super::graph::{module_path, transpose, GraphIndex};
use super::specs::Locate;
use super::*;
use crate::native::onnx_proto::{AttributeProto, NodeProto};
use std::collections::HashMap;

/// The default decoder file and the ONNX Runtime library, fetched on first use into the
/// samkit home as the engine's other tests do (`samkit setup` shows why when they cannot be).
fn assets() -> &'static samkit_assets::ResolvedModel {
    static ASSETS: OnceLock<samkit_assets::ResolvedModel> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let home = samkit_assets::Home::from_env().expect("samkit home");
        samkit_assets::ensure_default(&home, &samkit_assets::Progress::hidden()).expect(
            "default model and runtime (run `samkit setup` to see why they cannot be fetched)",
        )
    })
}

fn default_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(&assets().model.decoder).expect("default decoder readable"))
}

fn default_weights() -> &'static DecoderWeights {
    static WEIGHTS: OnceLock<DecoderWeights> = OnceLock::new();
    WEIGHTS.get_or_init(|| {
        DecoderWeights::from_onnx_file(&assets().model.decoder).expect("default decoder maps")
    })
}

fn default_model() -> ModelProto {
    ModelProto::decode(default_bytes()).expect("default decoder parses")
}

fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

fn graph_mut(model: &mut ModelProto) -> &mut GraphProto {
    model.graph.as_mut().expect("graph")
}

/// The initializer consumed as input `input` by the node named `node`.
fn initializer_of(model: &ModelProto, node: &str, input: usize) -> String {
    let graph = model.graph.as_ref().expect("graph");
    let node = graph
        .node
        .iter()
        .find(|n| n.name.as_deref() == Some(node))
        .unwrap_or_else(|| panic!("node {node} in the default export"));
    node.input[input].clone()
}

fn float_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DATA_TYPE_FLOAT),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// A model whose only content is `tensor`, as an initializer.
fn model_with(tensor: TensorProto) -> Vec<u8> {
    encode(&ModelProto {
        graph: Some(GraphProto {
            initializer: vec![tensor],
            ..Default::default()
        }),
    })
}

const FIRST_WEIGHT: &str = "mask_decoder.transformer.layers.0.self_attn.q_proj.weight";

/// Runs the default decoder with extra outputs on a deterministic embedding and one
/// positive click (plus SAM's padding point), returning the named values.
fn run_default_with_outputs(names: &[&str]) -> HashMap<String, Vec<f32>> {
    crate::init_runtime(&assets().ort_lib).expect("ONNX Runtime loads");
    let env = crate::runtime::environment().expect("runtime initialised");
    let bytes = with_extra_outputs(default_bytes(), names);
    let mut session = Session::builder(env)
        .and_then(|mut b| b.commit_from_memory(&bytes))
        .expect("the model with extra outputs loads in ONNX Runtime");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let embedding: Vec<f32> = (0..256 * 64 * 64)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.4
        })
        .collect();
    let tensor = |shape: Vec<usize>, data: Vec<f32>| Tensor::from_array((shape, data)).unwrap();
    let outputs = session
        .run(ort::inputs![
            "image_embeddings" => tensor(vec![1, 256, 64, 64], embedding),
            "point_coords" => tensor(vec![1, 2, 2], vec![512.0, 384.0, 0.0, 0.0]),
            "point_labels" => tensor(vec![1, 2], vec![1.0, -1.0]),
            "mask_input" => tensor(vec![1, 1, 256, 256], vec![0.0; 256 * 256]),
            "has_mask_input" => tensor(vec![1], vec![0.0]),
            "orig_im_size" => tensor(vec![2], vec![768.0, 1024.0]),
        ])
        .expect("decoder runs");
    names
        .iter()
        .map(|&name| {
            let (_, data) = outputs[name]
                .try_extract_tensor::<f32>()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name.to_string(), data.to_vec())
        })
        .collect()
}

mod default_export;
mod export_styles;
mod hostile;
