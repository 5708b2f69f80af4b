//! Parity with the reference pipeline (onnxruntime-python + Pillow + segment-anything's
//! transforms): replays `grabcut/reference/clicks_prev.json` teacher-forced — for each
//! image and k = 1..20, the first k clicks, with the previous call's low-res logits fed
//! back from click 2 on — and compares every IoU with the recorded one.
//!
//! The model decodes with the default (native) decoder; at every click the ONNX decoder
//! decodes the same prompt too, and the two must agree: selected low-res logits within
//! 1e-3, full-resolution masks with IoU ≥ 0.999.
//!
//! Needs the default model and ONNX Runtime (fetched on first use into the samkit home).
//! `SAMKIT_PARITY_IMAGES=N` limits the run to the first N images.

use std::path::{Path, PathBuf};

use samkit_assets::{Home, Progress};
use samkit_engine::{
    init_runtime, load_rgb, DecoderBackend, EngineOptions, ModelSpec, Point, PointLabel, Prompt,
    SamDecoder, SamModel,
};

/// The GrabCut reference data (`$SAMKIT_TEST_DATA/grabcut`), or `None` when it is absent
/// (the skip is recorded; see `samkit-testdata`).
fn data() -> Option<PathBuf> {
    samkit_testdata::reference_data("samkit-engine parity", "grabcut/reference/clicks_prev.json")
        .map(|_| samkit_testdata::data_root().join("grabcut"))
}

pub fn default_model() -> (SamModel, SamDecoder) {
    let home = Home::from_env().expect("samkit home");
    let assets = samkit_assets::ensure_default(&home, &Progress::hidden())
        .expect("default model and runtime (run `samkit setup` to see why they cannot be fetched)");
    init_runtime(&assets.ort_lib).expect("ONNX Runtime loads");
    let spec = ModelSpec {
        id: assets.model.id.clone(),
        encoder: assets.model.encoder.clone(),
        decoder: assets.model.decoder.clone(),
    };
    let model = SamModel::load(
        &spec,
        EngineOptions {
            intra_threads: 2,
            ..Default::default()
        },
    )
    .expect("default model loads");
    assert_eq!(model.decoder().backend(), DecoderBackend::Native);
    let onnx = SamDecoder::load(
        &spec.id,
        &spec.decoder,
        EngineOptions {
            intra_threads: 2,
            decoder: DecoderBackend::Onnx,
            ..Default::default()
        },
    )
    .expect("ONNX decoder loads");
    (model, onnx)
}

fn grey(path: &Path) -> Vec<bool> {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_luma8()
        .into_raw()
        .into_iter()
        .map(|v| v > 127)
        .collect()
}

fn iou(pred: &[bool], gt: &[bool], ignore: Option<&[bool]>) -> f64 {
    let (mut inter, mut union) = (0u64, 0u64);
    for i in 0..gt.len() {
        if ignore.is_some_and(|ig| ig[i]) {
            continue;
        }
        inter += (pred[i] && gt[i]) as u64;
        union += (pred[i] || gt[i]) as u64;
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

#[derive(serde::Deserialize)]
struct Record {
    name: String,
    #[serde(rename = "H")]
    h: u32,
    #[serde(rename = "W")]
    w: u32,
    clicks: Vec<[u32; 3]>,
    ious: Vec<f64>,
}

#[test]
fn replays_reference_clicks_teacher_forced() {
    let Some(dir) = data() else { return };
    let path = dir.join("reference/clicks_prev.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let records: Vec<Record> = serde_json::from_str(&text).unwrap();
    let limit = std::env::var("SAMKIT_PARITY_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(records.len());
    let (model, onnx) = default_model();
    let (mut max_dev, mut sum_dev, mut n) = (0f64, 0f64, 0usize);
    let (mut max_logit_dev, mut min_mask_iou) = (0f32, 1f64);
    let mut worst_decoder = String::new();
    let mut worst = String::new();
    for rec in records.iter().take(limit) {
        let img = load_rgb(&dir.join(format!("images/{}.png", rec.name))).unwrap();
        assert_eq!((img.width(), img.height()), (rec.w, rec.h), "{}", rec.name);
        let gt = grey(&dir.join(format!("masks/{}.png", rec.name)));
        let ignore_path = dir.join(format!("ignore/{}.png", rec.name));
        let ignore = ignore_path.exists().then(|| grey(&ignore_path));
        let embedding = model.embed(&img).unwrap();
        let mut prev = None;
        for k in 1..=rec.clicks.len() {
            let points = rec.clicks[..k]
                .iter()
                .map(|&[y, x, pos]| Point {
                    x: x as f32,
                    y: y as f32,
                    label: if pos == 1 {
                        PointLabel::Positive
                    } else {
                        PointLabel::Negative
                    },
                })
                .collect();
            let prompt = Prompt {
                points,
                bbox: None,
                mask_input: prev.take(),
            };
            let pred = model.predict(&embedding, &prompt).unwrap();
            let best = pred.best();
            let shipped = onnx.predict(&embedding, &prompt).unwrap();
            let shipped = &shipped.candidates[0];
            let logit_dev = best
                .low_res
                .0
                .iter()
                .zip(&shipped.low_res.0)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let mask_iou = iou(&best.logits.to_bools(), &shipped.logits.to_bools(), None);
            if logit_dev > max_logit_dev || mask_iou < min_mask_iou {
                worst_decoder = format!("{} click {k}", rec.name);
            }
            max_logit_dev = max_logit_dev.max(logit_dev);
            min_mask_iou = min_mask_iou.min(mask_iou);
            let got = iou(&best.logits.to_bools(), &gt, ignore.as_deref());
            let dev = (got - rec.ious[k - 1]).abs();
            if dev > max_dev {
                max_dev = dev;
                worst = format!("{} click {k}: {got:.6} vs {:.6}", rec.name, rec.ious[k - 1]);
            }
            sum_dev += dev;
            n += 1;
            prev = Some(best.low_res.clone());
        }
    }
    println!(
        "parity over {} images, {n} clicks: max |ΔIoU| = {max_dev:.2e} ({worst}), mean |ΔIoU| = {:.2e}",
        limit.min(records.len()),
        sum_dev / n as f64
    );
    println!(
        "native vs ONNX decoder: max |Δ low-res logit| = {max_logit_dev:.2e}, min mask IoU = {min_mask_iou:.6} (worst: {worst_decoder})"
    );
    assert!(max_dev <= 1e-3, "max deviation {max_dev} at {worst}");
    assert!(
        max_logit_dev <= 1e-3,
        "native and ONNX low-res logits differ by {max_logit_dev} at {worst_decoder}"
    );
    assert!(
        min_mask_iou >= 0.999,
        "native and ONNX masks have IoU {min_mask_iou} at {worst_decoder}"
    );
}
