//! `samkit auto` end to end on a folder: SAM's JSON records per image, a bad image
//! reported and skipped without ending the run, complete outputs skipped on a rerun,
//! `--force` redoing them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn samkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samkit"))
        .arg("auto")
        .args(args)
        .output()
        .expect("run samkit")
}

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../samples/{name}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_folder_with_a_bad_image_is_segmented_resumably() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    std::fs::create_dir_all(input.join("cats")).unwrap();
    std::fs::copy(sample("chelsea.png"), input.join("cats/chelsea.png")).unwrap();
    std::fs::write(input.join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let out = d.path().join("out");
    let small = ["--points-per-side", "6", "--pred-iou-thresh", "0.8"];

    let mut args = vec![s(&input), "--out", s(&out)];
    args.extend(small);
    let o = samkit(&args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    // The bad image is reported, the good one still written; the exit code says so.
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("skipped") && err.contains("broken.png"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let json = out.join("cats/chelsea.json");
    let records: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let records = records.as_array().unwrap();
    assert!(!records.is_empty(), "{err}");
    for r in records {
        assert_eq!(r["segmentation"]["size"], serde_json::json!([300, 451]));
        assert!(r["segmentation"]["counts"].is_string());
        assert!(r["predicted_iou"].as_f64().unwrap() > 0.8);
        assert!(r["stability_score"].as_f64().unwrap() >= 0.95);
        assert_eq!(r["crop_box"], serde_json::json!([0, 0, 451, 300]));
        assert_eq!(r["bbox"].as_array().unwrap().len(), 4);
        assert!(r["area"].as_u64().unwrap() > 0);
    }
    let first = std::fs::read(&json).unwrap();

    // Without the bad image, a rerun finds everything complete and loads nothing; an
    // overlay asked for then is drawn from the output.
    std::fs::remove_file(input.join("broken.png")).unwrap();
    let overlay = d.path().join("overlay");
    let mut with_overlay = args.clone();
    with_overlay.extend(["--overlay", s(&overlay)]);
    let o = samkit(&with_overlay);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("complete"), "{err}");
    let picture = image::open(overlay.join("cats/chelsea.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(picture.dimensions(), (451, 300));
    let photo = image::open(sample("chelsea.png")).unwrap().to_rgb8();
    assert_ne!(picture, photo, "the masks are painted");

    // --force redoes it, with the same result; another output mode as asked.
    let mut forced = args.clone();
    let overlay2 = d.path().join("overlay2");
    forced.extend([
        "--force",
        "--output-mode",
        "uncompressed_rle",
        "--overlay",
        s(&overlay2),
    ]);
    let o = samkit(&forced);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let before: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(again.as_array().unwrap().len(), records.len());
    assert!(again[0]["segmentation"]["counts"].is_array());
    // The overlay drawn while segmenting equals the one drawn from the output.
    assert_eq!(
        image::open(overlay2.join("cats/chelsea.png"))
            .unwrap()
            .to_rgb8(),
        picture
    );
    assert_eq!(again[0]["bbox"], before[0]["bbox"]);
    assert_eq!(again[0]["predicted_iou"], before[0]["predicted_iou"]);

    // --format coco: one COCO file of the same masks, resumable through OUT.parts/.
    let coco = d.path().join("coco.json");
    let mut c = vec![s(&input), "--out", s(&coco), "--format", "coco"];
    c.extend(small);
    let o = samkit(&c);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&coco).unwrap()).unwrap();
    assert_eq!(doc["images"][0]["file_name"], "cats/chelsea.png");
    assert_eq!(doc["images"][0]["width"], 451);
    assert_eq!(doc["categories"][0]["id"], 1);
    let anns = doc["annotations"].as_array().unwrap();
    assert_eq!(anns.len(), records.len());
    for (a, r) in anns.iter().zip(records) {
        assert_eq!(a["segmentation"], r["segmentation"]);
        assert_eq!(
            a["score"].as_f64().unwrap() as f32,
            r["predicted_iou"].as_f64().unwrap() as f32
        );
        assert_eq!(a["area"].as_f64().unwrap(), r["area"].as_f64().unwrap());
        assert_eq!(a["image_id"], 1);
    }
    assert!(d.path().join("coco.json.parts/cats/chelsea.json").is_file());
    // A rerun rebuilds the file from the parts without segmenting again.
    std::fs::remove_file(&coco).unwrap();
    let o = samkit(&c);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("complete"), "{err}");
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(&coco).unwrap()).unwrap();
    assert_eq!(again, doc);
}

#[test]
fn bad_parameters_are_usage_errors() {
    let d = tempfile::tempdir().unwrap();
    let o = samkit(&[
        s(&sample("chelsea.png")),
        "--out",
        s(d.path()),
        "--crop-overlap-ratio",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // Layer 1 with 2 points per side and factor 4: no points left in that layer.
    let o = samkit(&[
        s(&sample("chelsea.png")),
        "--out",
        s(d.path()),
        "--points-per-side",
        "2",
        "--crop-n-layers",
        "1",
        "--crop-n-points-downscale-factor",
        "4",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("0 points per side"), "{err}");
}
