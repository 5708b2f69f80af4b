//! The native decoder against ONNX Runtime running the same file, stage by stage: the
//! graph is given extra outputs at each stage (`with_extra_outputs`) and every one is
//! compared with the native value for prompts of every kind.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use ort::value::Tensor;

use super::onnx_weights::with_extra_outputs;
use super::prompt_encoder::{self, PIXELS};
use super::transformer::Trace;
use super::*;
use crate::{EngineOptions, LowResLogits, ModelSpec, Point, PointLabel, Prompt, SamModel, LOW_RES};

pub(crate) fn default_spec() -> ModelSpec {
    let home = samkit_assets::Home::from_env().expect("samkit home");
    let assets = samkit_assets::ensure_default(&home, &samkit_assets::Progress::hidden())
        .expect("default model and runtime (run `samkit setup` to see why they cannot be fetched)");
    crate::init_runtime(&assets.ort_lib).expect("ONNX Runtime loads");
    ModelSpec {
        id: assets.model.id.clone(),
        encoder: assets.model.encoder.clone(),
        decoder: assets.model.decoder.clone(),
    }
}

pub(crate) fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name)
}

const STAGES: [&str; 12] = [
    "/Concat_2_output_0",
    "/Add_6_output_0",
    "/transformer/layers.0/norm3/LayerNormalization_output_0",
    "/transformer/layers.0/norm4/LayerNormalization_output_0",
    "/transformer/layers.1/norm3/LayerNormalization_output_0",
    "/transformer/layers.1/norm4/LayerNormalization_output_0",
    "/transformer/norm_final_attn/LayerNormalization_output_0",
    "/output_upscaling/output_upscaling.0/ConvTranspose_output_0",
    "/output_hypernetworks_mlps.2/layers.2/Gemm_output_0",
    "/iou_prediction_head/layers.2/Gemm_output_0",
    "/Flatten_output_0",
    "low_res_masks",
];

/// Runs the ONNX graph with extra outputs and returns every stage, flattened.
fn onnx_stages(
    session: &mut ort::session::Session,
    embedding: &Embedding,
    coords: &[f32],
    labels: &[f32],
    mask: Option<&LowResLogits>,
) -> HashMap<String, Vec<f32>> {
    let n = labels.len();
    let size = embedding.original;
    let (mask, has) = match mask {
        Some(m) => (m.0.clone(), 1.0f32),
        None => (vec![0.0; LOW_RES * LOW_RES], 0.0),
    };
    let outputs = session
        .run(ort::inputs![
            "image_embeddings" => Tensor::from_array(([1usize, 256, 64, 64], embedding.data.clone())).unwrap(),
            "point_coords" => Tensor::from_array(([1usize, n, 2], coords.to_vec())).unwrap(),
            "point_labels" => Tensor::from_array(([1usize, n], labels.to_vec())).unwrap(),
            "mask_input" => Tensor::from_array(([1usize, 1, LOW_RES, LOW_RES], mask)).unwrap(),
            "has_mask_input" => Tensor::from_array(([1usize], vec![has])).unwrap(),
            "orig_im_size" => Tensor::from_array(([2usize], vec![size.height as f32, size.width as f32])).unwrap(),
        ])
        .expect("ONNX Runtime runs the graph with extra outputs");
    STAGES
        .iter()
        .map(|&s| {
            let (_, d) = outputs[s].try_extract_tensor::<f32>().unwrap();
            (s.to_string(), d.to_vec())
        })
        .collect()
}

/// Max |a − b| and the largest |b|, to judge the difference against the scale.
fn compare(stage: &str, native: &[f32], onnx: &[f32], tol: f32) {
    assert_eq!(native.len(), onnx.len(), "{stage}: length");
    let mut worst = 0f32;
    let mut scale = 0f32;
    for (a, b) in native.iter().zip(onnx) {
        worst = worst.max((a - b).abs());
        scale = scale.max(b.abs());
    }
    assert!(
        worst <= tol,
        "{stage}: max |native − onnx| = {worst:e} (values up to {scale}), over {tol:e}"
    );
}

fn flat(a: ArrayView2<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

/// `[256, 4096]` channel-major (ONNX's NCHW) from tokens `[4096, C]`.
fn channel_major(a: &Array2<f32>) -> Vec<f32> {
    flat(a.t())
}

fn prompts(size: crate::Size) -> Vec<Prompt> {
    let (w, h) = (size.width as f32, size.height as f32);
    let pt = |x: f32, y: f32, label| Point { x, y, label };
    vec![
        Prompt {
            points: vec![pt(w * 0.5, h * 0.5, PointLabel::Positive)],
            ..Default::default()
        },
        Prompt {
            points: vec![
                pt(w * 0.4, h * 0.6, PointLabel::Positive),
                pt(w * 0.1, h * 0.1, PointLabel::Negative),
            ],
            ..Default::default()
        },
        Prompt {
            bbox: Some(crate::BoxPrompt {
                x0: w * 0.2,
                y0: h * 0.1,
                x1: w * 0.8,
                y1: h * 0.95,
            }),
            points: vec![pt(w * 0.5, h * 0.5, PointLabel::Positive)],
            ..Default::default()
        },
    ]
}

#[test]
fn every_stage_matches_onnx_runtime_for_every_kind_of_prompt() {
    let spec = default_spec();
    let model = SamModel::load(
        &spec,
        EngineOptions {
            decoder: crate::DecoderBackend::Onnx,
            ..Default::default()
        },
    )
    .unwrap();
    let img = crate::load_rgb(&sample("chelsea.png")).unwrap();
    let embedding = model.embed(&img).unwrap();
    let native = NativeDecoder::load(&spec.decoder, 1).unwrap();

    let bytes = std::fs::read(&spec.decoder).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let staged = dir.path().join("staged.onnx");
    std::fs::write(&staged, with_extra_outputs(&bytes, &STAGES)).unwrap();
    let mut session =
        crate::model::open_session("decoder", &staged, EngineOptions::default(), false).unwrap();

    let mut cases: Vec<Prompt> = prompts(embedding.original);
    // A refinement: the first prompt's selected logits as mask input.
    let first = model.predict(&embedding, &cases[0]).unwrap();
    cases.push(Prompt {
        mask_input: Some(first.candidates[0].low_res.clone()),
        ..cases[1].clone()
    });
    for (i, prompt) in cases.iter().enumerate() {
        let (coords, labels) = prompt.decoder_points(embedding.original);
        let input = DecoderInput {
            coords: &coords,
            labels: &labels,
            mask: prompt.mask_input.as_ref(),
        };
        let onnx = onnx_stages(&mut session, &embedding, &coords, &labels, input.mask);
        let case = |s: &str| format!("prompt {i}: {s}");

        let tokens = native.tokens(&input);
        compare(
            &case("prompt tokens"),
            &flat(tokens.view()),
            &onnx[STAGES[0]],
            1e-5,
        );
        let dense = prompt_encoder::dense_embedding(&native.weights.prompt, input.mask);
        compare(
            &case("dense embedding"),
            &channel_major(&dense),
            &onnx[STAGES[1]],
            1e-4,
        );

        let mut trace = Trace::default();
        let out = native.decode_reference(&embedding, &input, Some(&mut trace));
        compare(
            &case("layer 0 queries"),
            &flat(trace.queries[0].view()),
            &onnx[STAGES[2]],
            1e-3,
        );
        compare(
            &case("layer 0 keys"),
            &flat(trace.keys[0].view()),
            &onnx[STAGES[3]],
            1e-3,
        );
        compare(
            &case("layer 1 queries"),
            &flat(trace.queries[1].view()),
            &onnx[STAGES[4]],
            1e-3,
        );
        compare(
            &case("layer 1 keys"),
            &flat(trace.keys[1].view()),
            &onnx[STAGES[5]],
            1e-3,
        );
        compare(
            &case("final tokens"),
            &flat(trace.hs.view()),
            &onnx[STAGES[6]],
            1e-3,
        );

        // The first transposed convolution, as NCHW [64, 128, 128].
        let up0 = mask_head::conv_t(trace.keys[1].view(), &native.weights.decoder.up0);
        let mut nchw = vec![0f32; 64 * 128 * 128];
        for (r, row) in up0.rows().into_iter().enumerate() {
            let (p, s) = (r / 4, r % 4);
            let (y, x) = (2 * (p / 64) + s / 2, 2 * (p % 64) + s % 2);
            for (c, v) in row.iter().enumerate() {
                nchw[(c * 128 + y) * 128 + x] = *v;
            }
        }
        compare(&case("upscaling conv 1"), &nchw, &onnx[STAGES[7]], 1e-3);
        let hyper = mask_head::hyper_weights(&native.weights.decoder, trace.hs.view());
        compare(
            &case("hypernetwork 2"),
            &hyper.row(2).to_vec(),
            &onnx[STAGES[8]],
            1e-3,
        );
        compare(&case("IoU head"), &out.iou.to_vec(), &onnx[STAGES[9]], 1e-4);
        compare(
            &case("all four masks"),
            &flat(out.masks.view()),
            &onnx[STAGES[10]],
            1e-3,
        );

        let selected = crate::export_selection(&out.iou.to_vec(), labels.len());
        compare(
            &case("selected low-res logits"),
            &out.masks.row(selected).to_vec(),
            &onnx[STAGES[11]],
            1e-3,
        );
        assert_eq!(out.masks.dim(), (4, LOW_RES * LOW_RES));
        let _ = PIXELS;
    }
}

#[test]
fn the_cached_path_equals_the_reference_path() {
    let spec = default_spec();
    let model = SamModel::load(
        &spec,
        EngineOptions {
            decoder: crate::DecoderBackend::Onnx,
            ..Default::default()
        },
    )
    .unwrap();
    let native = NativeDecoder::load(&spec.decoder, 1).unwrap();
    for name in ["chelsea.png", "coffee.png"] {
        let img = crate::load_rgb(&sample(name)).unwrap();
        let embedding = model.embed(&img).unwrap();
        let cache = native.image_cache(&embedding);
        let mut cases = prompts(embedding.original);
        // Refinements: the previous prediction's logits as mask input.
        for i in 0..2 {
            let previous = model.predict(&embedding, &cases[i]).unwrap();
            cases.push(Prompt {
                mask_input: Some(previous.candidates[0].low_res.clone()),
                ..cases[(i + 1) % 3].clone()
            });
        }
        for (i, prompt) in cases.iter().enumerate() {
            let (coords, labels) = prompt.decoder_points(embedding.original);
            let input = DecoderInput {
                coords: &coords,
                labels: &labels,
                mask: prompt.mask_input.as_ref(),
            };
            let masked;
            let cache = match input.mask {
                None => &cache,
                Some(m) => {
                    let z = prompt_encoder::mask_features(&native.weights.prompt, m);
                    masked = cache.with_mask(&native.weights, &z);
                    &masked
                }
            };
            let case = |s: &str| format!("{name} prompt {i}: {s}");
            let mut want = Trace::default();
            let reference = native.decode_reference(&embedding, &input, Some(&mut want));
            let mut got = Trace::default();
            let fast = native.decode_cached(cache, &input, Some(&mut got));
            compare(
                &case("layer 1 keys"),
                &flat(got.keys[0].view()),
                &flat(want.keys[1].view()),
                1e-4,
            );
            compare(
                &case("final tokens"),
                &flat(got.hs.view()),
                &flat(want.hs.view()),
                1e-4,
            );
            compare(
                &case("IoU"),
                &fast.iou.to_vec(),
                &reference.iou.to_vec(),
                1e-4,
            );
            compare(
                &case("masks"),
                &flat(fast.masks.view()),
                &flat(reference.masks.view()),
                1e-3,
            );
        }
    }
}
