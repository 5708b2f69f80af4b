//! Other exporters' naming: the same weights found through other routes.

use super::*;

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
