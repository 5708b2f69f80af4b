//! DICOM and NIfTI files in a project folder (written by pydicom and nibabel,
//! `samkit-volume/tests/make_volumes.py`): listed with their slice size, shown as the
//! engine's windowed slice, and a broken one listed as skipped with the reason.

mod common;

use std::path::Path;
use std::process::Command;

use common::start;

#[tokio::test]
async fn volumes_are_listed_and_shown_windowed() {
    let dir = tempfile::tempdir().unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../samkit-volume/tests/make_volumes.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "make_volumes.py failed (pip install -r requirements-test.txt):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), None, cache.path()).await;
    let c = &s.client;

    let imgs = c.get("/api/images").await.unwrap().json();
    let listed: Vec<(String, i64, i64)> = imgs["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["width"].as_i64().unwrap(),
                i["height"].as_i64().unwrap(),
            )
        })
        .collect();
    for want in [
        ("ct.dcm", 64, 48),
        ("sphere.nii.gz", 96, 80),
        ("volume.nii.gz", 20, 16),
    ] {
        assert!(
            listed.contains(&(want.0.to_string(), want.1, want.2)),
            "{want:?} not in {listed:?}"
        );
    }
    let p = c.get("/api/project").await.unwrap().json();
    let broken = p["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "broken.nii")
        .unwrap_or_else(|| panic!("broken.nii is not listed as skipped: {p}"));
    assert!(
        broken["reason"].as_str().unwrap().contains("NIfTI"),
        "{broken}"
    );

    // `/file` of a DICOM is a PNG of exactly what the engine encodes.
    let id = imgs["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "ct.dcm")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let f = c.get(&format!("/api/images/{id}/file")).await.unwrap();
    assert_eq!(
        (f.status, f.header("content-type")),
        (200, Some("image/png"))
    );
    let shown = image::load_from_memory(&f.body).unwrap().to_rgb8();
    let engine = samkit_engine::load_rgb_within(
        &dir.path().join("ct.dcm"),
        samkit_engine::PixelBudget::DEFAULT,
    )
    .unwrap();
    assert_eq!(shown, engine);
}
