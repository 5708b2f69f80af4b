//! The pipeline on a fake decoder whose answers are known by construction.

use std::cell::RefCell;

use image::{Rgb, RgbImage};

use super::*;

/// Answers each point with the pixels of the colour under it (token 2, IoU 0.95, a
/// sharp ±10 logit), the same mask a second time (token 3, IoU `dup_iou`) and a
/// low-quality one (token 1, IoU 0.5). Black under the point: three IoU-0.1 outputs.
struct ColourDecoder {
    embedded: RefCell<Vec<(u32, u32, bool)>>,
    dup_iou: f32,
}

impl ColourDecoder {
    fn new() -> Self {
        ColourDecoder {
            embedded: RefCell::new(Vec::new()),
            dup_iou: 0.9,
        }
    }
}

impl PointDecoder for ColourDecoder {
    type Embedding = RgbImage;
    type LowRes = Vec<f32>;

    fn embed(&self, crop: &RgbImage, whole_image: bool) -> Result<RgbImage> {
        self.embedded
            .borrow_mut()
            .push((crop.width(), crop.height(), whole_image));
        Ok(crop.clone())
    }

    fn decode_multimask(
        &self,
        crop: &RgbImage,
        points: &[[f64; 2]],
    ) -> Result<Vec<[Proposal<Vec<f32>>; 3]>> {
        Ok(points
            .iter()
            .map(|p| {
                let c = *crop.get_pixel(p[0] as u32, p[1] as u32);
                let logits: Vec<f32> = crop
                    .pixels()
                    .map(|q| if *q == c { 10.0 } else { -10.0 })
                    .collect();
                let black = c == Rgb([0, 0, 0]);
                let (lo, main, dup) = if black {
                    (0.1, 0.1, 0.1)
                } else {
                    (0.5, 0.95, self.dup_iou)
                };
                [
                    Proposal {
                        iou: lo,
                        low_res: logits.clone(),
                    },
                    Proposal {
                        iou: main,
                        low_res: logits.clone(),
                    },
                    Proposal {
                        iou: dup,
                        low_res: logits,
                    },
                ]
            })
            .collect())
    }

    fn upscale(&self, _crop: &RgbImage, low_res: &Vec<f32>) -> Vec<f32> {
        low_res.clone()
    }
}

fn paint(
    img: &mut RgbImage,
    x: std::ops::RangeInclusive<u32>,
    y: std::ops::RangeInclusive<u32>,
    c: [u8; 3],
) {
    for yy in y {
        for xx in x.clone() {
            img.put_pixel(xx, yy, Rgb(c));
        }
    }
}

/// 100 × 60, red square A at x 5..=14, y 5..=14; green B at x 52..=58, y 5..=14.
fn two_objects() -> RgbImage {
    let mut img = RgbImage::new(100, 60);
    paint(&mut img, 5..=14, 5..=14, [255, 0, 0]);
    paint(&mut img, 52..=58, 5..=14, [0, 255, 0]);
    img
}

fn params(points_per_side: u32) -> AutoParams {
    AutoParams {
        points_per_side: Some(points_per_side),
        ..AutoParams::default()
    }
}

#[test]
fn one_crop_keeps_one_mask_per_object_with_sams_fields() {
    let dec = ColourDecoder::new();
    let img = two_objects();
    let data = generate(&dec, &img, &params(10), |_| {}).unwrap();
    assert_eq!(*dec.embedded.borrow(), vec![(100, 60, true)]);
    // Token 1 (IoU 0.5) fails the IoU filter, token 3 is NMS'd by token 2 (IoU 0.95).
    assert_eq!(data.len(), 2, "{data:?}");
    for r in &data.records {
        assert_eq!(r.predicted_iou, 0.95);
        assert_eq!(r.stability_score, 1.0);
        assert_eq!(
            r.crop_box,
            CropBox {
                x0: 0,
                y0: 0,
                x1: 100,
                y1: 60
            }
        );
    }
    let rec: Vec<_> = data
        .records
        .iter()
        .map(|r| r.to_sam_record(crate::OutputMode::CocoRle))
        .collect();
    let mut by_x: Vec<_> = rec.iter().collect();
    by_x.sort_by_key(|r| r.bbox[0]);
    // Inclusive boxes: a 10-pixel-wide square is 9 wide in XYWH.
    assert_eq!(by_x[0].bbox, [5, 5, 9, 9]);
    assert_eq!(by_x[0].area, 100);
    assert_eq!(by_x[1].bbox, [52, 5, 6, 9]);
    assert_eq!(by_x[1].area, 70);
    // Grid points: x = (0.05 + 0.1 k) · 100, y = (0.05 + 0.1 k) · 60, in the objects.
    for r in &rec {
        let [x, y] = r.point_coords[0];
        let b = r.bbox;
        assert!(
            x >= b[0] as f64
                && x <= (b[0] + b[2]) as f64
                && y >= b[1] as f64
                && y <= (b[1] + b[3]) as f64
        );
    }
}

#[test]
fn thresholds_are_strict_for_iou_and_inclusive_for_stability() {
    let img = two_objects();
    // Every output exactly at the IoU threshold is dropped (">"): nothing is left.
    let dec = ColourDecoder {
        dup_iou: 0.95,
        ..ColourDecoder::new()
    };
    let p = AutoParams {
        pred_iou_thresh: 0.95,
        ..params(10)
    };
    assert!(generate(&dec, &img, &p, |_| {}).unwrap().is_empty());
    // Just above it, the duplicate passes and wins the NMS.
    let dec = ColourDecoder {
        dup_iou: 0.96,
        ..ColourDecoder::new()
    };
    let data = generate(&dec, &img, &p, |_| {}).unwrap();
    assert_eq!(data.len(), 2);
    assert!(data.records.iter().all(|r| r.predicted_iou == 0.96));
    // Stability 1.0 passes a threshold of exactly 1.0 (">=").
    let p = AutoParams {
        stability_score_thresh: 1.0,
        ..params(10)
    };
    assert_eq!(
        generate(&ColourDecoder::new(), &img, &p, |_| {})
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn crops_drop_edge_masks_and_prefer_the_smaller_crop() {
    let dec = ColourDecoder::new();
    let img = two_objects();
    let p = AutoParams {
        crop_n_layers: 1,
        ..params(10)
    };
    let mut stages = Vec::new();
    let data = generate(&dec, &img, &p, |s| stages.push(s)).unwrap();
    // The whole image, then the four crops of the hand-worked 100 × 60 layer 1.
    assert_eq!(
        *dec.embedded.borrow(),
        vec![
            (100, 60, true),
            (60, 40, false),
            (60, 40, false),
            (60, 40, false),
            (60, 40, false)
        ]
    );
    assert_eq!(stages.first(), Some(&Stage::Crop { crop: 0, crops: 5 }));
    assert_eq!(
        stages.last(),
        Some(&Stage::Points {
            done: 500,
            total: 500
        })
    );
    // A lies well inside crop (0, 0, 60, 40) and touches only image edges' tolerance:
    // that crop's mask wins over the whole image's (score 1/2400 > 1/6000). B is within
    // 20 px of an inner crop edge in both crops that hold it: only layer 0 keeps it.
    assert_eq!(data.len(), 2, "{data:?}");
    let a = &data.records[0];
    assert_eq!(
        a.crop_box,
        CropBox {
            x0: 0,
            y0: 0,
            x1: 60,
            y1: 40
        }
    );
    assert_eq!(a.bbox, [5, 5, 14, 14]);
    let b = &data.records[1];
    assert_eq!(
        b.crop_box,
        CropBox {
            x0: 0,
            y0: 0,
            x1: 100,
            y1: 60
        }
    );
    assert_eq!(b.bbox, [52, 5, 58, 14]);
    // A's point came from the crop's grid: (0.05 + 0.1 k) · 60, (0.05 + 0.1 k) · 40.
    let [x, y] = a.point;
    let kx = (x / 60.0 - 0.05) / 0.1;
    let ky = (y / 40.0 - 0.05) / 0.1;
    assert!(
        (kx - kx.round()).abs() < 1e-9 && (ky - ky.round()).abs() < 1e-9,
        "{x}, {y}"
    );
}

#[test]
fn points_are_scaled_by_the_crop_size_and_batched() {
    struct Recorder(RefCell<Vec<Vec<[f64; 2]>>>);
    impl PointDecoder for Recorder {
        type Embedding = ();
        type LowRes = ();
        fn embed(&self, _: &RgbImage, _: bool) -> Result<()> {
            Ok(())
        }
        fn decode_multimask(&self, _: &(), points: &[[f64; 2]]) -> Result<Vec<[Proposal<()>; 3]>> {
            self.0.borrow_mut().push(points.to_vec());
            let p = || Proposal {
                iou: 0.0,
                low_res: (),
            };
            Ok(points.iter().map(|_| [p(), p(), p()]).collect())
        }
        fn upscale(&self, _: &(), _: &()) -> Vec<f32> {
            unreachable!("nothing passes the IoU filter")
        }
    }
    let rec = Recorder(RefCell::new(Vec::new()));
    let p = AutoParams {
        points_per_batch: 3,
        ..params(2)
    };
    let data = generate(&rec, &RgbImage::new(40, 20), &p, |_| {}).unwrap();
    assert!(data.is_empty());
    let batches = rec.0.into_inner();
    assert_eq!(batches.len(), 2);
    // Grid 0.25, 0.75 scaled by (40, 20), row by row.
    assert_eq!(batches[0], vec![[10.0, 5.0], [30.0, 5.0], [10.0, 15.0]]);
    assert_eq!(batches[1], vec![[30.0, 15.0]]);
}

fn record(mask: &Mask, iou: f32) -> MaskRecord {
    MaskRecord {
        rle: CocoRle::encode(mask),
        bbox: mask_box(mask),
        predicted_iou: iou,
        point: [0.0, 0.0],
        stability_score: 1.0,
        crop_box: CropBox {
            x0: 0,
            y0: 0,
            x1: mask.width(),
            y1: mask.height(),
        },
    }
}

#[test]
fn small_regions_are_removed_and_unchanged_masks_preferred() {
    let square = |x: u32, y: u32| (2..=7).contains(&x) && (2..=7).contains(&y);
    // 0: the square plus a one-pixel island (changed: the island goes);
    // 1: the square alone (unchanged); 2: a square far away with a one-pixel hole.
    let with_island = Mask::from_fn(30, 12, |x, y| square(x, y) || (x == 10 && y == 10)).unwrap();
    let plain = Mask::from_fn(30, 12, square).unwrap();
    let holed = Mask::from_fn(30, 12, |x, y| {
        (20..=26).contains(&x) && (2..=8).contains(&y) && !(x == 23 && y == 5)
    })
    .unwrap();
    let mut data = MaskData {
        records: vec![
            record(&with_island, 0.99),
            record(&plain, 0.9),
            record(&holed, 0.95),
        ],
    };
    assert_eq!(data.records[0].bbox, [2, 2, 10, 10]);
    postprocess_small_regions(&mut data, 3, 0.7);
    // After cleaning, 0 and 1 are the same square: NMS keeps the unchanged one (score
    // 1) first, then the changed hole mask (score 0), now filled, with its new box.
    assert_eq!(data.len(), 2);
    assert_eq!(data.records[0].predicted_iou, 0.9);
    assert_eq!(data.records[0].rle, CocoRle::encode(&plain));
    assert_eq!(data.records[1].predicted_iou, 0.95);
    let filled = Mask::from_fn(30, 12, |x, y| {
        (20..=26).contains(&x) && (2..=8).contains(&y)
    })
    .unwrap();
    assert_eq!(data.records[1].rle, CocoRle::encode(&filled));
    assert_eq!(data.records[1].bbox, [20, 2, 26, 8]);
}

#[test]
fn a_changed_mask_that_survives_takes_its_cleaned_box() {
    let with_island =
        Mask::from_fn(20, 20, |x, y| (x < 5 && y < 5) || (x == 15 && y == 15)).unwrap();
    let mut data = MaskData {
        records: vec![record(&with_island, 0.9)],
    };
    postprocess_small_regions(&mut data, 2, 0.7);
    assert_eq!(data.records[0].bbox, [0, 0, 4, 4]);
    assert_eq!(data.records[0].rle.area(), 25);
}

#[test]
fn bad_parameters_are_refused_not_panics() {
    let img = RgbImage::new(10, 10);
    let dec = ColourDecoder::new();
    for p in [
        AutoParams {
            points_per_batch: 0,
            ..params(4)
        },
        AutoParams {
            points_per_side: Some(0),
            ..params(4)
        },
        AutoParams {
            points_per_side: None,
            ..params(4)
        },
        AutoParams {
            crop_overlap_ratio: 2.0,
            ..params(4)
        },
        AutoParams {
            pred_iou_thresh: f64::NAN,
            ..params(4)
        },
        AutoParams {
            crop_n_layers: 1,
            point_grids: Some(vec![vec![[0.5, 0.5]]]),
            points_per_side: None,
            ..params(4)
        },
    ] {
        assert!(
            matches!(generate(&dec, &img, &p, |_| {}), Err(AutoError::Param(_))),
            "{p:?}"
        );
    }
}
