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
