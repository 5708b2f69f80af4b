//! Quick timing of the native and ONNX decoders on one sample photo (development aid;
//! `samkit bench` gives the recorded figures). `cargo run --release -p samkit-engine
//! --example decoder_timing`
use std::time::Instant;

use samkit_engine::*;

fn main() {
    let home = samkit_assets::Home::from_env().unwrap();
    let assets = samkit_assets::ensure_default(&home, &samkit_assets::Progress::hidden()).unwrap();
    init_runtime(&assets.ort_lib).unwrap();
    let spec = ModelSpec {
        id: assets.model.id.clone(),
        encoder: assets.model.encoder.clone(),
        decoder: assets.model.decoder.clone(),
    };
    let onnx = SamModel::load(
        &spec,
        EngineOptions {
            decoder: DecoderBackend::Onnx,
            ..Default::default()
        },
    )
    .unwrap();
    let native = SamDecoder::load(&spec.id, &spec.decoder, EngineOptions::default()).unwrap();
    assert_eq!(native.backend(), DecoderBackend::Native);
    let img = load_rgb(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../samples/chelsea.png"
    )))
    .unwrap();
    let emb = onnx.embed(&img).unwrap();
    let prompt = Prompt {
        points: vec![Point {
            x: 200.0,
            y: 150.0,
            label: PointLabel::Positive,
        }],
        ..Default::default()
    };
    let t = Instant::now();
    native.predict(&emb, &prompt).unwrap();
    println!(
        "native first click (builds the image cache): {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    if std::env::var_os("NATIVE_ONLY").is_some() {
        let t = Instant::now();
        for _ in 0..150 {
            native.predict(&emb, &prompt).unwrap();
        }
        println!(
            "native only: {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3 / 150.0
        );
        return;
    }
    let rounds = 15;
    let (mut tn, mut to) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        onnx.predict(&emb, &prompt).unwrap();
        to.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        native.predict(&emb, &prompt).unwrap();
        tn.push(t.elapsed().as_secs_f64() * 1e3);
    }
    tn.sort_by(f64::total_cmp);
    to.sort_by(f64::total_cmp);
    println!(
        "median: native {:.1} ms, onnx {:.1} ms, ratio {:.2}",
        tn[rounds / 2],
        to[rounds / 2],
        tn[rounds / 2] / to[rounds / 2]
    );
    let prev = onnx.predict(&emb, &prompt).unwrap().candidates[0]
        .low_res
        .clone();
    let refine = Prompt {
        points: vec![
            prompt.points[0],
            Point {
                x: 300.0,
                y: 100.0,
                label: PointLabel::Negative,
            },
        ],
        mask_input: Some(prev),
        ..Default::default()
    };
    let (mut tn, mut to) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        onnx.predict(&emb, &refine).unwrap();
        to.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        native.predict(&emb, &refine).unwrap();
        tn.push(t.elapsed().as_secs_f64() * 1e3);
    }
    tn.sort_by(f64::total_cmp);
    to.sort_by(f64::total_cmp);
    println!(
        "refinement (mask input) median: native {:.1} ms, onnx {:.1} ms, ratio {:.2}",
        tn[rounds / 2],
        to[rounds / 2],
        tn[rounds / 2] / to[rounds / 2]
    );
    let prompts: Vec<Prompt> = (0..64)
        .map(|i| Prompt {
            points: vec![Point {
                x: 20.0 + (i % 8) as f32 * 55.0,
                y: 20.0 + (i / 8) as f32 * 35.0,
                label: PointLabel::Positive,
            }],
            ..Default::default()
        })
        .collect();
    let t = Instant::now();
    native.decode_batch(&emb, &prompts).unwrap();
    println!(
        "batch of 64 (low-res only): {:.1} ms per prompt",
        t.elapsed().as_secs_f64() * 1e3 / 64.0
    );
}
