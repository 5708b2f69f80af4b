//! Every exporter checked by the tools people use (pycocotools + COCOeval, numpy,
//! Pillow), and COCO → samkit → COCO round trips (samkit-written and
//! pycocotools-written datasets).

mod common;

use samkit_formats::coco::{export_coco, import_coco, CocoExportOptions};
use samkit_formats::{
    convert, AnnotationSet, Category, CocoRle, ConvertOptions, Format, ImageInfo, Instance, Mask,
    MaskFormat, PromptPoint, Prompts,
};
use samkit_mask::{Polygons, DEFAULT_TOLERANCE};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

fn disc(w: u32, h: u32, cx: f64, cy: f64, r: f64) -> Mask {
    Mask::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
        dx * dx + dy * dy < r * r
    })
    .expect("size")
}

fn dataset() -> AnnotationSet {
    let mut set = AnnotationSet::default();
    let img = |id, name: &str, w, h| ImageInfo {
        id,
        file_name: name.into(),
        width: w,
        height: h,
    };
    set.images = vec![
        img(1, "scene_a.png", 64, 48),
        img(2, "strip_h.png", 30, 1),
        img(3, "strip_v.png", 1, 30),
        img(4, "many.png", 20, 20),
        img(5, "empty.png", 8, 8),
    ];
    let cat = |id, name: &str, color| Category {
        id,
        name: name.into(),
        color,
        supercategory: None,
    };
    set.categories = vec![
        cat(1, "person", Some([255, 0, 0])),
        cat(5, "dog", None),
        cat(9, "tree leaf", None),
    ];
    let mut masks: Vec<(u64, u64, Mask)> = vec![
        (1, 1, disc(64, 48, 16.0, 16.0, 10.0)),
        (
            1,
            5,
            disc(64, 48, 40.0, 24.0, 14.0)
                .difference(&disc(64, 48, 40.0, 24.0, 6.0))
                .expect("size"),
        ),
        (
            1,
            1,
            Mask::from_fn(64, 48, |x, y| (x < 6 && y > 40) || (x > 56 && y < 5)).expect("size"),
        ),
        (
            1,
            9,
            Mask::from_fn(64, 48, |x, y| {
                (x == y || x + 1 == y) && (30..40).contains(&x)
            })
            .expect("size"),
        ),
        (1, 5, disc(64, 48, 22.0, 20.0, 8.0)),
        (
            2,
            9,
            Mask::from_fn(30, 1, |x, _| (3..11).contains(&x) || x == 29).expect("size"),
        ),
        (3, 1, Mask::from_fn(1, 30, |_, y| y % 7 < 3).expect("size")),
    ];
    for k in 0..300u32 {
        masks.push((
            4,
            [1, 5, 9][k as usize % 3],
            Mask::from_fn(20, 20, |x, y| y * 20 + x == (k * 7) % 400).expect("size"),
        ));
    }
    for (i, (image_id, category_id, m)) in masks.into_iter().enumerate() {
        set.instances.push(Instance {
            id: 100 + i as u64,
            image_id,
            category_id,
            mask: CocoRle::encode(&m),
            score: Some(0.5),
            prompts: Prompts {
                points: vec![PromptPoint {
                    x: 3.0,
                    y: 4.0,
                    label: 1,
                }],
                bbox: Some([0.0, 0.0, 5.0, 5.0]),
            },
            iscrowd: false,
            attributes: Default::default(),
        });
    }
    set
}

fn write_source_images(set: &AnnotationSet, dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for img in &set.images {
        let mut s = (img.id as u32).wrapping_mul(2654435761);
        let rgb = image::RgbImage::from_fn(img.width, img.height, |_, _| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            image::Rgb([(s >> 24) as u8, (s >> 16) as u8, (s >> 8) as u8])
        });
        rgb.save(dir.join(&img.file_name)).expect("save image");
    }
}

fn coco_opts(mask_format: MaskFormat, tolerance: f64) -> CocoExportOptions {
    CocoExportOptions {
        mask_format,
        tolerance,
    }
}

#[test]
fn exports_read_back_by_pycocotools_numpy_pillow() {
    let set = dataset();
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let images = d.join("images");
    write_source_images(&set, &images);
    let none = &mut |_: usize, _: usize| {};
    let coco_rle = d.join("coco_rle.json");
    export_coco(&set, &coco_rle, &coco_opts(MaskFormat::Rle, 0.0), none).expect("coco rle");
    export_coco(
        &set,
        &d.join("coco_poly_exact.json"),
        &coco_opts(MaskFormat::Polygon, 0.0),
        none,
    )
    .expect("poly");
    export_coco(
        &set,
        &d.join("coco_poly.json"),
        &coco_opts(MaskFormat::Polygon, DEFAULT_TOLERANCE),
        none,
    )
    .expect("poly");

    // Everything else goes through `convert`, as the CLI does.
    let mut events = 0usize;
    let mut progress = |_: samkit_formats::Progress<'_>| events += 1;
    let exact = ConvertOptions {
        tolerance: 0.0,
        ..ConvertOptions::default()
    };
    for (fmt, sub) in [
        (Format::Png, "png"),
        (Format::Numpy, "npy"),
        (Format::Yolo, "yolo"),
    ] {
        let r = convert(
            &coco_rle,
            fmt,
            &d.join(sub),
            Some(&images),
            &exact,
            &mut progress,
        )
        .expect("convert");
        assert_eq!(r.instances, set.instances.len());
        assert!(r.skipped.is_empty());
    }
    // VOC holds at most 254 instances per image: convert the set without image 4.
    let mut small = set.clone();
    small.instances.retain(|i| i.image_id != 4);
    small.images.retain(|i| i.id != 4);
    let coco_small = d.join("coco_small.json");
    export_coco(&small, &coco_small, &coco_opts(MaskFormat::Rle, 0.0), none).expect("coco");
    convert(
        &coco_small,
        Format::Voc,
        &d.join("voc"),
        None,
        &exact,
        &mut progress,
    )
    .expect("voc");
    let err = convert(
        &coco_rle,
        Format::Voc,
        &d.join("voc_fail"),
        None,
        &exact,
        &mut progress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("254"), "{err}");
    assert!(events > 10, "progress reported {events} events");

    let poly: HashMap<String, String> = set
        .instances
        .iter()
        .map(|i| {
            let p = Polygons::from_mask(&i.mask.decode(), DEFAULT_TOLERANCE);
            (
                i.id.to_string(),
                p.to_rle().expect("rasterise").to_compressed(),
            )
        })
        .collect();
    let manifest = json!({"eval_image_ids": [1, 2, 3], "poly_rasterised": poly});
    std::fs::write(d.join("manifest.json"), manifest.to_string()).expect("manifest");
    let out = common::run_python(&[Path::new("exports"), d]);
    println!("python: {}", out.trim());
    assert!(out.contains("\"segm_ap\": 1.0"), "{out}");

    // pycocotools-written dataset → samkit → COCO: identical RLE, area and bbox.
    let authored = d.join("py_authored.json");
    let (imported, skipped) = import_coco(&authored, false).expect("import pycocotools dataset");
    assert!(skipped.is_empty());
    let again = d.join("again.json");
    export_coco(&imported, &again, &coco_opts(MaskFormat::Rle, 0.0), none).expect("export");
    let src: Value =
        serde_json::from_slice(&std::fs::read(&authored).expect("read")).expect("json");
    let dst: Value = serde_json::from_slice(&std::fs::read(&again).expect("read")).expect("json");
    let src_anns = src["annotations"].as_array().expect("anns");
    let dst_anns = dst["annotations"].as_array().expect("anns");
    assert_eq!(src_anns.len(), dst_anns.len());
    let mut crowd = 0;
    for (a, b) in src_anns.iter().zip(dst_anns) {
        assert_eq!(a["id"], b["id"]);
        assert_eq!(a["area"], b["area"], "annotation {}", a["id"]);
        assert_eq!(a["bbox"], b["bbox"], "annotation {}", a["id"]);
        assert_eq!(a["iscrowd"], b["iscrowd"]);
        if a["iscrowd"] == 1 {
            crowd += 1;
            assert_eq!(
                b["segmentation"]["counts"], a["expected_uncompressed"],
                "crowd {}",
                a["id"]
            );
        } else {
            assert_eq!(
                b["segmentation"]["counts"], a["expected_counts"],
                "annotation {}",
                a["id"]
            );
        }
    }
    assert!(crowd > 0);

    // samkit → COCO → samkit → COCO: the same document.
    let (back, _) = import_coco(&coco_rle, false).expect("import");
    assert_eq!(back, set);
    let twice = d.join("twice.json");
    export_coco(&back, &twice, &coco_opts(MaskFormat::Rle, 0.0), none).expect("export");
    assert_eq!(
        std::fs::read(&twice).expect("read"),
        std::fs::read(&coco_rle).expect("read")
    );

    // YOLO → samkit: every image's lines cover exactly its masks.
    let (yolo, skipped) =
        samkit_formats::yolo::import_yolo(&d.join("yolo"), &images, false).expect("yolo import");
    assert!(skipped.is_empty());
    assert_eq!(
        yolo.categories
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["person", "dog", "tree leaf"]
    );
    for img in &set.images {
        let union = |s: &AnnotationSet, image_id: u64| {
            let mut u = Mask::new(img.width, img.height).expect("size");
            for i in s.instances.iter().filter(|i| i.image_id == image_id) {
                u = u.union(&i.mask.decode()).expect("size");
            }
            u
        };
        let yid = yolo
            .images
            .iter()
            .find(|y| y.file_name == img.file_name)
            .expect("image")
            .id;
        assert_eq!(union(&yolo, yid), union(&set, img.id), "{}", img.file_name);
    }
}
