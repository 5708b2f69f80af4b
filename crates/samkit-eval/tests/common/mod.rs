//! The real default model for the eval crate's model tests (one thread unless told).
#![allow(dead_code)]

use samkit_engine::{init_runtime, DecoderBackend, EngineOptions, ModelSpec, SamModel};

pub fn model(decoder: DecoderBackend) -> SamModel {
    model_with_threads(decoder, 1)
}

/// The default model with `threads` ONNX Runtime threads (0: one per core, `samkit eval`'s
/// default).
pub fn model_with_threads(decoder: DecoderBackend, threads: usize) -> SamModel {
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
        intra_threads: threads,
        decoder,
        ..Default::default()
    };
    SamModel::load(&spec, opts).expect("model loads")
}
