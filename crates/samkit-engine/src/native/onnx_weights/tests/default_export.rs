//! The default export: every weight mapped, in PyTorch layout, as ONNX Runtime uses it.

use super::*;

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
