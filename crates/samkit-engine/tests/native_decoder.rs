//! The native decoder through the public API: all four candidates, batches equal to
//! one-at-a-time decoding, the shipped decoder's selection, and the ONNX Runtime
//! fallback for a file whose weights cannot be mapped.

use std::path::Path;

use samkit_assets::{Home, Progress};
use samkit_engine::*;

fn spec() -> ModelSpec {
    let assets = samkit_assets::ensure_default(&Home::from_env().unwrap(), &Progress::hidden())
        .expect("default model (samkit setup)");
    init_runtime(&assets.ort_lib).unwrap();
    ModelSpec {
        id: assets.model.id,
        encoder: assets.model.encoder,
        decoder: assets.model.decoder,
    }
}

fn opts(decoder: DecoderBackend, threads: usize) -> EngineOptions {
    EngineOptions {
        intra_threads: threads,
        decoder,
        ..Default::default()
    }
}

fn sample(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name)
}

fn click(x: f32, y: f32, label: PointLabel) -> Point {
    Point { x, y, label }
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn mask_iou(a: &MaskLogits, b: &MaskLogits) -> f64 {
    let (mut inter, mut union) = (0u64, 0u64);
    for (x, y) in a.data.iter().zip(&b.data) {
        inter += u64::from(*x > 0.0 && *y > 0.0);
        union += u64::from(*x > 0.0 || *y > 0.0);
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

#[test]
fn batches_equal_one_at_a_time_and_the_selection_matches_onnx() {
    let spec = spec();
    let onnx = SamModel::load(&spec, opts(DecoderBackend::Onnx, 1)).unwrap();
    let native =
        SamDecoder::load(&spec.id, &spec.decoder, opts(DecoderBackend::Native, 2)).unwrap();
    assert_eq!(native.backend(), DecoderBackend::Native);
    assert!(native.notice().is_none());
    let img = load_rgb(&sample("coffee.png")).unwrap();
    let emb = onnx.embed(&img).unwrap();
    let (w, h) = (img.width() as f32, img.height() as f32);
    let first = Prompt {
        points: vec![click(w * 0.5, h * 0.45, PointLabel::Positive)],
        ..Default::default()
    };
    let refined_from = onnx.predict(&emb, &first).unwrap().candidates[0]
        .low_res
        .clone();
    let prompts = vec![
        first.clone(),
        Prompt {
            points: vec![
                click(w * 0.5, h * 0.45, PointLabel::Positive),
                click(w * 0.1, h * 0.9, PointLabel::Negative),
            ],
            ..Default::default()
        },
        Prompt {
            bbox: Some(BoxPrompt {
                x0: w * 0.2,
                y0: h * 0.1,
                x1: w * 0.8,
                y1: h * 0.8,
            }),
            ..Default::default()
        },
        Prompt {
            points: vec![
                click(w * 0.5, h * 0.45, PointLabel::Positive),
                click(w * 0.3, h * 0.3, PointLabel::Positive),
            ],
            mask_input: Some(refined_from),
            ..Default::default()
        },
    ];
    let batch = native.decode_batch(&emb, &prompts).unwrap();
    assert_eq!(batch.len(), prompts.len());
    for (i, (p, b)) in prompts.iter().zip(&batch).enumerate() {
        let single = native.decode_candidates(&emb, p).unwrap();
        assert_eq!(b.candidates.len(), MASK_TOKENS, "prompt {i}");
        assert_eq!(b.selected, single.selected, "prompt {i}");
        for (x, y) in b.candidates.iter().zip(&single.candidates) {
            assert_eq!(x.token, y.token);
            assert_eq!(x.iou, y.iou, "prompt {i}: batched and single IoU differ");
            assert_eq!(
                x.low_res, y.low_res,
                "prompt {i}: batched and single logits differ"
            );
        }
        let tokens: Vec<_> = b.candidates.iter().map(|c| c.token).collect();
        assert_eq!(tokens, [Some(0), Some(1), Some(2), Some(3)]);
        for c in &b.candidates {
            assert!(
                (0.0..=1.0).contains(&c.stability),
                "prompt {i}: stability {}",
                c.stability
            );
        }

        // The selected candidate is what the shipped decoder returns.
        let want = onnx.predict(&emb, p).unwrap();
        let want = &want.candidates[0];
        let got = b.selected();
        let dev = max_abs(&got.low_res.0, &want.low_res.0);
        assert!(
            dev <= 1e-3,
            "prompt {i}: selected low-res logits differ by {dev}"
        );
        assert!(
            (got.iou - want.iou).abs() <= 1e-3,
            "prompt {i}: IoU {} vs {}",
            got.iou,
            want.iou
        );
        // SAM's postprocessing in Rust equals the exported graph's Resize ops.
        let ours = upscale_logits(&want.low_res, emb.original);
        let resize_dev = max_abs(&ours.data, &want.logits.data);
        assert!(
            resize_dev <= 1e-5,
            "prompt {i}: upscaling differs by {resize_dev}"
        );
        assert_eq!(
            ours.to_bools(),
            want.logits.to_bools(),
            "prompt {i}: upscaled mask"
        );
        let full = native.predict(&emb, p).unwrap();
        let iou = mask_iou(&full.candidates[0].logits, &want.logits);
        assert!(iou >= 0.999, "prompt {i}: full-resolution masks IoU {iou}");
    }
    // A lone click selects among the multimask outputs, more points the single one.
    assert_ne!(batch[0].selected, 0);
    assert_eq!(batch[1].selected, 0);
}

/// Renames, in place and at the same length, the strings that identify one weight, so
/// ONNX Runtime still runs the file but nothing tells the native reader what it is.
fn obscure(bytes: &mut [u8], from: &str, to: &str) -> usize {
    assert_eq!(from.len(), to.len());
    let (f, t) = (from.as_bytes(), to.as_bytes());
    let mut n = 0;
    let mut i = 0;
    while i + f.len() <= bytes.len() {
        if &bytes[i..i + f.len()] == f {
            bytes[i..i + f.len()].copy_from_slice(t);
            n += 1;
            i += f.len();
        } else {
            i += 1;
        }
    }
    n
}

#[test]
fn an_unmappable_decoder_falls_back_to_onnx_runtime_with_a_notice() {
    let spec = spec();
    let mut bytes = std::fs::read(&spec.decoder).unwrap();
    assert!(
        obscure(
            &mut bytes,
            "layers.0/self_attn/q_proj/",
            "layers.0/self_attn/XXXXXX/"
        ) > 0
    );
    assert!(
        obscure(
            &mut bytes,
            "layers.0.self_attn.q_proj.bias",
            "layers.0.self_attn.q_proj.XXXX"
        ) > 0
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obscured.onnx");
    std::fs::write(&path, &bytes).unwrap();
    let decoder = SamDecoder::load(&spec.id, &path, opts(DecoderBackend::Native, 1)).unwrap();
    assert_eq!(decoder.backend(), DecoderBackend::Onnx);
    let notice = decoder.notice().expect("a notice says why");
    assert!(
        notice.contains("q_proj") && notice.contains("ONNX Runtime"),
        "{notice}"
    );
    assert!(!notice.contains('\n'), "one line: {notice}");

    // It still decodes, through ONNX Runtime.
    let model = SamModel::load(&spec, opts(DecoderBackend::Onnx, 1)).unwrap();
    let img = load_rgb(&sample("chelsea.png")).unwrap();
    let emb = model.embed(&img).unwrap();
    let prompt = Prompt {
        points: vec![click(200.0, 150.0, PointLabel::Positive)],
        ..Default::default()
    };
    let got = decoder.predict(&emb, &prompt).unwrap();
    let want = model.predict(&emb, &prompt).unwrap();
    assert_eq!(got.candidates[0].low_res, want.candidates[0].low_res);

    // Asking for ONNX Runtime explicitly is not a fallback.
    let explicit = SamDecoder::load(&spec.id, &path, opts(DecoderBackend::Onnx, 1)).unwrap();
    assert!(explicit.notice().is_none());
}
