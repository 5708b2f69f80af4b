//! The real default model for the eval crate's model tests (one decoder thread).
#![allow(dead_code)]

use samkit_engine::{init_runtime, DecoderBackend, EngineOptions, ModelSpec, SamModel};

pub fn model(decoder: DecoderBackend) -> SamModel {
    let home = samkit_assets::Home::from_env().expect("samkit home");
    let resolved = samkit_assets::ensure_default(&home, &samkit_assets::Progress::hidden())
        .expect("cannot get the default model and ONNX Runtime (see samkit setup)");
    init_runtime(&resolved.ort_lib).expect("ONNX Runtime loads");
    let spec = ModelSpec {
        id: resolved.model.id,
        encoder: resolved.model.encoder,
        decoder: resolved.model.decoder,
    };
    let opts = EngineOptions {
        intra_threads: 1,
        decoder,
        ..Default::default()
    };
    SamModel::load(&spec, opts).expect("model loads")
}
