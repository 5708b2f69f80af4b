//! `samkit segment` end to end: a drawn object segmented by the real model, output formats
//! read by real consumers, a clear one-line error with a non-zero exit for each bad input,
//! and the documented GrabCut figure (when the reference data is present; see
//! `samkit-testdata`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn samkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samkit"))
        .args(args)
        .output()
        .expect("run samkit")
}

/// A bundled sample photo (`samples/NAME`).
fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../samples/{name}"))
}

fn iou_ignoring(pred: &[bool], gt: &[bool], ignore: Option<&[bool]>) -> f64 {
    let (mut i, mut u) = (0u64, 0u64);
    for k in 0..gt.len() {
        if !ignore.is_some_and(|ig| ig[k]) {
            i += (pred[k] && gt[k]) as u64;
            u += (pred[k] || gt[k]) as u64;
        }
    }
    i as f64 / u as f64
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A bad input: exit code 1, an `error:` line naming the problem, no panic.
fn assert_clear_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {err}"));
    assert!(line.contains(needle), "expected '{needle}' in: {line}");
}

fn grey(path: &Path) -> Vec<bool> {
    image::open(path)
        .unwrap()
        .to_luma8()
        .into_raw()
        .into_iter()
        .map(|v| v > 127)
        .collect()
}

/// A disk on a textured background: one click in its centre must give the disk. Data the
/// test draws itself, so it runs on any clone.
#[test]
fn drawn_disk_is_segmented_from_one_click() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h, cx, cy, r) = (320u32, 240u32, 150.0f32, 110.0f32, 60.0f32);
    let inside = |x: u32, y: u32| (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) <= r * r;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        if inside(x, y) {
            image::Rgb([200, 40, 30])
        } else {
            // Diagonal stripes, so the background is not one flat region.
            let v = if (x + y) / 12 % 2 == 0 { 70 } else { 110 };
            image::Rgb([v, v + 20, v + 60])
        }
    });
    let path = dir.path().join("disk.png");
    img.save(&path).unwrap();
    let out = dir.path().join("m.png");
    let o = samkit(&[
        "segment",
        path.to_str().unwrap(),
        "--point",
        "150,110",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pred = grey(&out);
    let gt: Vec<bool> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| inside(x, y))
        .collect();
    let iou = iou_ignoring(&pred, &gt, None);
    println!(
        "drawn disk, one click: IoU {iou:.4}, reported area {}",
        v["area"]
    );
    assert!(iou >= 0.9, "IoU {iou}");
    assert_eq!(
        v["area"].as_u64().unwrap(),
        pred.iter().filter(|&&p| p).count() as u64
    );
}

/// The README's example figure on the GrabCut penguin (reference data).
#[test]
fn penguin_click_gives_the_documented_iou() {
    let Some(grabcut) = samkit_testdata::reference_data(
        "samkit-cli segment_cli (GrabCut penguin)",
        "grabcut/images/106024.png",
    ) else {
        return;
    };
    let grabcut = grabcut.parent().unwrap().parent().unwrap().to_path_buf();
    let file = |kind: &str| grabcut.join(format!("{kind}/106024.png"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.png");
    let overlay = dir.path().join("overlay.png");
    let image = file("images");
    let o = samkit(&[
        "segment",
        image.to_str().unwrap(),
        "--point",
        "230,210",
        "--out",
        out.to_str().unwrap(),
        "--overlay",
        overlay.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("predicted IoU") && text.contains("area") && text.contains("decoder"),
        "{text}"
    );
    let mask = image::open(&out).unwrap();
    assert_eq!(mask.color(), image::ColorType::L8);
    assert_eq!((mask.width(), mask.height()), (481, 321));
    assert!(mask
        .to_luma8()
        .pixels()
        .all(|p| p.0[0] == 0 || p.0[0] == 255));
    let pred = grey(&out);
    let gt = grey(&file("masks"));
    let ignore = grey(&file("ignore"));
    let iou = iou_ignoring(&pred, &gt, Some(&ignore));
    println!("samkit segment 106024 --point 230,210: IoU {iou:.6}");
    assert!((iou - 0.9183).abs() <= 0.001, "IoU {iou}");
    let pic = image::open(&overlay).unwrap();
    assert_eq!((pic.width(), pic.height()), (481, 321));
}

#[test]
fn npy_output_is_read_by_numpy_as_bool() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.npy");
    let image = sample("chelsea.png");
    let o = samkit(&[
        "segment",
        image.to_str().unwrap(),
        "--box",
        "120,20,360,290",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let area = v["area"].as_u64().unwrap();
    let py = Command::new("python3")
        .args(["-c", "import sys, numpy as np; a = np.load(sys.argv[1]); print(a.dtype, a.shape, int(a.sum()))", out.to_str().unwrap()])
        .output()
        .expect("python3 with numpy: pip install -r requirements-test.txt");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        format!("bool (300, 451) {area}")
    );
}

#[test]
fn bad_inputs_get_one_clear_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("m.png");
    let out_s = out.to_str().unwrap();
    let image = sample("chelsea.png"); // 451 x 300
    let img = image.to_str().unwrap();

    let corrupt = d.join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\n this is not really a png").unwrap();
    assert_clear_error(
        &samkit(&[
            "segment",
            corrupt.to_str().unwrap(),
            "--point",
            "1,1",
            "--out",
            out_s,
        ]),
        "corrupt.png",
    );

    let empty = d.join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    assert_clear_error(
        &samkit(&[
            "segment",
            empty.to_str().unwrap(),
            "--point",
            "1,1",
            "--out",
            out_s,
        ]),
        "empty.jpg",
    );

    assert_clear_error(
        &samkit(&[
            "segment",
            "no/such/image.png",
            "--point",
            "1,1",
            "--out",
            out_s,
        ]),
        "no/such/image.png",
    );
    assert_clear_error(
        &samkit(&["segment", img, "--point", "451,10", "--out", out_s]),
        "outside",
    );
    assert_clear_error(
        &samkit(&["segment", img, "--point", "-1,10", "--out", out_s]),
        "outside",
    );
    assert_clear_error(
        &samkit(&["segment", img, "--box", "300,10,100,200", "--out", out_s]),
        "x1 < x0",
    );
    assert_clear_error(&samkit(&["segment", img, "--out", out_s]), "no prompt");
    assert_clear_error(
        &samkit(&[
            "segment",
            img,
            "--point",
            "1,1",
            "--out",
            "/no/such/dir/m.png",
        ]),
        "does not exist",
    );

    // An existing output is not destroyed by a failed run.
    std::fs::write(&out, b"keep me").unwrap();
    assert_clear_error(
        &samkit(&["segment", img, "--point", "9999,1", "--out", out_s]),
        "outside",
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");

    // Wrong and truncated ONNX files are named.
    let truncated = d.join("truncated.onnx");
    std::fs::write(&truncated, b"\x08\x07\x12\x04 not a whole model").unwrap();
    let notonnx = d.join("notes.onnx");
    std::fs::write(&notonnx, "hello").unwrap();
    let o = samkit(&[
        "segment",
        img,
        "--point",
        "1,1",
        "--out",
        out_s,
        "--encoder",
        truncated.to_str().unwrap(),
        "--decoder",
        notonnx.to_str().unwrap(),
    ]);
    assert_clear_error(&o, "truncated.onnx");
}

#[test]
fn reopening_an_image_uses_the_cached_embedding() {
    let dir = tempfile::tempdir().unwrap();
    // Unique pixels, so the first run cannot find an embedding from an earlier run.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u32;
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, (nanos >> (x % 24)) as u8])
    });
    let path = dir.path().join("unique.png");
    img.save(&path).unwrap();
    let out = dir.path().join("m.png");
    let run = || {
        let o = samkit(&[
            "segment",
            path.to_str().unwrap(),
            "--point",
            "30,20",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["embedding_cached"].as_bool().unwrap()
    };
    assert!(!run(), "first run encodes");
    assert!(run(), "second run reuses the cached embedding");
}
