//! `samkit masks-from-boxes` end to end: a mask in each box of a COCO file, ids and
//! attributes kept, boxes outside the image clipped and reported, empty ones skipped,
//! images that are missing or of another size left as they were.

use std::path::PathBuf;
use std::process::Command;

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../samples/{name}"))
}

#[test]
fn boxes_get_masks_and_everything_else_is_kept() {
    let d = tempfile::tempdir().unwrap();
    let images = d.path().join("imgs");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(sample("chelsea.png"), images.join("chelsea.png")).unwrap();
    std::fs::copy(sample("chelsea.png"), images.join("resized.png")).unwrap();
    let input = d.path().join("in.json");
    std::fs::write(
        &input,
        serde_json::to_vec(&serde_json::json!({
            "images": [
                {"id": 7, "file_name": "chelsea.png", "width": 451, "height": 300},
                {"id": 8, "file_name": "missing.png", "width": 10, "height": 10},
                {"id": 9, "file_name": "resized.png", "width": 900, "height": 600}
            ],
            "categories": [{"id": 3, "name": "cat"}],
            "annotations": [
                {"id": 11, "image_id": 7, "category_id": 3, "bbox": [140, 20, 200, 270],
                 "attributes": {"occluded": false}},
                {"id": 12, "image_id": 7, "category_id": 3, "bbox": [400, 200, 100, 150]},
                {"id": 13, "image_id": 7, "category_id": 3, "bbox": [500, 10, 20, 20]},
                {"id": 14, "image_id": 8, "category_id": 3, "bbox": [1, 1, 2, 2]},
                {"id": 15, "image_id": 9, "category_id": 3, "bbox": [1, 1, 20, 20]}
            ]
        }))
        .unwrap(),
    )
    .unwrap();
    let out = d.path().join("out.json");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_samkit"))
            .arg("masks-from-boxes")
            .arg(&input)
            .arg("--images")
            .arg(&images)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run(&[]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("annotation 12") && err.contains("clipped"),
        "{err}"
    );
    assert!(
        err.contains("annotation 13") && err.contains("skipped"),
        "{err}"
    );
    assert!(err.contains("missing.png"), "{err}");
    assert!(err.contains("900x600"), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let anns = doc["annotations"].as_array().unwrap();
    let ids: Vec<u64> = anns.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![11, 12, 14, 15]);
    assert_eq!(
        anns[0]["attributes"],
        serde_json::json!({"occluded": false})
    );
    assert_eq!(anns[0]["category_id"], 3);
    for a in &anns[..2] {
        let rle: samkit_mask::CocoRle = serde_json::from_value(a["segmentation"].clone()).unwrap();
        assert_eq!((rle.width(), rle.height()), (451, 300));
        assert_eq!(rle.area() as f64, a["area"].as_f64().unwrap());
        assert!(a["score"].as_f64().unwrap() > 0.0);
        // Most of the mask lies in its (clipped) box.
        let b: Vec<u32> = a["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let mask = rle.decode();
        let inside = samkit_mask::Mask::from_fn(451, 300, |x, y| {
            x >= b[0] && y >= b[1] && x < b[0] + b[2] && y < b[1] + b[3]
        })
        .unwrap();
        let kept = mask.intersection(&inside).unwrap().area();
        assert!(
            kept as f64 > 0.8 * rle.area() as f64,
            "{kept} of {}: {a}",
            rle.area()
        );
        assert!(rle.area() > 1000, "{a}");
    }
    // Annotations of a missing image or of a resized one are left as they were.
    assert!(anns[2].get("segmentation").is_none() && anns[3].get("score").is_none());

    let o = run(&["--polygons"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let seg = &doc["annotations"][0]["segmentation"];
    assert!(
        seg.is_array() && seg[0].as_array().unwrap().len() >= 6,
        "{seg}"
    );
}

#[test]
fn a_yolo_folder_becomes_coco_with_a_mask_per_box() {
    let d = tempfile::tempdir().unwrap();
    let (yolo, images) = (d.path().join("yolo"), d.path().join("imgs"));
    std::fs::create_dir_all(yolo.join("labels")).unwrap();
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(sample("chelsea.png"), images.join("chelsea.png")).unwrap();
    std::fs::copy(sample("chelsea.png"), images.join("hostile.jpg")).unwrap();
    std::fs::write(yolo.join("classes.txt"), "cat\ndog\n").unwrap();
    // The cat's box [140, 20, 200, 270] in 451 × 300, normalised; a box reaching out
    // of the image, with a detector's confidence; one wholly outside; a malformed line;
    // a zero-width box.
    std::fs::write(
        yolo.join("labels/chelsea.txt"),
        format!(
            "0 {} {} {} 0.9\n1 0.95 0.9 0.2 0.4 0.73\n1 1.5 0.5 0.1 0.1\nnot a box\n0 0.5 0.5 0 0.1\n",
            240.0 / 451.0,
            155.0 / 300.0,
            200.0 / 451.0
        ),
    )
    .unwrap();
    // Hostile: binary junk, an unknown class, a huge one, NaN, a polygon line, too few
    // values; nothing in it is a box, and nothing ends the run.
    let mut junk =
        b"\x00\xff\xfe garbage\n2 0.5 0.5 0.1 0.1\n99999999999999999999 0.5 0.5 0.1 0.1\n".to_vec();
    junk.extend(b"0 nan 0.5 0.1 0.1\n0 0.1 0.1 0.2 0.1 0.3 0.3 0.1\n0 0.5\n0 0.5 0.5 0.1 0.1 2\n");
    std::fs::write(yolo.join("labels/hostile.txt"), junk).unwrap();
    std::fs::write(yolo.join("labels/orphan.txt"), "0 0.5 0.5 0.2 0.2\n").unwrap();
    let out = d.path().join("out.json");
    let run = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_samkit"))
            .arg("masks-from-boxes")
            .arg(&yolo)
            .arg("--images")
            .arg(&images)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        err
    };
    let err = run(&[]);
    let label =
        |name: &str, line: usize| format!("{}:{line}", yolo.join("labels").join(name).display());
    for (file, line, what) in [
        ("chelsea.txt", 2, "clipped"),
        ("chelsea.txt", 3, "skipped"),
        ("chelsea.txt", 4, "skipped"),
        ("chelsea.txt", 5, "skipped"),
        ("hostile.txt", 1, "skipped"),
        ("hostile.txt", 2, "not one of the 2 class names"),
        ("hostile.txt", 3, "not a non-negative integer"),
        ("hostile.txt", 4, "finite"),
        ("hostile.txt", 5, "segmentation label"),
        ("hostile.txt", 6, "found 2"),
        ("hostile.txt", 7, "confidence"),
    ] {
        let at = label(file, line);
        assert!(
            err.lines().any(|l| l.contains(&at) && l.contains(what)),
            "{at} {what}:\n{err}"
        );
    }
    assert!(
        err.contains("orphan.txt") && err.contains("no image named orphan"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        doc["images"],
        serde_json::json!([
            {"id": 1, "file_name": "chelsea.png", "width": 451, "height": 300},
            {"id": 2, "file_name": "hostile.jpg", "width": 451, "height": 300}
        ])
    );
    assert_eq!(
        doc["categories"],
        serde_json::json!([{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}])
    );
    let anns = doc["annotations"].as_array().unwrap();
    let ids: Vec<u64> = anns.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(anns[0]["category_id"], 1);
    assert_eq!(anns[1]["category_id"], 2);
    // The detector's confidence is kept beside SAM's predicted IoU.
    assert!(anns[0].get("attributes").is_none());
    assert_eq!(anns[1]["attributes"]["detector_score"], 0.73);
    let bbox: Vec<f64> = anns[0]["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (got, want) in bbox.iter().zip([140.0, 20.0, 200.0, 270.0]) {
        assert!((got - want).abs() < 1e-9, "{bbox:?}");
    }
    // The clipped box is the part inside the image.
    let clipped: Vec<f64> = anns[1]["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        (clipped[0] + clipped[2] - 451.0).abs() < 1e-9,
        "{clipped:?}"
    );
    assert!(
        (clipped[1] + clipped[3] - 300.0).abs() < 1e-9,
        "{clipped:?}"
    );
    let cat: samkit_mask::CocoRle =
        serde_json::from_value(anns[0]["segmentation"].clone()).unwrap();
    assert!(cat.area() > 10_000, "{}", cat.area());
    assert!(anns[0]["score"].as_f64().unwrap() > 0.5);

    // pycocotools reads it: every annotation's mask has its stated area; again with
    // polygons (their area is the polygon's, close to the mask's).
    let check = r#"
import sys
from pycocotools.coco import COCO
c = COCO(sys.argv[1])
anns = c.loadAnns(c.getAnnIds())
for a in anns:
    m = c.annToMask(a)
    assert m.shape == (300, 451), m.shape
    assert abs(int(m.sum()) - a['area']) <= 0.02 * a['area'] + 50, (m.sum(), a['area'])
print(len(c.getImgIds()), len(anns), [x['name'] for x in c.loadCats(c.getCatIds())])
"#;
    let py = |path: &std::path::Path| {
        let o = Command::new("python3")
            .args(["-c", check])
            .arg(path)
            .output()
            .expect("python3 with pycocotools: pip install -r requirements-test.txt");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert!(py(&out).ends_with("2 2 ['cat', 'dog']"), "{}", py(&out));
    run(&["--polygons"]);
    assert!(py(&out).ends_with("2 2 ['cat', 'dog']"), "{}", py(&out));
}

#[test]
fn a_yolo_folder_without_any_image_is_one_error_before_the_model_loads() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("orphan.txt"), "0 0.5 0.5 0.2 0.2\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_samkit"))
        .arg("masks-from-boxes")
        .arg(d.path())
        .arg("--images")
        .arg(d.path().join("nowhere"))
        .arg("--out")
        .arg(d.path().join("out.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no YOLO label file with an image") && err.contains("orphan.txt"),
        "{err}"
    );
    assert!(!d.path().join("out.json").exists());
}
