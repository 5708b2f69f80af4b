//! Missing, mis-shaped, truncated, oversized and crafted files: clean errors, bounded work.

use super::*;

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
