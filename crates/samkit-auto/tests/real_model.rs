//! The generator with the real default model on a bundled sample photo, small
//! parameters: the invariants of SAM's output hold for every kept mask.

use std::path::Path;

use samkit_assets::{Home, Progress};
use samkit_auto::crops::generate_crop_boxes;
use samkit_auto::mask_data::mask_to_box;
use samkit_auto::nms::box_iou;
use samkit_auto::*;
use samkit_engine::*;

fn model() -> SamModel {
    let assets = samkit_assets::ensure_default(&Home::from_env().unwrap(), &Progress::hidden())
        .expect("default model (samkit setup)");
    init_runtime(&assets.ort_lib).unwrap();
    let spec = ModelSpec {
        id: assets.model.id,
        encoder: assets.model.encoder,
        decoder: assets.model.decoder,
    };
    SamModel::load(
        &spec,
        EngineOptions {
            intra_threads: 2,
            decoder: DecoderBackend::Native,
            ..Default::default()
        },
    )
    .unwrap()
}

fn check_invariants(data: &MaskData, params: &AutoParams, width: u32, height: u32) {
    let crops: Vec<CropBox> = generate_crop_boxes(
        width,
        height,
        params.crop_n_layers,
        params.crop_overlap_ratio,
    )
    .unwrap()
    .into_iter()
    .map(|(c, _)| c)
    .collect();
    for r in &data.records {
        assert!(r.predicted_iou > params.pred_iou_thresh as f32, "{r:?}");
        assert!(
            r.stability_score >= params.stability_score_thresh as f32,
            "{r:?}"
        );
        assert!(crops.contains(&r.crop_box), "{r:?}");
        let c = r.crop_box;
        assert!(
            r.point[0] >= f64::from(c.x0)
                && r.point[0] < f64::from(c.x1)
                && r.point[1] >= f64::from(c.y0)
                && r.point[1] < f64::from(c.y1),
            "point outside its crop: {r:?}"
        );
        let mask = r.rle.decode();
        assert_eq!((mask.width(), mask.height()), (width, height));
        let rec = r.to_sam_record(OutputMode::CocoRle);
        assert_eq!(rec.area, mask.area(), "RLE area");
        let bools: Vec<bool> = mask.as_slice().iter().map(|&v| v != 0).collect();
        assert_eq!(
            r.bbox,
            mask_to_box(&bools, width as usize, height as usize),
            "bbox"
        );
        assert!(rec.area > 0);
        // The compressed string decodes back to the same runs.
        let Segmentation::Coco { size, counts } = &rec.segmentation else {
            panic!("coco_rle")
        };
        let back = samkit_mask::CocoRle::from_compressed(size[0], size[1], counts).unwrap();
        assert_eq!(back, r.rle);
    }
    // No two kept masks overlap above the NMS thresholds by box IoU (the same crop:
    // box_nms_thresh; any two, all thresholds being 0.7 here: the largest).
    let limit = params.box_nms_thresh.max(params.crop_nms_thresh);
    for (i, a) in data.records.iter().enumerate() {
        for b in &data.records[i + 1..] {
            let iou = f64::from(box_iou(
                &a.bbox.map(|v| v as f32),
                &b.bbox.map(|v| v as f32),
            ));
            let thresh = if a.crop_box == b.crop_box {
                params.box_nms_thresh
            } else {
                limit
            };
            // NaN (two empty boxes) suppresses nothing in NMS.
            assert!(
                iou <= thresh || iou.is_nan(),
                "box IoU {iou} between {a:?} and {b:?}"
            );
        }
    }
}

#[test]
fn sample_photo_masks_keep_sams_invariants() {
    let model = model();
    // The whole image's embedding is cached, so the second run encodes only its crops.
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = EmbeddingCache::new(cache_dir.path());
    let decoder = SamPointDecoder::new(&model, Some(&cache));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/chelsea.png");
    let image = load_rgb(&path).unwrap();
    let (w, h) = image.dimensions();

    let one_crop = AutoParams {
        points_per_side: Some(8),
        ..AutoParams::default()
    };
    let mut last = None;
    let t = std::time::Instant::now();
    let data = generate(&decoder, &image, &one_crop, |s| last = Some(s)).unwrap();
    eprintln!("one crop: {} masks in {:?}", data.len(), t.elapsed());
    assert_eq!(
        last,
        Some(Stage::Points {
            done: 64,
            total: 64
        })
    );
    assert!(
        data.len() >= 2,
        "a cat photo gives several masks: {}",
        data.len()
    );
    check_invariants(&data, &one_crop, w, h);
    // One crop: the records come out of the NMS by decreasing predicted IoU.
    assert!(data
        .records
        .windows(2)
        .all(|p| p[0].predicted_iou >= p[1].predicted_iou));

    // Crops, per-layer downscaled grids and the small-region postprocessing.
    let crops = AutoParams {
        points_per_side: Some(8),
        crop_n_layers: 1,
        crop_n_points_downscale_factor: 2,
        min_mask_region_area: 100,
        ..AutoParams::default()
    };
    let t = std::time::Instant::now();
    let data = generate(&decoder, &image, &crops, |_| {}).unwrap();
    eprintln!("crops: {} masks in {:?}", data.len(), t.elapsed());
    check_invariants(&data, &crops, w, h);
    assert!(
        data.records.iter().any(|r| r.crop_box.width() < w),
        "some mask comes from a layer-1 crop"
    );
    // The records serialise as SAM's JSON list.
    let json: Vec<SamRecord> = data
        .records
        .iter()
        .map(|r| r.to_sam_record(OutputMode::CocoRle))
        .collect();
    let v = serde_json::to_value(&json).unwrap();
    assert_eq!(v[0]["segmentation"]["size"], serde_json::json!([h, w]));
    assert_eq!(v[0]["point_coords"].as_array().unwrap().len(), 1);
}

/// A large image (longest side above 2048) with one small object: the object shrinks to
/// half its pixels in the whole-image view and no grid point lands on it, so the
/// generator without tiles misses it; with tiles a tile's grid point lands on it at full
/// resolution and its mask is found, uncropped into the image's frame.
#[test]
fn tiles_find_a_small_object_of_a_large_image_that_the_whole_view_misses() {
    let (w, h) = (2100u32, 1024u32);
    // A red 64-px square on a dark, slightly textured ground.
    let (x0, y0, side) = (352u32, 352u32, 64u32);
    let inside = |x: u32, y: u32| (x0..x0 + side).contains(&x) && (y0..y0 + side).contains(&y);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        if inside(x, y) {
            image::Rgb([230, 40, 40])
        } else {
            let t = (((x / 7) ^ (y / 5)) % 9) as u8;
            image::Rgb([30 + t, 35 + t, 45 + t])
        }
    });
    let model = model();
    let decoder = SamPointDecoder::new(&model, None);
    let base = AutoParams {
        points_per_side: Some(4),
        ..AutoParams::default()
    };
    // The record that best matches the object, and its IoU.
    let best_match = |data: &MaskData| -> Option<(f64, MaskRecord)> {
        data.records
            .iter()
            .map(|r| {
                let m = r.rle.decode();
                let (mut inter, mut union) = (0u64, 0u64);
                for y in 0..h {
                    for x in 0..w {
                        let (a, b) = (m.get(x, y), inside(x, y));
                        inter += u64::from(a && b);
                        union += u64::from(a || b);
                    }
                }
                (inter as f64 / union as f64, r.clone())
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
    };

    let whole = generate(&decoder, &img, &base, |_| {}).unwrap();
    let best_whole = best_match(&whole).map_or(0.0, |(iou, _)| iou);
    assert!(best_whole < 0.5, "found without tiles (IoU {best_whole})");

    let tiled_params = AutoParams {
        tiles: TileMode::Auto,
        ..base.clone()
    };
    let tiled = generate(&decoder, &img, &tiled_params, |_| {}).unwrap();
    let (best, record) = best_match(&tiled).expect("masks with tiles");
    eprintln!("the object's best mask IoU: whole view {best_whole:.3}, tiles {best:.3}");
    assert!(best >= 0.9, "the object's mask on a tile: IoU {best}");
    assert_eq!(
        (
            record.crop_box.x0,
            record.crop_box.y0,
            record.crop_box.width()
        ),
        (0, 0, 1024),
        "found on the first tile, at full resolution"
    );
}
