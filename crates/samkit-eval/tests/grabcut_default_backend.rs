//! GrabCut's click-efficiency with the encoder the command line uses by default (`auto`:
//! OpenVINO, bf16 where the CPU has AMX, else f32) against ONNX Runtime f32's reference
//! figures: NoC@85 and NoC@90 of the `prev` variant within ±0.05. The exact reference run
//! (ONNX Runtime, both variants, ±0.02) is `grabcut.rs`.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::path::PathBuf;

use samkit_engine::{
    init_openvino, init_runtime, EncoderBackend, EngineOptions, ModelSpec, SamModel,
};
use samkit_eval::{evaluate, Dataset, DatasetPaths, EvalConfig, Summary, Variant};

fn grabcut() -> Option<PathBuf> {
    samkit_testdata::reference_data(
        "samkit-eval grabcut (default encoder backend)",
        "grabcut/reference/summary.json",
    )
    .map(|_| samkit_testdata::data_root().join("grabcut"))
}

#[test]
fn the_default_encoder_backend_keeps_grabcut_click_efficiency() {
    let Some(data) = grabcut() else { return };
    let home = samkit_assets::Home::from_env().expect("samkit home");
    let choice = samkit_assets::ModelChoice {
        want_openvino: true,
        ..Default::default()
    };
    let resolved = samkit_assets::resolve(&home, &choice, &samkit_assets::Progress::stderr())
        .expect("the default model and runtimes (see samkit setup)");
    init_runtime(&resolved.ort_lib).expect("ONNX Runtime loads");
    let openvino = resolved
        .openvino
        .expect("asked for")
        .expect("OpenVINO is fetched");
    init_openvino(&openvino).expect("OpenVINO loads");
    let spec = ModelSpec {
        id: resolved.model.id,
        encoder: resolved.model.encoder,
        decoder: resolved.model.decoder,
    };
    let model = SamModel::load(
        &spec,
        EngineOptions {
            intra_threads: 0,
            encoder: EncoderBackend::Auto,
            ..Default::default()
        },
    )
    .expect("model loads");
    let info = model.encoder_info();
    assert_eq!(info.backend, "openvino", "{info:?}");
    println!(
        "encoder: {} {} ({})",
        info.backend, info.precision, info.reason
    );

    let dataset = Dataset::scan(&DatasetPaths {
        images: data.join("images"),
        masks: data.join("masks"),
        ignore: Some(data.join("ignore")),
    })
    .expect("GrabCut scans");
    let config = EvalConfig {
        variants: vec![Variant::Prev],
        ..Default::default()
    };
    let results = evaluate(
        &model,
        &dataset,
        &config,
        &Default::default(),
        &indicatif::ProgressBar::hidden(),
        |_| Ok(()),
    )
    .expect("evaluation runs");
    let summary = Summary::new(&results, config.max_clicks);
    println!("{}", summary.table());
    let got = summary.variant(Variant::Prev).expect("prev was run");

    let text = std::fs::read_to_string(data.join("reference/summary.json")).expect("summary.json");
    let reference: serde_json::Value = serde_json::from_str(&text).expect("summary parses");
    let want = |key: &str| reference["variants"]["prev"][key].as_f64().expect(key);
    for (key, value) in [("NoC@85", got.noc85.noc), ("NoC@90", got.noc90.noc)] {
        let delta = value - want(key);
        println!(
            "{key} {value:.3} reference {:.3} delta {delta:+.3}",
            want(key)
        );
        assert!(
            delta.abs() <= 0.05 + 1e-9,
            "{key}: {value:.3} vs {:.3} (±0.05)",
            want(key)
        );
    }
}
