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

/// Runs a Python snippet with `args`; fails with the install hint when numpy or
/// pycocotools is missing.
fn python(code: &str, args: &[&Path]) -> String {
    let o = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python3 with numpy and pycocotools: pip install -r requirements-test.txt");
    assert!(
        o.status.success(),
        "{}\n(python deps: pip install -r requirements-test.txt)",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn png_and_npz_hold_the_same_records_as_sam_json_and_resume() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(sample("chelsea.png"), input.join("chelsea.png")).unwrap();
    let small = ["--points-per-side", "6", "--pred-iou-thresh", "0.8"];
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![s(&input), "--out", s(out)];
        args.extend(small);
        args.extend(extra);
        let o = samkit(&args);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(0), "{err}");
        err
    };
    let json_dir = d.path().join("json");
    run(&json_dir, &[]);
    let json = json_dir.join("chelsea.json");
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(records.len() >= 2, "{records:?}");

    // npz: every array, mask by mask and value by value, equals the sam-json records
    // (masks compared with pycocotools' decode of their RLE).
    let npz_dir = d.path().join("npz");
    run(&npz_dir, &["--format", "npz"]);
    let npz = npz_dir.join("chelsea.npz");
    let check = r#"
import sys, json, numpy as np
from pycocotools import mask as mask_utils
z = np.load(sys.argv[1])
recs = json.load(open(sys.argv[2]))
n = len(recs)
assert z['masks'].dtype == np.bool_ and z['masks'].shape == (n, 300, 451), z['masks'].shape
for k, r in enumerate(recs):
    seg = dict(r['segmentation']); seg['counts'] = seg['counts'].encode()
    assert (z['masks'][k] == mask_utils.decode(seg).astype(bool)).all(), k
assert z['area'].dtype == np.int64 and z['area'].tolist() == [r['area'] for r in recs]
for name in ['bbox', 'crop_box']:
    assert z[name].dtype == np.float64 and z[name].shape == (n, 4), name
    assert z[name].tolist() == [[float(v) for v in r[name]] for r in recs], name
assert z['point_coords'].shape == (n, 2)
assert z['point_coords'].tolist() == [r['point_coords'][0] for r in recs]
for name in ['predicted_iou', 'stability_score']:
    assert z[name].dtype == np.float64 and z[name].tolist() == [r[name] for r in recs], name
print('ok', n, sorted(z.files))
"#;
    let said = python(check, &[&npz, &json]);
    assert!(said.starts_with(&format!("ok {}", records.len())), "{said}");

    // png: a 16-bit map whose every pixel is its record's (1-based), no covering mask
    // smaller than the one shown, 0 only where no mask is; the table as amg.py's.
    let png_dir = d.path().join("png");
    let overlay = d.path().join("overlay");
    run(&png_dir, &["--format", "png"]);
    let map_path = png_dir.join("chelsea.png");
    let map = match image::open(&map_path).unwrap() {
        image::DynamicImage::ImageLuma16(m) => m,
        other => panic!("not a 16-bit grey PNG: {:?}", other.color()),
    };
    assert_eq!(map.dimensions(), (451, 300));
    let masks: Vec<samkit_mask::Mask> = records
        .iter()
        .map(|r| {
            serde_json::from_value::<samkit_mask::CocoRle>(r["segmentation"].clone())
                .unwrap()
                .decode()
        })
        .collect();
    let mut overlapped = 0;
    for (x, y, p) in map.enumerate_pixels() {
        let covering: Vec<usize> = (0..masks.len()).filter(|&k| masks[k].get(x, y)).collect();
        let v = p.0[0] as usize;
        if v == 0 {
            assert!(covering.is_empty(), "({x}, {y}) is in {covering:?}");
            continue;
        }
        assert!(covering.contains(&(v - 1)), "({x}, {y}) = {v}");
        let area = |k: usize| records[k]["area"].as_u64().unwrap();
        assert!(
            covering.iter().all(|&k| area(k) >= area(v - 1)),
            "({x}, {y}) shows {v} over a smaller mask of {covering:?}"
        );
        overlapped += usize::from(covering.len() > 1);
    }
    assert!(overlapped > 0, "the sample's masks overlap somewhere");
    let table = std::fs::read_to_string(png_dir.join("chelsea.csv")).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,\
         stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h"
    );
    assert_eq!(lines.len(), records.len() + 1);
    for (k, (line, r)) in lines[1..].iter().zip(&records).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], (k + 1).to_string());
        assert_eq!(f[1], r["area"].to_string());
        assert_eq!(
            f[2..6].join(","),
            r["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            f[8].parse::<f64>().unwrap(),
            r["predicted_iou"].as_f64().unwrap()
        );
        assert_eq!(
            f[9].parse::<f64>().unwrap(),
            r["stability_score"].as_f64().unwrap()
        );
        assert_eq!(f[10..].join(","), "0,0,451,300");
    }

    // A rerun skips both complete outputs without loading the model; an overlay asked
    // for now is drawn from the instance map.
    let stamp = std::fs::metadata(&map_path).unwrap().modified().unwrap();
    let err = run(&png_dir, &["--format", "png", "--overlay", s(&overlay)]);
    assert!(err.contains("all 1 outputs are complete"), "{err}");
    assert_eq!(
        std::fs::metadata(&map_path).unwrap().modified().unwrap(),
        stamp
    );
    let picture = image::open(overlay.join("chelsea.png")).unwrap().to_rgb8();
    assert_eq!(picture.dimensions(), (451, 300));
    assert_ne!(
        picture,
        image::open(sample("chelsea.png")).unwrap().to_rgb8()
    );
    let err = run(&npz_dir, &["--format", "npz"]);
    assert!(err.contains("all 1 outputs are complete"), "{err}");
    // A map without its table is redone; --force redoes a complete one, same map.
    std::fs::remove_file(png_dir.join("chelsea.csv")).unwrap();
    let err = run(&png_dir, &["--format", "png"]);
    assert!(!err.contains("complete"), "{err}");
    assert!(png_dir.join("chelsea.csv").is_file());
    run(&png_dir, &["--format", "png", "--force"]);
    assert_eq!(image::open(&map_path).unwrap().into_luma16(), map);

    // Overlays in the instance maps' folder would replace them: refused.
    let o = samkit(&[
        s(&input),
        "--out",
        s(&png_dir),
        "--format",
        "png",
        "--overlay",
        s(&png_dir),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("would replace the output"), "{err}");

    // --output-mode belongs to sam-json.
    let mut args = vec![s(&input), "--out", s(&png_dir), "--format", "npz"];
    args.extend(["--output-mode", "binary_mask"]);
    let o = samkit(&args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--output-mode is for --format sam-json"),
        "{err}"
    );
}
