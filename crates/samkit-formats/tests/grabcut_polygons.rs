//! Polygon export of the 50 GrabCut ground-truth masks: exact at tolerance 0, and
//! mean IoU ≥ 0.99 at the default tolerance (the figure is printed; run with
//! `--nocapture`). Also checks that every part and hole survives.

mod common;

use samkit_mask::{Mask, Polygons, DEFAULT_TOLERANCE};

#[test]
fn grabcut_polygon_export_keeps_iou() {
    let Some(dir) = common::grabcut_masks("samkit-formats grabcut_polygons") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        50,
        "expected the 50 GrabCut masks in {}",
        dir.display()
    );
    let (mut sum, mut worst, mut verts_exact, mut verts) = (0.0, 1.0f64, 0usize, 0usize);
    let mut with_holes = 0;
    let sweep = [0.75, 1.0, 2.0];
    let mut sweep_sum = [0.0f64; 3];
    let mut sweep_verts = [0usize; 3];
    for f in &files {
        let img = image::open(f)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
            .to_luma8();
        let mask = Mask::from_gray_image_threshold(&img, 127).expect("size");
        let exact = Polygons::from_mask(&mask, 0.0);
        assert_eq!(
            exact.rasterize().expect("rasterise"),
            mask,
            "{}: exact polygons differ",
            f.display()
        );
        with_holes += usize::from(exact.parts.iter().any(|p| !p.holes.is_empty()));
        let simple = Polygons::from_mask(&mask, DEFAULT_TOLERANCE);
        assert_eq!(
            simple.parts.len(),
            exact.parts.len(),
            "{}: a part was lost",
            f.display()
        );
        let iou = mask
            .iou(&simple.rasterize().expect("rasterise"))
            .expect("size");
        sum += iou;
        worst = worst.min(iou);
        verts_exact += exact.vertex_count();
        verts += simple.vertex_count();
        for (k, &t) in sweep.iter().enumerate() {
            let p = Polygons::from_mask(&mask, t);
            sweep_sum[k] += mask.iou(&p.rasterize().expect("rasterise")).expect("size");
            sweep_verts[k] += p.vertex_count();
        }
    }
    let mean = sum / files.len() as f64;
    println!(
        "GrabCut polygon export (tolerance {DEFAULT_TOLERANCE} px): mean IoU {mean:.6}, worst {worst:.6}, \
         vertices {verts} vs {verts_exact} exact, {with_holes} masks with holes"
    );
    for (k, t) in sweep.iter().enumerate() {
        println!(
            "  tolerance {t} px: mean IoU {:.5}, vertices {}",
            sweep_sum[k] / files.len() as f64,
            sweep_verts[k]
        );
    }
    assert!(mean >= 0.99, "mean IoU {mean} < 0.99");
}
