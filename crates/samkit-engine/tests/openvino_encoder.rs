//! The encoder on OpenVINO (the pinned wheel, fetched like `samkit setup`) against ONNX
//! Runtime f32 on the same files: embeddings close, masks nearly identical, embeddings
//! keyed apart, and a file OpenVINO cannot take running on ONNX Runtime with a notice.

use std::path::{Path, PathBuf};

use samkit_assets::{Home, ModelChoice, Progress};
use samkit_engine::*;

fn spec() -> ModelSpec {
    let choice = ModelChoice {
        want_openvino: true,
        ..Default::default()
    };
    let resolved = samkit_assets::resolve(&Home::from_env().unwrap(), &choice, &Progress::hidden())
        .expect("default model (samkit setup)");
    init_runtime(&resolved.ort_lib).unwrap();
    let openvino = resolved
        .openvino
        .expect("asked for")
        .expect("the pinned OpenVINO is fetched");
    init_openvino(&openvino).expect("the pinned OpenVINO loads");
    ModelSpec {
        id: resolved.model.id,
        encoder: resolved.model.encoder,
        decoder: resolved.model.decoder,
    }
}

fn opts(encoder: EncoderBackend, precision: Precision) -> EngineOptions {
    EngineOptions {
        intra_threads: 2,
        encoder,
        precision,
        ..Default::default()
    }
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name)
}

fn mask_iou(a: &MaskLogits, b: &MaskLogits) -> f64 {
    let (mut inter, mut union) = (0u64, 0u64);
    for (x, y) in a.data.iter().zip(&b.data) {
        inter += u64::from(*x > 0.0 && *y > 0.0);
        union += u64::from(*x > 0.0 || *y > 0.0);
    }
    inter as f64 / union.max(1) as f64
}

/// Largest difference relative to the reference's largest magnitude.
fn relative_max_diff(reference: &[f32], other: &[f32]) -> f32 {
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = reference
        .iter()
        .zip(other)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

/// Click-1 and click-2 masks of both models on each sample; the lowest IoU between them.
fn worst_mask_iou(reference: &SamModel, other: &SamModel, rel_tol: f32) -> f64 {
    let mut worst = 1.0f64;
    for name in ["chelsea.png", "coffee.png", "astronaut.png"] {
        let img = load_rgb(&sample(name)).unwrap();
        let (a, b) = (reference.embed(&img).unwrap(), other.embed(&img).unwrap());
        let rel = relative_max_diff(&a.data, &b.data);
        assert!(
            rel < rel_tol,
            "{name}: embeddings differ by {rel} of their range"
        );
        let (w, h) = (img.width() as f32, img.height() as f32);
        let mut prompt = Prompt {
            points: vec![Point {
                x: w / 2.0,
                y: h / 2.0,
                label: PointLabel::Positive,
            }],
            ..Default::default()
        };
        for click in 0..2 {
            let pa = reference.predict(&a, &prompt).unwrap();
            let pb = other.predict(&b, &prompt).unwrap();
            worst = worst.min(mask_iou(&pa.best().logits, &pb.best().logits));
            if click == 0 {
                prompt.points.push(Point {
                    x: w / 4.0,
                    y: h / 4.0,
                    label: PointLabel::Negative,
                });
            }
        }
    }
    worst
}

#[test]
fn openvino_matches_onnx_runtime_and_keys_its_embeddings_apart() {
    let spec = spec();
    assert!(openvino_version().is_some_and(|v| v.starts_with("2026.4")));
    let reference =
        SamModel::load(&spec, opts(EncoderBackend::OnnxRuntime, Precision::Auto)).unwrap();
    assert_eq!(reference.encoder_info().backend, "onnxruntime");
    assert_eq!(reference.id(), spec.id);

    let f32 = SamModel::load(&spec, opts(EncoderBackend::OpenVino, Precision::F32)).unwrap();
    let info = f32.encoder_info();
    assert_eq!((info.backend, info.precision), ("openvino", "f32"));
    assert_eq!(info.notice, None);
    assert_eq!(f32.id(), format!("{}+openvino-f32", spec.id));
    let worst = worst_mask_iou(&reference, &f32, 1e-3);
    println!("openvino f32: worst mask IoU against ONNX Runtime {worst:.5}");
    assert!(worst > 0.995, "{worst}");

    // A cached embedding of one backend is never served to another.
    let dir = tempfile::tempdir().unwrap();
    let cache = EmbeddingCache::new(dir.path());
    let img = load_rgb(&sample("chelsea.png")).unwrap();
    let (embedding, hit) = cache.get_or_embed(&f32, &img).unwrap();
    assert!(!hit);
    assert!(cache.get_or_embed(&f32, &img).unwrap().1);
    let (fresh, hit) = cache.get_or_embed(&reference, &img).unwrap();
    assert!(!hit, "an OpenVINO embedding was served to ONNX Runtime");
    assert_ne!(fresh.data, embedding.data);
    assert!(reference.predict(&embedding, &Prompt::default()).is_err());

    if CpuBf16::detect().native() {
        let bf16 = SamModel::load(&spec, opts(EncoderBackend::OpenVino, Precision::Bf16)).unwrap();
        assert_eq!(bf16.encoder_info().precision, "bf16");
        assert_eq!(bf16.id(), format!("{}+openvino-bf16", spec.id));
        let worst = worst_mask_iou(&reference, &bf16, 0.1);
        println!("openvino bf16: worst mask IoU against ONNX Runtime {worst:.5}");
        assert!(worst > 0.95, "{worst}");
    }

    // auto: OpenVINO, bf16 exactly where the CPU has AMX.
    let auto = SamModel::load(&spec, opts(EncoderBackend::Auto, Precision::Auto)).unwrap();
    let info = auto.encoder_info();
    assert_eq!(info.backend, "openvino");
    let want = if CpuBf16::detect().amx { "bf16" } else { "f32" };
    assert_eq!(info.precision, want, "{}", info.reason);
}

#[cfg(unix)]
#[test]
fn a_file_openvino_cannot_take_runs_on_onnx_runtime_with_a_notice() {
    use std::os::unix::ffi::OsStrExt;
    let spec = spec();
    // OpenVINO reads paths as UTF-8; ONNX Runtime takes any file name.
    let dir = tempfile::tempdir().unwrap();
    let odd = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"enc\xff.onnx"));
    std::fs::copy(&spec.encoder, &odd).unwrap();
    let odd_spec = ModelSpec {
        encoder: odd,
        ..spec.clone()
    };
    let model = SamModel::load(&odd_spec, opts(EncoderBackend::OpenVino, Precision::F32)).unwrap();
    let info = model.encoder_info();
    assert_eq!(info.backend, "onnxruntime");
    let notice = info.notice.as_deref().unwrap_or_default();
    assert!(
        notice.contains("UTF-8") && notice.contains("ONNX Runtime"),
        "{notice}"
    );
    assert_eq!(
        model.id(),
        spec.id,
        "the fallback shares ONNX Runtime's embeddings"
    );

    let reference =
        SamModel::load(&spec, opts(EncoderBackend::OnnxRuntime, Precision::Bf16)).unwrap();
    let notice = reference
        .encoder_info()
        .notice
        .as_deref()
        .unwrap_or_default();
    assert!(notice.contains("f32 only"), "{notice}");
    let img = load_rgb(&sample("coffee.png")).unwrap();
    assert_eq!(
        model.embed(&img).unwrap().data,
        reference.embed(&img).unwrap().data
    );
}
