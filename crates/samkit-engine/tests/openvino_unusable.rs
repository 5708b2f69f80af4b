//! A file that is not an OpenVINO library, given as one: a clear error naming it, and a
//! model asking for OpenVINO runs its encoder on ONNX Runtime with a notice; no panic.
//! (One process can try to load OpenVINO only once, hence a test file of its own.)

use samkit_assets::{Home, Progress};
use samkit_engine::*;

#[test]
fn a_broken_openvino_library_means_onnx_runtime_and_a_notice() {
    let assets = samkit_assets::ensure_default(&Home::from_env().unwrap(), &Progress::hidden())
        .expect("default model (samkit setup)");
    init_runtime(&assets.ort_lib).unwrap();
    // A real shared library, but not OpenVINO's: every C API function is missing.
    let err = init_openvino(&assets.ort_lib).unwrap_err().to_string();
    assert!(
        err.contains("libonnxruntime") && err.contains("--encoder-backend onnxruntime"),
        "{err}"
    );
    // The failure is remembered; asking again gives the same answer, not a second load.
    assert_eq!(init_openvino(&assets.ort_lib).unwrap_err().to_string(), err);

    let spec = ModelSpec {
        id: assets.model.id.clone(),
        encoder: assets.model.encoder,
        decoder: assets.model.decoder,
    };
    let opts = EngineOptions {
        encoder: EncoderBackend::Auto,
        ..Default::default()
    };
    let model = SamModel::load(&spec, opts).unwrap();
    let info = model.encoder_info();
    assert_eq!((info.backend, info.precision), ("onnxruntime", "f32"));
    let notice = info.notice.as_deref().unwrap_or_default();
    assert!(notice.contains("OpenVINO could not be loaded"), "{notice}");
    assert_eq!(model.id(), assets.model.id);
}
