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

#[test]
fn default_export_maps_every_weight_with_its_shape() {
    let weights = default_weights();
    let specs = sam_decoder_weights();
    assert_eq!(specs.len(), 137);
    assert_eq!(weights.names().count(), specs.len());
    for spec in &specs {
        let tensor = weights
            .get(&spec.name)
            .unwrap_or_else(|| panic!("{} mapped", spec.name));
        assert_eq!(tensor.shape, spec.shape, "{}", spec.name);
        assert_eq!(tensor.data.len(), spec.shape.iter().product::<usize>());
        assert!(tensor.data.iter().all(|v| v.is_finite()), "{}", spec.name);
    }
    assert!(
        !weights.gelu_tanh(),
        "the default export's GELU is exact (Erf)"
    );
    // The canonical list is the state dict's: every name is unique.
    let mut names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), specs.len());
}

#[test]
fn folded_constants_are_read_in_pytorch_layout() {
    let model = default_model();
    let weights = default_weights();
    let raw = |node: &str, input: usize| {
        let name = initializer_of(&model, node, input);
        let graph = model.graph.as_ref().expect("graph");
        let tensor = graph
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some(name.as_str()))
            .expect("initializer");
        decode(tensor, &name).expect("decodes")
    };
    // [1, 5, 256]: row 0 the IoU token, rows 1..5 the mask tokens.
    let tokens = raw("/Expand_1", 0);
    assert_eq!(tokens.shape, [1, 5, 256]);
    let iou = &weights.get("mask_decoder.iou_token.weight").unwrap().data;
    let mask = &weights.get("mask_decoder.mask_tokens.weight").unwrap().data;
    assert_eq!(iou[..], tokens.data[..256]);
    assert_eq!(mask[..], tokens.data[256..]);
    let no_mask = raw("/Mul_9", 1);
    assert_eq!(no_mask.shape, [1, 256, 1, 1]);
    assert_eq!(
        weights.get("prompt_encoder.no_mask_embed.weight").unwrap(),
        &WeightTensor {
            shape: vec![1, 256],
            data: no_mask.data
        }
    );
    let gamma = raw("/output_upscaling/output_upscaling.1/Mul", 0);
    assert_eq!(gamma.shape, [64, 1, 1]);
    assert_eq!(
        weights
            .get("mask_decoder.output_upscaling.1.weight")
            .unwrap()
            .data,
        gamma.data
    );
    let beta = raw("/mask_downscaling/mask_downscaling.4/Add_1", 1);
    assert_eq!(
        weights
            .get("prompt_encoder.mask_downscaling.4.bias")
            .unwrap(),
        &WeightTensor {
            shape: vec![16],
            data: beta.data
        }
    );
    // A MatMul weight [in, out] comes out transposed: lin1 is [256, 2048] in the file.
    let lin1 = raw("/transformer/layers.0/mlp/lin1/MatMul", 1);
    assert_eq!(lin1.shape, [256, 2048]);
    let mapped = weights
        .get("mask_decoder.transformer.layers.0.mlp.lin1.weight")
        .unwrap();
    assert_eq!(mapped.shape, [2048, 256]);
    for (i, j) in [(0, 0), (3, 1000), (255, 2047), (17, 5)] {
        assert_eq!(mapped.data[j * 256 + i], lin1.data[i * 2048 + j]);
    }
}

/// Every Linear layer, applied with the mapped weight as PyTorch does (`x · Wᵀ + b`), gives
/// what ONNX Runtime computes for it inside the default decoder on a real click; a square
/// weight read in the wrong layout would pass every shape check and fail here.
#[test]
fn every_linear_layer_reproduces_onnx_runtime() {
    let model = default_model();
    let graph = model.graph.as_ref().expect("graph");
    let index = GraphIndex::new(graph);
    let mut probes = Vec::new(); // (canonical prefix, input value, output value)
    for spec in sam_decoder_weights() {
        let Locate::LinearWeight { module } = &spec.locate else {
            continue;
        };
        let prefix = spec.name.strip_suffix(".weight").unwrap().to_string();
        let node = index
            .module_nodes(module, &["MatMul", "Gemm"])
            .next()
            .unwrap_or_else(|| panic!("a node for {module}"));
        let output = if node.op_type.as_deref() == Some("Gemm") {
            node.output[0].clone()
        } else {
            let (add, _) = index.consumers_of(node, "Add").next().expect("bias Add");
            add.output[0].clone()
        };
        probes.push((prefix, node.input[0].clone(), output));
    }
    assert_eq!(probes.len(), 47); // 2 × (3 attentions × 4 + 2) + 4 + 5 MLPs × 3
    let names: Vec<&str> = probes
        .iter()
        .flat_map(|(_, x, y)| [x.as_str(), y.as_str()])
        .collect();
    let values = run_default_with_outputs(&names);
    let weights = default_weights();
    for (prefix, x, y) in &probes {
        let w = weights.get(&format!("{prefix}.weight")).unwrap();
        let b = &weights.get(&format!("{prefix}.bias")).unwrap().data;
        let (out, inp) = (w.shape[0], w.shape[1]);
        let x = &values[x.as_str()];
        let y = &values[y.as_str()];
        assert_eq!(x.len() % inp, 0, "{prefix}: input width");
        let rows = x.len() / inp;
        assert_eq!(y.len(), rows * out, "{prefix}: output size");
        // The image side has 4096 rows; a spread of them is enough.
        for row in (0..rows).step_by((rows / 24).max(1)) {
            for o in 0..out {
                let expected = y[row * out + o];
                let got = b[o]
                    + (0..inp)
                        .map(|i| x[row * inp + i] * w.data[o * inp + i])
                        .sum::<f32>();
                assert!(
                    (got - expected).abs() <= 1e-3 * (1.0 + expected.abs()),
                    "{prefix}: row {row} out {o}: {got} vs ONNX Runtime {expected}"
                );
            }
        }
    }
}

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

#[test]
fn extra_outputs_expose_intermediate_values_to_onnx_runtime() {
    let norm4 = "/transformer/layers.0/norm4/LayerNormalization_output_0";
    let tokens = "/transformer/norm_final_attn/LayerNormalization_output_0";
    let values = run_default_with_outputs(&[norm4, tokens, "low_res_masks"]);
    // Image tokens after the first block: [1, 4096, 256], layer-normalised per token.
    let image = &values[norm4];
    assert_eq!(image.len(), 4096 * 256);
    assert!(image.iter().all(|v| v.is_finite()));
    // 5 output tokens + 2 point tokens.
    assert_eq!(values[tokens].len(), 7 * 256);
    // The graph's own outputs are still there and unchanged in size.
    assert_eq!(values["low_res_masks"].len(), 256 * 256);
}

#[test]
fn every_stage_of_the_default_export_is_readable() {
    use default_export_values::*;
    let (q0, k0, q1, k1) = (
        block_queries(0),
        block_keys(0),
        block_queries(1),
        block_keys(1),
    );
    let hyper: Vec<String> = (0..4).map(hyper_in).collect();
    let mut names = vec![
        SPARSE_EMBEDDING,
        DENSE_EMBEDDING,
        TRANSFORMER_IMAGE,
        DENSE_PE,
        TOKENS,
        &q0,
        &k0,
        &q1,
        &k1,
        HS,
        UPSCALED,
        MASKS,
        IOU,
        "iou_predictions",
    ];
    names.extend(hyper.iter().map(String::as_str));
    let values = run_default_with_outputs(&names);
    let image = 256 * 64 * 64;
    let tokens = 7 * 256;
    for (name, len) in [
        (SPARSE_EMBEDDING, 2 * 256),
        (DENSE_EMBEDDING, image),
        (TRANSFORMER_IMAGE, image),
        (DENSE_PE, image),
        (TOKENS, tokens),
        (&q0, tokens),
        (&k0, image),
        (&q1, tokens),
        (&k1, image),
        (HS, tokens),
        (UPSCALED, 32 * 256 * 256),
        (MASKS, 4 * 256 * 256),
        (IOU, 4),
    ] {
        assert_eq!(values[name].len(), len, "{name}");
    }
    for name in &hyper {
        assert_eq!(values[name.as_str()].len(), 32, "{name}");
    }
    // With no mask input, the dense embedding is the no-mask embedding at every pixel.
    let no_mask = &default_weights()
        .get("prompt_encoder.no_mask_embed.weight")
        .unwrap()
        .data;
    for (channel, &value) in no_mask.iter().enumerate() {
        assert_eq!(values[DENSE_EMBEDDING][channel * 4096 + 1234], value);
    }
    // The IoU head's output is what the graph returns for the selected mask.
    let selected = values["iou_predictions"][0];
    assert!(values[IOU].contains(&selected));
}

#[test]
fn a_missing_weight_is_named() {
    // A named initializer, and an unnamed MatMul weight found through its node.
    let mut model = default_model();
    let lin2 = initializer_of(&model, "/transformer/layers.1/mlp/lin2/MatMul", 1);
    for (removed, expected) in [
        (
            "mask_decoder.transformer.layers.0.norm1.weight".to_string(),
            "mask_decoder.transformer.layers.0.norm1.weight",
        ),
        (lin2, "mask_decoder.transformer.layers.1.mlp.lin2.weight"),
    ] {
        let mut edited = model.clone();
        let graph = graph_mut(&mut edited);
        let before = graph.initializer.len();
        graph
            .initializer
            .retain(|t| t.name.as_deref() != Some(removed.as_str()));
        assert_eq!(graph.initializer.len(), before - 1);
        let err = DecoderWeights::from_onnx_bytes(&encode(&edited)).unwrap_err();
        match &err {
            WeightError::Missing { name, .. } => assert_eq!(name, expected),
            other => panic!("expected a missing weight, got {other}"),
        }
        assert!(err.to_string().contains(expected), "{err}");
    }
    // Unchanged, the re-encoded subset still maps (so the edits above are what failed).
    graph_mut(&mut model);
    DecoderWeights::from_onnx_bytes(&encode(&model)).expect("re-encoded default maps");
}

#[test]
fn a_misshaped_weight_is_named_with_both_shapes() {
    let mut model = default_model();
    let name = "mask_decoder.transformer.layers.0.norm2.bias";
    let tensor = graph_mut(&mut model)
        .initializer
        .iter_mut()
        .find(|t| t.name.as_deref() == Some(name))
        .expect("norm2.bias");
    tensor.dims = vec![255];
    tensor.raw_data.as_mut().unwrap().truncate(255 * 4);
    let err = DecoderWeights::from_onnx_bytes(&encode(&model)).unwrap_err();
    match &err {
        WeightError::WrongShape {
            name: n,
            found,
            expected,
        } => {
            assert_eq!(n, name);
            assert_eq!(found, &[255]);
            assert_eq!(expected, &[256]);
        }
        other => panic!("expected a wrong shape, got {other}"),
    }
    let message = err.to_string();
    assert!(message.contains(name) && message.contains("[255]") && message.contains("[256]"));
}

#[test]
fn take_checks_the_shape_and_removes_the_weight() {
    let mut weights = default_weights().clone();
    let name = "mask_decoder.iou_prediction_head.layers.2.weight";
    let err = weights.take(name, &[256, 4]).unwrap_err();
    assert!(
        matches!(&err, WeightError::WrongShape { found, expected, .. } if found == &[4, 256] && expected == &[256, 4]),
        "{err}"
    );
    let data = weights.take(name, &[4, 256]).expect("right shape");
    assert_eq!(data.len(), 1024);
    assert!(weights.names().all(|n| n != name));
    let again = weights.take(name, &[4, 256]).unwrap_err();
    assert!(matches!(&again, WeightError::Missing { name: n, .. } if n == name));
}

#[test]
fn truncated_and_random_files_are_clean_errors() {
    let bytes = default_bytes();
    for cut in [0, 1, 7, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        let result = DecoderWeights::from_onnx_bytes(&bytes[..cut]);
        assert!(result.is_err(), "truncated at {cut} bytes");
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for len in [1, 16, 1000, 100_000] {
        let noise: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert!(
            DecoderWeights::from_onnx_bytes(&noise).is_err(),
            "{len} random bytes"
        );
    }
    // Not a graph at all: a PNG header.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    assert!(matches!(
        DecoderWeights::from_onnx_bytes(png),
        Err(WeightError::NotOnnx { .. })
    ));
}

#[test]
fn declared_sizes_are_checked_before_allocating() {
    // Dims whose product overflows, dims over the element budget, and dims that do not
    // match the few bytes present: each an error naming the tensor, nothing allocated.
    for dims in [
        vec![1i64 << 40, 1 << 40],
        vec![1 << 14, 1 << 13],
        vec![-1, 256],
    ] {
        let bytes = model_with(float_tensor(FIRST_WEIGHT, &dims, &[1.0]));
        let err = DecoderWeights::from_onnx_bytes(&bytes).unwrap_err();
        assert!(
            matches!(
                &err,
                WeightError::OverBudget { tensor, .. } | WeightError::BadTensor { tensor, .. }
                    if tensor == FIRST_WEIGHT
            ),
            "{dims:?}: {err}"
        );
    }
    let short = model_with(float_tensor(FIRST_WEIGHT, &[256, 256], &[1.0; 3]));
    let err = DecoderWeights::from_onnx_bytes(&short).unwrap_err();
    assert!(
        matches!(&err, WeightError::BadTensor { tensor, .. } if tensor == FIRST_WEIGHT),
        "{err}"
    );
    assert!(err.to_string().contains("12 bytes of raw data"), "{err}");
    // float_data whose count does not match.
    let mut tensor = float_tensor(FIRST_WEIGHT, &[256, 256], &[]);
    tensor.raw_data = None;
    tensor.float_data = vec![0.5; 10];
    let err = DecoderWeights::from_onnx_bytes(&model_with(tensor)).unwrap_err();
    assert!(err.to_string().contains("10 float_data values"), "{err}");
}

#[test]
fn unsupported_tensors_are_named() {
    let mut double = float_tensor(FIRST_WEIGHT, &[256, 256], &[]);
    double.data_type = Some(11);
    let err = DecoderWeights::from_onnx_bytes(&model_with(double)).unwrap_err();
    assert!(
        matches!(&err, WeightError::UnsupportedDataType { tensor, data_type: 11 } if tensor == FIRST_WEIGHT),
        "{err}"
    );
    let mut external = float_tensor(FIRST_WEIGHT, &[256, 256], &[]);
    external.raw_data = None;
    external.data_location = Some(DATA_LOCATION_EXTERNAL);
    external.external_data = vec![crate::native::onnx_proto::StringStringEntryProto {
        key: Some("location".into()),
        value: Some("weights.bin".into()),
    }];
    let err = DecoderWeights::from_onnx_bytes(&model_with(external)).unwrap_err();
    assert!(
        matches!(&err, WeightError::ExternalData { tensor } if tensor == FIRST_WEIGHT),
        "{err}"
    );
}

#[test]
fn float16_weights_are_widened() {
    let values = [1.0f32, -2.5, 0.099975586, 65504.0];
    let raw: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let tensor = TensorProto {
        name: Some("w".into()),
        dims: vec![2, 2],
        data_type: Some(DATA_TYPE_FLOAT16),
        raw_data: Some(raw),
        ..Default::default()
    };
    assert_eq!(decode(&tensor, "w").unwrap().data, values);
    // The same values as int32_data, one bit pattern per element.
    let bits = TensorProto {
        raw_data: None,
        int32_data: values
            .iter()
            .map(|&v| i32::from(half::f16::from_f32(v).to_bits()))
            .collect(),
        ..tensor.clone()
    };
    assert_eq!(decode(&bits, "w").unwrap().data, values);
}

#[test]
fn an_oversized_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.onnx");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_FILE_BYTES + 1).unwrap(); // sparse: no disk used
    let err = DecoderWeights::from_onnx_file(&path).unwrap_err();
    assert!(matches!(err, WeightError::FileTooLarge { .. }), "{err}");
    let err = DecoderWeights::from_onnx_file(&dir.path().join("absent.onnx")).unwrap_err();
    assert!(matches!(err, WeightError::Io { .. }), "{err}");
}

/// Another export's naming: nodes under `/model/mask_decoder/…`, every folded weight
/// renamed, Linear weights as `Gemm` with `transB = 0` ([in, out]), and the tokens and
/// no-mask embedding as `Constant` nodes rather than initializers.
#[test]
fn other_export_styles_map_to_the_same_weights() {
    let mut model = default_model();
    let graph = graph_mut(&mut model);
    for node in &mut graph.node {
        if let Some(name) = node.name.as_mut() {
            if name.starts_with("/transformer") {
                *name = format!("/model/mask_decoder{name}");
            }
        }
    }
    let mut renamed = HashMap::new();
    for (i, tensor) in graph.initializer.iter_mut().enumerate() {
        let name = tensor.name.clone().unwrap_or_default();
        if name.starts_with("onnx::") {
            let new = format!("folded_{i}");
            renamed.insert(name, new.clone());
            tensor.name = Some(new);
        }
    }
    for node in &mut graph.node {
        for input in &mut node.input {
            if let Some(new) = renamed.get(input) {
                *input = new.clone();
            }
        }
    }
    // The IoU head's first layer as a Gemm with an [in, out] weight.
    let name = "mask_decoder.iou_prediction_head.layers.0.weight";
    let position = graph
        .initializer
        .iter()
        .position(|t| t.name.as_deref() == Some(name))
        .unwrap();
    let original = graph.initializer.remove(position);
    let decoded = decode(&original, name).unwrap();
    let transposed = transpose(decoded.clone(), name).unwrap();
    graph
        .initializer
        .push(float_tensor("gemm_weight", &[256, 256], &transposed.data));
    let gemm = graph
        .node
        .iter_mut()
        .find(|n| n.name.as_deref() == Some("/iou_prediction_head/layers.0/Gemm"))
        .unwrap();
    gemm.input[1] = "gemm_weight".into();
    for attribute in &mut gemm.attribute {
        if attribute.name.as_deref() == Some("transB") {
            attribute.i = Some(0);
        }
    }
    // The tokens and the no-mask embedding as Constant nodes.
    for consumer in ["/Expand_1", "/Mul_9"] {
        let value = graph
            .node
            .iter()
            .find(|n| n.name.as_deref() == Some(consumer))
            .unwrap()
            .input
            .iter()
            .find(|v| v.starts_with("folded_"))
            .unwrap()
            .clone();
        let position = graph
            .initializer
            .iter()
            .position(|t| t.name.as_deref() == Some(value.as_str()))
            .unwrap();
        let tensor = graph.initializer.remove(position);
        graph.node.insert(
            0,
            NodeProto {
                input: vec![],
                output: vec![value.clone()],
                name: Some(format!("{consumer}_constant")),
                op_type: Some("Constant".into()),
                attribute: vec![AttributeProto {
                    name: Some("value".into()),
                    t: Some(TensorProto {
                        name: None,
                        ..tensor
                    }),
                    r#type: Some(4),
                    ..Default::default()
                }],
            },
        );
    }
    let mapped = DecoderWeights::from_onnx_bytes(&encode(&model)).expect("maps");
    let default = default_weights();
    assert_eq!(
        mapped.names().collect::<Vec<_>>(),
        default.names().collect::<Vec<_>>()
    );
    for name in default.names() {
        assert_eq!(mapped.get(name), default.get(name), "{name}");
    }
    assert_eq!(mapped.get(name).unwrap().data, decoded.data);
}

/// Without module scopes in node names (older exporters write `MatMul_123`): Linear
/// weights are found through their named bias, the rest by name or by a shape only it has.
#[test]
fn every_weight_is_found_when_nodes_are_unnamed() {
    let mut model = default_model();
    for (i, node) in graph_mut(&mut model).node.iter_mut().enumerate() {
        node.name = Some(format!("{}_{i}", node.op_type.as_deref().unwrap_or("")));
    }
    let mapped = DecoderWeights::from_onnx_bytes(&encode(&model)).expect("maps");
    let default = default_weights();
    assert_eq!(mapped.names().count(), default.names().count());
    for name in default.names() {
        assert_eq!(mapped.get(name), default.get(name), "{name}");
    }
}

#[test]
fn module_paths_from_node_names() {
    for (node, module) in [
        (
            "/transformer/layers.0/self_attn/q_proj/MatMul",
            Some("transformer.layers.0.self_attn.q_proj"),
        ),
        (
            "/model/mask_decoder/transformer/layers.1/mlp/lin2/MatMul",
            Some("transformer.layers.1.mlp.lin2"),
        ),
        (
            "/mask_downscaling/mask_downscaling.1/Mul",
            Some("mask_downscaling.1"),
        ),
        (
            "/model/prompt_encoder/mask_downscaling/mask_downscaling.4/Add_1",
            Some("mask_downscaling.4"),
        ),
        (
            "/output_hypernetworks_mlps.2/layers.1/Gemm",
            Some("output_hypernetworks_mlps.2.layers.1"),
        ),
        ("/Mul_9", None),
        ("MatMul_123", None),
        ("", None),
    ] {
        assert_eq!(module_path(node).as_deref(), module, "{node}");
    }
}

/// `graph { node {} node {} … }`: `count` empty nodes, 2 bytes each on the wire.
fn empty_nodes(count: usize) -> Vec<u8> {
    let body = [0x0a, 0x00].repeat(count);
    let mut bytes = vec![0x3a]; // field 7 (graph), length-delimited
    let mut len = body.len() as u64;
    while len >= 0x80 {
        bytes.push((len as u8) | 0x80);
        len >>= 7;
    }
    bytes.push(len as u8);
    bytes.extend_from_slice(&body);
    bytes
}

#[test]
fn the_decoded_size_estimate_covers_what_prost_allocates() {
    let bytes = default_bytes();
    let bound = decoded_size_estimate(bytes).unwrap();
    // The weights are raw bytes: a real export decodes to about its own size.
    assert!(bound >= bytes.len() as u64 * 9 / 10 && bound <= 2 * bytes.len() as u64);
    let nodes = 100_000;
    let bound = decoded_size_estimate(&empty_nodes(nodes)).unwrap();
    assert!(bound >= (nodes * std::mem::size_of::<NodeProto>()) as u64);
    // 1000 dims packed as 1-byte varints: 8 bytes each once decoded.
    let tensor = TensorProto {
        dims: vec![1; 1000],
        ..Default::default()
    };
    let packed = ModelProto {
        graph: Some(GraphProto {
            initializer: vec![tensor],
            ..Default::default()
        }),
    };
    assert!(decoded_size_estimate(&packed.encode_to_vec()).unwrap() >= 8000);
}

#[test]
fn a_file_that_decodes_to_far_more_than_its_size_is_refused() {
    // 8 MB of empty nodes would decode to about 0.5 GB (plus vector growth).
    let bytes = empty_nodes(4 << 20);
    let err = DecoderWeights::from_onnx_bytes(&bytes).unwrap_err();
    assert!(matches!(err, WeightError::DecodeTooLarge { .. }), "{err}");
    // The same shape of file, small, is decoded (and found to hold no weights).
    let err = DecoderWeights::from_onnx_bytes(&empty_nodes(1000)).unwrap_err();
    assert!(matches!(err, WeightError::Missing { .. }), "{err}");
}

#[test]
fn names_from_the_file_are_shown_short_and_on_one_line() {
    // The tokens (found by shape) under a long multi-line name, with a byte missing.
    let mut model = default_model();
    let tokens = initializer_of(&model, "/Expand_1", 0);
    let hostile = format!("evil\n{}", "x".repeat(10_000));
    let graph = graph_mut(&mut model);
    for node in &mut graph.node {
        for input in &mut node.input {
            if *input == tokens {
                *input = hostile.clone();
            }
        }
    }
    let tensor = graph
        .initializer
        .iter_mut()
        .find(|t| t.name.as_deref() == Some(tokens.as_str()))
        .unwrap();
    tensor.name = Some(hostile.clone());
    tensor.raw_data.as_mut().unwrap().pop();
    let err = DecoderWeights::from_onnx_bytes(&encode(&model)).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, WeightError::BadTensor { .. }), "{message}");
    assert!(!message.contains('\n') && message.len() < 400, "{message}");
    assert!(message.contains("evil\u{fffd}xxx"), "{message}");

    // A thousand axes: refused without listing them.
    let bytes = model_with(float_tensor(FIRST_WEIGHT, &[1; 1000], &[1.0]));
    let message = DecoderWeights::from_onnx_bytes(&bytes)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("1000 axes") && message.len() < 200,
        "{message}"
    );
}

#[test]
fn a_module_crowded_with_nodes_is_ambiguous_after_a_bounded_search() {
    // 10 000 MatMul nodes claim to be q_proj, each with its own [256, 256] weight.
    let weight = float_tensor("w", &[256, 256], &[0.0; 256 * 256]);
    let mut graph = GraphProto::default();
    for i in 0..10_000 {
        graph.node.push(NodeProto {
            input: vec!["x".into(), format!("w{i}")],
            output: vec![format!("y{i}")],
            name: Some("/transformer/layers.0/self_attn/q_proj/MatMul".into()),
            op_type: Some("MatMul".into()),
            attribute: vec![],
        });
    }
    graph.initializer = (0..10_000)
        .map(|i| TensorProto {
            name: Some(format!("w{i}")),
            ..weight.clone()
        })
        .take(20)
        .collect();
    let bytes = encode(&ModelProto { graph: Some(graph) });
    let err = DecoderWeights::from_onnx_bytes(&bytes).unwrap_err();
    match &err {
        WeightError::Ambiguous {
            name, candidates, ..
        } => {
            assert_eq!(name, FIRST_WEIGHT);
            assert_eq!(candidates.matches('`').count(), 2 * 16, "{candidates}");
        }
        other => panic!("expected an ambiguous weight, got {other}"),
    }
}
