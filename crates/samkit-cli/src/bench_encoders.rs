//! `samkit bench`'s encoder comparison: ONNX Runtime f32, OpenVINO f32 and OpenVINO bf16
//! on the same image in one run, taking turns (the order rotating every round), each
//! timed alone and as the web app's first mask on a new image (encode, then one click).

use std::time::Instant;

use samkit_engine::preprocess::encoder_input;
use samkit_engine::{
    EncoderBackend, EngineOptions, ModelSpec, Point, PointLabel, Precision, Prompt, SamModel, Size,
};

use crate::bench::median_ms;

/// One encoder variant's figures; `None` where it cannot run here (OpenVINO missing, no
/// native bf16), with `unavailable` saying why.
pub struct EncoderFigures {
    /// `onnxruntime_f32`, `openvino_f32`, `openvino_bf16`.
    pub name: &'static str,
    pub encoder_ms: Option<f64>,
    pub first_mask_ms: Option<f64>,
    pub unavailable: Option<String>,
    pub samples_ms: Vec<f64>,
}

const VARIANTS: [(&str, EncoderBackend, Precision); 3] = [
    (
        "onnxruntime_f32",
        EncoderBackend::OnnxRuntime,
        Precision::F32,
    ),
    ("openvino_f32", EncoderBackend::OpenVino, Precision::F32),
    ("openvino_bf16", EncoderBackend::OpenVino, Precision::Bf16),
];

/// Loads each variant and times `rounds` encodes (plus one click on each fresh embedding)
/// of `img`, round-robin, after `warmup` untimed rounds.
pub fn measure(
    spec: &ModelSpec,
    opts: EngineOptions,
    img: &image::RgbImage,
    warmup: usize,
    rounds: usize,
) -> anyhow::Result<Vec<EncoderFigures>> {
    let mut models = Vec::new();
    let mut figures = Vec::new();
    for (name, encoder, precision) in VARIANTS {
        let model = SamModel::load(
            spec,
            EngineOptions {
                encoder,
                precision,
                ..opts
            },
        )?;
        let info = model.encoder_info();
        let wanted = name.split_once('_').expect("backend_precision");
        let runs = (info.backend, info.precision) == wanted;
        figures.push(EncoderFigures {
            name,
            encoder_ms: None,
            first_mask_ms: None,
            unavailable: (!runs).then(|| {
                info.notice
                    .clone()
                    .unwrap_or_else(|| format!("runs as {} {}", info.backend, info.precision))
            }),
            samples_ms: Vec::new(),
        });
        models.push(runs.then_some(model));
    }
    let original = Size {
        width: img.width(),
        height: img.height(),
    };
    let (input, resized) = encoder_input(img);
    let click = Prompt {
        points: vec![Point {
            x: (img.width() / 2) as f32,
            y: (img.height() / 2) as f32,
            label: PointLabel::Positive,
        }],
        ..Default::default()
    };
    let live: Vec<usize> = (0..models.len()).filter(|&i| models[i].is_some()).collect();
    let mut first_mask = vec![Vec::new(); models.len()];
    for round in 0..warmup + rounds {
        for k in 0..live.len() {
            let i = live[(round + k) % live.len()];
            let model = models[i].as_ref().expect("live");
            let t = Instant::now();
            let embedding = model.encode(input.clone(), original, resized)?;
            let encoded = t.elapsed().as_secs_f64() * 1e3;
            model.prepare(&embedding)?;
            model.predict(&embedding, &click)?;
            let masked = t.elapsed().as_secs_f64() * 1e3;
            if round >= warmup {
                figures[i].samples_ms.push(encoded);
                first_mask[i].push(masked);
            }
        }
    }
    for (fig, masks) in figures.iter_mut().zip(first_mask) {
        if !fig.samples_ms.is_empty() {
            fig.encoder_ms = Some(median_ms(fig.samples_ms.clone()));
            fig.first_mask_ms = Some(median_ms(masks));
        }
    }
    Ok(figures)
}

/// The JSON fields: `encoder_<variant>_ms` and `first_mask_<variant>_ms` (null where
/// unavailable), the reasons, and the samples.
pub fn json_fields(figures: &[EncoderFigures]) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for f in figures {
        map.insert(format!("encoder_{}_ms", f.name), f.encoder_ms.into());
        map.insert(format!("first_mask_{}_ms", f.name), f.first_mask_ms.into());
        map.insert(
            format!("encoder_{}_unavailable", f.name),
            f.unavailable.clone().into(),
        );
        map.insert(
            format!("encoder_{}_samples_ms", f.name),
            f.samples_ms.clone().into(),
        );
    }
    map
}

/// Text lines: each variant's medians and its ratio to ONNX Runtime f32.
pub fn print(figures: &[EncoderFigures], rounds: usize) {
    let base = figures.first().and_then(|f| f.encoder_ms);
    println!("encoders taking turns, median of {rounds} rounds (first mask = encode + one click):");
    for f in figures {
        match (f.encoder_ms, f.first_mask_ms) {
            (Some(e), Some(m)) => {
                let ratio = base.map(|b| format!("; {:.2}x onnxruntime_f32", e / b));
                println!(
                    "  {:<16} {e:8.1} ms, first mask {m:8.1} ms{}",
                    f.name,
                    ratio.unwrap_or_default()
                );
            }
            _ => println!(
                "  {:<16} unavailable: {}",
                f.name,
                f.unavailable.as_deref().unwrap_or("")
            ),
        }
    }
}
