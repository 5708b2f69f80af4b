//! `samkit segment` and `samkit auto` on DICOM and NIfTI files written by pydicom and
//! nibabel (`samkit-volume/tests/make_volumes.py`): the windowed slice is segmented by
//! the real model, and bad files and arguments get one clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn samkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samkit"))
        .args(args)
        .output()
        .expect("run samkit")
}

fn volumes() -> tempfile::TempDir {
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
    dir
}

fn path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_string_lossy().into_owned()
}

/// IoU of the mask PNG at `mask` with the disc of `radius` around (`cx`, `cy`).
fn disc_iou(mask: &Path, cx: f64, cy: f64, radius: f64) -> f64 {
    let img = image::open(mask).unwrap().to_luma8();
    let (mut inter, mut union) = (0u32, 0u32);
    for (x, y, p) in img.enumerate_pixels() {
        let inside = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt() < radius;
        let on = p.0[0] > 127;
        inter += (inside && on) as u32;
        union += (inside || on) as u32;
    }
    inter as f64 / union as f64
}

fn error_line(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_ne!(o.status.code(), Some(0), "expected a failure: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err.lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {err}"))
        .to_string()
}

#[test]
fn windowed_slices_are_segmented_and_bad_input_is_refused() {
    let dir = volumes();
    let out: PathBuf = dir.path().join("mask.png");
    let out_s = out.to_string_lossy().into_owned();

    // CT slice with its own window (40/400): the disc (radius 10 at 32, 24).
    let o = samkit(&[
        "segment",
        &path(&dir, "ct.dcm"),
        "--point",
        "32,24",
        "--out",
        &out_s,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let iou = disc_iou(&out, 32.0, 24.0, 10.0);
    assert!(iou > 0.85, "CT disc IoU {iou}");

    // The middle slice of a NIfTI sphere (radius 18 at 48, 40), percentile window; a slice
    // off the centre cuts a smaller disc (k = 2: radius sqrt(18² − 8²) ≈ 16.1).
    let sphere = path(&dir, "sphere.nii.gz");
    let o = samkit(&["segment", &sphere, "--point", "48,40", "--out", &out_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let iou = disc_iou(&out, 48.0, 40.0, 18.0);
    assert!(iou > 0.85, "sphere middle slice IoU {iou}");
    let o = samkit(&[
        "segment", &sphere, "--slice", "2", "--window", "150,300", "--point", "48,40", "--out",
        &out_s,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let iou = disc_iou(&out, 48.0, 40.0, 16.1);
    assert!(iou > 0.85, "sphere slice 2 IoU {iou}");

    let line = error_line(&samkit(&[
        "segment", &sphere, "--slice", "9", "--point", "1,1", "--out", &out_s,
    ]));
    assert!(
        line.contains("no slice 9") && line.contains("0 to 8"),
        "{line}"
    );
    let line = error_line(&samkit(&[
        "segment",
        &path(&dir, "no-pixels.dcm"),
        "--point",
        "1,1",
        "--out",
        &out_s,
    ]));
    assert!(
        line.contains("no-pixels.dcm") && line.contains("no pixel data"),
        "{line}"
    );
    let line = error_line(&samkit(&[
        "segment",
        &path(&dir, "ct.dcm"),
        "--window",
        "40",
        "--point",
        "1,1",
        "--out",
        &out_s,
    ]));
    assert!(line.contains("CENTER,WIDTH"), "{line}");
}

#[test]
fn auto_picks_up_dicom_and_nifti_in_a_folder() {
    let dir = volumes();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for name in ["ct.dcm", "sphere.nii.gz"] {
        std::fs::copy(dir.path().join(name), input.join(name)).unwrap();
    }
    let out = dir.path().join("out");
    let o = samkit(&[
        "auto",
        &input.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
        "--points-per-side",
        "4",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["ct.json", "sphere.nii.json"]);
}
