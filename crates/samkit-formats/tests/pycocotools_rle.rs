//! RLE parity with pycocotools, both directions, on property-generated masks
//! (random densities and sizes) plus the edge cases: empty, full, one pixel,
//! checkerboard, 1×N, N×1, long runs. One python process checks the whole batch.

mod common;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use samkit_formats::{CocoRle, Mask};
use serde_json::{json, Value};

fn mask_of(w: u32, h: u32, bits: Vec<bool>) -> Mask {
    Mask::from_bools(w, h, &bits).expect("generated size")
}

fn random_mask(w: u32, h: u32) -> impl Strategy<Value = Mask> {
    prop_oneof![Just(0.03), Just(0.5), Just(0.97)]
        .prop_flat_map(move |p| {
            proptest::collection::vec(proptest::bool::weighted(p), (w * h) as usize)
        })
        .prop_map(move |bits| mask_of(w, h, bits))
}

fn any_mask() -> impl Strategy<Value = Mask> {
    (1u32..40, 1u32..40).prop_flat_map(|(w, h)| random_mask(w, h))
}

fn blobby_mask() -> impl Strategy<Value = Mask> {
    // Few long runs: rectangles, which exercise multi-character LEB128 groups.
    (
        1u32..300,
        1u32..300,
        proptest::collection::vec((0u32..300, 0u32..300, 0u32..300, 0u32..300), 0..4),
    )
        .prop_map(|(w, h, rects)| {
            Mask::from_fn(w, h, |x, y| {
                rects.iter().any(|&(x0, y0, x1, y1)| {
                    x >= x0.min(x1) && x < x0.max(x1) && y >= y0.min(y1) && y < y0.max(y1)
                })
            })
            .expect("size")
        })
}

fn edge_cases() -> Vec<Mask> {
    let mut v = Vec::new();
    for (w, h) in [
        (1, 1),
        (1, 17),
        (17, 1),
        (1, 1000),
        (1000, 1),
        (5, 4),
        (300, 300),
    ] {
        v.push(Mask::new(w, h).expect("size"));
        v.push(Mask::from_fn(w, h, |_, _| true).expect("size"));
        v.push(Mask::from_fn(w, h, |x, y| (x + y) % 2 == 0).expect("size"));
        v.push(Mask::from_fn(w, h, |x, y| (x + y) % 2 == 1).expect("size"));
        v.push(Mask::from_fn(w, h, |x, y| x == 0 && y == 0).expect("size"));
        v.push(Mask::from_fn(w, h, |x, y| x == w - 1 && y == h - 1).expect("size"));
        v.push(Mask::from_fn(w, h, |x, y| x == w / 2 && y == h / 2).expect("size"));
    }
    v
}

fn bits(m: &Mask) -> String {
    m.as_slice()
        .iter()
        .map(|&b| if b != 0 { '1' } else { '0' })
        .collect()
}

#[test]
fn rle_matches_pycocotools_both_ways() {
    let mut runner = TestRunner::default();
    let mut masks = edge_cases();
    for _ in 0..250 {
        masks.push(
            any_mask()
                .new_tree(&mut runner)
                .expect("strategy")
                .current(),
        );
    }
    for _ in 0..40 {
        masks.push(
            blobby_mask()
                .new_tree(&mut runner)
                .expect("strategy")
                .current(),
        );
    }
    let mut pairs = Vec::new();
    let pair = (1u32..30, 1u32..30).prop_flat_map(|(w, h)| (random_mask(w, h), random_mask(w, h)));
    for _ in 0..60 {
        let (a, b) = pair.new_tree(&mut runner).expect("strategy").current();
        pairs.push((masks.len(), masks.len() + 1));
        masks.push(a);
        masks.push(b);
    }
    // Pairs with an empty mask on one or both sides.
    let e = Mask::new(6, 5).expect("size");
    let f = Mask::from_fn(6, 5, |x, _| x > 2).expect("size");
    for (a, b) in [(e.clone(), e.clone()), (e, f.clone()), (f.clone(), f)] {
        pairs.push((masks.len(), masks.len() + 1));
        masks.push(a);
        masks.push(b);
    }

    let rles: Vec<CocoRle> = masks.iter().map(CocoRle::encode).collect();
    let cases: Vec<Value> = masks
        .iter()
        .zip(&rles)
        .map(|(m, r)| json!({"h": m.height(), "w": m.width(), "bits": bits(m), "compressed": r.to_compressed(), "counts": r.counts()}))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let cases_path = dir.path().join("cases.json");
    let out_path = dir.path().join("out.json");
    std::fs::write(
        &cases_path,
        serde_json::to_vec(&json!({"cases": cases, "pairs": pairs})).expect("json"),
    )
    .expect("write");
    common::run_python(&[std::path::Path::new("rle"), &cases_path, &out_path]);
    let out: Value =
        serde_json::from_slice(&std::fs::read(&out_path).expect("python output")).expect("json");

    for (i, ((m, r), py)) in masks
        .iter()
        .zip(&rles)
        .zip(out["cases"].as_array().expect("cases"))
        .enumerate()
    {
        let py_str = py["compressed"].as_str().expect("string");
        assert_eq!(
            r.to_compressed(),
            py_str,
            "case {i} ({m:?}): compressed strings differ"
        );
        let back =
            CocoRle::from_compressed(m.height(), m.width(), py_str).expect("pycocotools RLE");
        assert_eq!(
            &back.decode(),
            m,
            "case {i}: samkit decodes pycocotools' RLE differently"
        );
        assert_eq!(
            r.area(),
            py["area"].as_u64().expect("area"),
            "case {i}: area"
        );
        assert_eq!(m.area(), r.area(), "case {i}: mask area");
        let bbox: Vec<f64> = serde_json::from_value(py["bbox"].clone()).expect("bbox");
        assert_eq!(r.bbox().to_vec(), bbox, "case {i}: bbox");
    }
    for ((a, b), py) in pairs.iter().zip(out["pairs"].as_array().expect("pairs")) {
        let (ra, rb) = (&rles[*a], &rles[*b]);
        assert_eq!(
            ra.union(rb).expect("same size").to_compressed(),
            py["union"].as_str().expect("s")
        );
        assert_eq!(
            ra.intersection(rb).expect("same size").to_compressed(),
            py["intersection"].as_str().expect("s")
        );
        let iou = ra.iou(rb).expect("same size");
        assert!(
            (iou - py["iou"].as_f64().expect("iou")).abs() < 1e-12,
            "iou {iou} vs {}",
            py["iou"]
        );
        // Mask-level set operations agree with the RLE ones.
        let (ma, mb) = (&masks[*a], &masks[*b]);
        assert_eq!(
            CocoRle::encode(&ma.union(mb).expect("size")),
            ra.union(rb).expect("size")
        );
    }
    println!(
        "pycocotools RLE parity: {} masks, {} pairs",
        masks.len(),
        pairs.len()
    );
}
