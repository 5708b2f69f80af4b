//! Random bytes and random (COCO-shaped) JSON fed to the importers: errors, never panics.

use proptest::prelude::*;
use samkit_formats::coco::import_coco_slice;
use samkit_formats::CocoRle;
use serde_json::{json, Value};
use std::path::Path;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..20).prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[0-9a-z ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::hash_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("size".to_string()),
                    Just("counts".to_string()),
                    Just("width".to_string()),
                    Just("height".to_string()),
                    "[a-z_]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// COCO documents whose fields are individually plausible but jointly wrong.
fn coco_like() -> impl Strategy<Value = Value> {
    let image = (0u64..4, 0u32..6, 0u32..6, any_json())
        .prop_map(|(id, w, h, junk)| json!({"id": id, "file_name": "a.png", "width": w, "height": h, "x": junk}));
    let seg = prop_oneof![
        (0u32..6, 0u32..6, proptest::collection::vec(0u32..12, 0..8))
            .prop_map(|(h, w, c)| json!({"size": [h, w], "counts": c})),
        (0u32..6, 0u32..6, "[0-9a-o]{0,6}")
            .prop_map(|(h, w, s)| json!({"size": [h, w], "counts": s})),
        proptest::collection::vec(proptest::collection::vec(-3.0f64..9.0, 0..9), 0..3)
            .prop_map(|p| json!(p)),
        any_json(),
    ];
    let ann = (0u64..4, 0u64..4, 0u64..4, seg, 0u8..3)
        .prop_map(|(id, image_id, category_id, s, crowd)| json!({"id": id, "image_id": image_id, "category_id": category_id, "segmentation": s, "iscrowd": crowd}));
    (
        proptest::collection::vec(image, 0..3),
        proptest::collection::vec(
            (0u64..4).prop_map(|id| json!({"id": id, "name": "c"})),
            0..3,
        ),
        proptest::collection::vec(ann, 0..6),
    )
        .prop_map(|(i, c, a)| json!({"images": i, "categories": c, "annotations": a}))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), skip in any::<bool>()) {
        let _ = import_coco_slice(&bytes, Path::new("fuzz.json"), skip);
    }

    #[test]
    fn random_json_never_panics(doc in any_json(), skip in any::<bool>()) {
        let _ = import_coco_slice(doc.to_string().as_bytes(), Path::new("fuzz.json"), skip);
    }

    #[test]
    fn coco_shaped_json_never_panics(doc in coco_like(), skip in any::<bool>()) {
        let r = import_coco_slice(doc.to_string().as_bytes(), Path::new("fuzz.json"), skip);
        if let Ok((set, _)) = r {
            // Whatever was accepted satisfies the model's invariants.
            prop_assert!(set.validate(Path::new("fuzz.json")).is_ok());
        }
    }

    #[test]
    fn random_rle_strings_never_panic(h in 0u32..50, w in 0u32..50, s in ".{0,20}") {
        if let Ok(r) = CocoRle::from_compressed(h, w, &s) {
            prop_assert_eq!(r.decode().area(), r.area());
        }
    }

    #[test]
    fn random_yolo_files_never_panic(lines in proptest::collection::vec("[0-9 .eE+-]{0,40}", 0..6), raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let labels = dir.path().join("labels");
        std::fs::create_dir_all(&labels).expect("mkdir");
        std::fs::write(labels.join("a.txt"), lines.join("\n")).expect("write");
        std::fs::write(labels.join("b.txt"), &raw).expect("write");
        image::GrayImage::new(7, 5).save(dir.path().join("a.png")).expect("img");
        std::fs::write(dir.path().join("b.png"), &raw).expect("write");
        let _ = samkit_formats::yolo::import_yolo(dir.path(), dir.path(), true);
        let _ = samkit_formats::yolo::import_yolo(dir.path(), dir.path(), false);
    }
}
