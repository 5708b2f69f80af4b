//! Wrong, swapped and truncated model files are refused with the file and the problem
//! named; an embedding is never decoded by another model.

use samkit_assets::{Home, Progress};
use samkit_engine::{init_runtime, EngineError, EngineOptions, ModelSpec, SamModel};

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

fn load_err(spec: &ModelSpec) -> String {
    match SamModel::load(spec, EngineOptions::default()) {
        Ok(_) => panic!("{spec:?} loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn swapped_files_are_named_with_a_hint() {
    let good = spec();
    let swapped = ModelSpec {
        encoder: good.decoder.clone(),
        decoder: good.encoder.clone(),
        ..good.clone()
    };
    let e = load_err(&swapped);
    assert!(
        e.contains("is this the decoder?") && e.contains("sam.onnx"),
        "{e}"
    );
    let both_enc = ModelSpec {
        decoder: good.encoder.clone(),
        ..good.clone()
    };
    let e = load_err(&both_enc);
    assert!(
        e.contains("is this the encoder?") && e.contains("decoder model"),
        "{e}"
    );
}

#[test]
fn truncated_and_missing_files_are_named() {
    let good = spec();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut-encoder.onnx");
    let bytes = std::fs::read(&good.encoder).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let e = load_err(&ModelSpec {
        encoder: cut,
        ..good.clone()
    });
    assert!(
        e.contains("cut-encoder.onnx") && e.contains("encoder"),
        "{e}"
    );
    let e = load_err(&ModelSpec {
        decoder: dir.path().join("nope.onnx"),
        ..good.clone()
    });
    assert!(e.contains("nope.onnx") && e.contains("no such file"), "{e}");
}

#[test]
fn embedding_of_another_model_is_refused() {
    let good = spec();
    let model = SamModel::load(&good, EngineOptions::default()).unwrap();
    let img = image::RgbImage::from_pixel(32, 24, image::Rgb([90, 120, 200]));
    let mut emb = model.embed(&img).unwrap();
    assert_eq!((emb.resized.width, emb.resized.height), (1024, 768));
    emb.model_id = "other-model".into();
    let prompt = samkit_engine::Prompt {
        points: vec![samkit_engine::Point {
            x: 3.0,
            y: 3.0,
            label: samkit_engine::PointLabel::Positive,
        }],
        ..Default::default()
    };
    assert!(matches!(
        model.predict(&emb, &prompt),
        Err(EngineError::ModelMismatch { .. })
    ));
}

#[test]
fn a_lone_click_offers_the_single_mask_output_as_an_alternative() {
    let good = spec();
    let model = SamModel::load(&good, EngineOptions::default()).unwrap();
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/chelsea.png");
    let img = samkit_engine::load_rgb(&path).unwrap();
    let emb = model.embed(&img).unwrap();
    let click = samkit_engine::Point {
        x: 140.0,
        y: 150.0,
        label: samkit_engine::PointLabel::Positive,
    };
    let prompt = samkit_engine::Prompt {
        points: vec![click],
        ..Default::default()
    };
    let plain = model.predict(&emb, &prompt).unwrap();
    let alt = model.predict_alternatives(&emb, &prompt).unwrap();
    assert_eq!(plain.candidates.len(), 1);
    assert_eq!(
        alt.candidates[0].logits.data,
        plain.candidates[0].logits.data
    );
    assert_eq!(
        alt.candidates.len(),
        2,
        "the single-mask output differs on this click"
    );
    // Refinement prompts are not duplicated.
    let two = samkit_engine::Prompt {
        points: vec![click, click],
        ..Default::default()
    };
    assert_eq!(
        model
            .predict_alternatives(&emb, &two)
            .unwrap()
            .candidates
            .len(),
        1
    );
}
