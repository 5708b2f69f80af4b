//! The generator's batch of masks (`amg.py`'s `MaskData`) and the per-mask helpers that
//! run before a mask is compressed: `calculate_stability_score`, `batched_mask_to_box`;
//! and the records `generate` returns.

use samkit_mask::CocoRle;
use serde::Serialize;

use crate::crops::CropBox;

/// One mask that passed the filters, as SAM keeps it in `MaskData` once compressed.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskRecord {
    /// The mask in the whole image's frame (`mask_to_rle_pytorch`: column-major runs).
    pub rle: CocoRle,
    /// `batched_mask_to_box`, XYXY, right/bottom inclusive; in the image frame once the
    /// crop is done (the crop frame while inside `_process_crop`).
    pub bbox: [i64; 4],
    /// `iou_preds`: the decoder's predicted IoU.
    pub predicted_iou: f32,
    /// `points`: the point that made it, float64; in the image frame once uncropped.
    pub point: [f64; 2],
    pub stability_score: f32,
    pub crop_box: CropBox,
}

/// `MaskData`: the records of a batch, a crop or the image, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaskData {
    pub records: Vec<MaskRecord>,
}

impl MaskData {
    pub fn len(&self) -> usize {
        self.records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// `MaskData.cat`: appends `other`'s records after ours.
    pub fn cat(&mut self, other: MaskData) {
        self.records.extend(other.records);
    }

    /// `MaskData.filter` with an index tensor: the records at `keep`, in `keep`'s
    /// order (NMS reorders by score this way).
    pub fn select(&mut self, keep: &[usize]) {
        let mut old: Vec<Option<MaskRecord>> = std::mem::take(&mut self.records)
            .into_iter()
            .map(Some)
            .collect();
        self.records = keep
            .iter()
            .filter_map(|&i| old.get_mut(i).and_then(Option::take))
            .collect();
    }

    /// The boxes as NMS takes them (`boxes.float()`).
    pub fn boxes_f32(&self) -> Vec<[f32; 4]> {
        self.records
            .iter()
            .map(|r| r.bbox.map(|v| v as f32))
            .collect()
    }
}

/// `calculate_stability_score` of one mask's logits (row-major, `width` per row):
/// `|logits > t + offset| / |logits > t − offset|`, with SAM's arithmetic: counts summed
/// per row in int16 (wrapping, as `sum(-1, dtype=torch.int16)`), rows in int32, the
/// ratio in float32 (`int32 / int32`), so 0/0 is NaN. `high` and `low` are the two
/// thresholds already in f32 (`mask_threshold ± offset` cast as torch does).
pub fn stability_score(logits: &[f32], width: usize, high: f32, low: f32) -> f32 {
    let (mut inter, mut union) = (0i32, 0i32);
    for row in logits.chunks(width.max(1)) {
        let (mut hi, mut lo) = (0i16, 0i16);
        for &v in row {
            hi = hi.wrapping_add(i16::from(v > high));
            lo = lo.wrapping_add(i16::from(v > low));
        }
        inter = inter.wrapping_add(i32::from(hi));
        union = union.wrapping_add(i32::from(lo));
    }
    inter as f32 / union as f32
}

/// `batched_mask_to_box` of one `width × height` row-major mask: `[x0, y0, x1, y1]` with
/// the last row/column *inside* the mask (inclusive), `[0, 0, 0, 0]` when empty.
pub fn mask_to_box(mask: &[bool], width: usize, height: usize) -> [i64; 4] {
    let (mut x0, mut y0, mut x1, mut y1) = (width, height, 0usize, 0usize);
    let mut any = false;
    for (y, row) in mask.chunks(width.max(1)).take(height).enumerate() {
        let Some(first) = row.iter().position(|&v| v) else {
            continue;
        };
        let last = row.iter().rposition(|&v| v).unwrap_or(first);
        any = true;
        y0 = y0.min(y);
        y1 = y;
        x0 = x0.min(first);
        x1 = x1.max(last);
    }
    if any {
        [x0 as i64, y0 as i64, x1 as i64, y1 as i64]
    } else {
        [0; 4]
    }
}

/// How `segmentation` is written (`output_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// A `height × width` array of booleans.
    BinaryMask,
    /// `{"size": [h, w], "counts": [runs...]}`.
    UncompressedRle,
    /// `{"size": [h, w], "counts": "<pycocotools string>"}`.
    #[default]
    CocoRle,
}

impl std::str::FromStr for OutputMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "binary_mask" => Ok(OutputMode::BinaryMask),
            "uncompressed_rle" => Ok(OutputMode::UncompressedRle),
            "coco_rle" => Ok(OutputMode::CocoRle),
            _ => Err(format!(
                "unknown output mode '{s}': use binary_mask, uncompressed_rle or coco_rle"
            )),
        }
    }
}

/// A record's `segmentation` in the chosen output mode.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Segmentation {
    Binary(Vec<Vec<bool>>),
    Uncompressed { size: [u32; 2], counts: Vec<u32> },
    Coco { size: [u32; 2], counts: String },
}

/// One of `SamAutomaticMaskGenerator.generate`'s records, fields in its order.
#[derive(Debug, Clone, Serialize)]
pub struct SamRecord {
    pub segmentation: Segmentation,
    /// `area_from_rle`.
    pub area: u64,
    /// `box_xyxy_to_xywh` of the inclusive box: `[x0, y0, x1 − x0, y1 − y0]`.
    pub bbox: [i64; 4],
    pub predicted_iou: f64,
    pub point_coords: Vec<[f64; 2]>,
    /// NaN (only possible with the stability filter off) is written as `null`.
    pub stability_score: f64,
    pub crop_box: [u32; 4],
}

impl MaskRecord {
    /// The record `generate` writes for this mask.
    pub fn to_sam_record(&self, mode: OutputMode) -> SamRecord {
        let size = [self.rle.height(), self.rle.width()];
        let segmentation = match mode {
            OutputMode::CocoRle => Segmentation::Coco {
                size,
                counts: self.rle.to_compressed(),
            },
            OutputMode::UncompressedRle => Segmentation::Uncompressed {
                size,
                counts: self.rle.counts().to_vec(),
            },
            OutputMode::BinaryMask => {
                let m = self.rle.decode();
                let w = m.width() as usize;
                Segmentation::Binary(
                    m.as_slice()
                        .chunks(w.max(1))
                        .map(|row| row.iter().map(|&v| v != 0).collect())
                        .collect(),
                )
            }
        };
        let b = self.bbox;
        SamRecord {
            segmentation,
            area: area_from_rle(&self.rle),
            bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]],
            predicted_iou: f64::from(self.predicted_iou),
            point_coords: vec![self.point],
            stability_score: f64::from(self.stability_score),
            crop_box: self.crop_box.xywh(),
        }
    }
}

/// `area_from_rle`: the sum of the odd runs (the foreground).
pub fn area_from_rle(rle: &CocoRle) -> u64 {
    rle.counts()
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&c| u64::from(c))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stability_with_offset_by_hand() {
        // 2 × 3 logits; offset 1: > 1 → {1.5, 3.0} = 2, > −1 → {−0.5, 0.5, 1.5, 3.0} = 4.
        let logits = [-2.0, -0.5, 0.5, 1.5, 3.0, -1.0];
        assert_eq!(stability_score(&logits, 3, 1.0, -1.0), 0.5);
        // Offset 0.25: > 0.25 → 3, > −0.25 → 3.
        assert_eq!(stability_score(&logits, 3, 0.25, -0.25), 1.0);
        // Offset 0: the IoU of a mask with itself.
        assert_eq!(stability_score(&logits, 3, 0.0, 0.0), 1.0);
        // Nothing above the low threshold: 0/0 = NaN, as torch.
        assert!(stability_score(&[-5.0; 4], 2, 1.0, -1.0).is_nan());
        // Equal to a threshold is not above it.
        assert_eq!(stability_score(&[1.0, 2.0], 2, 1.0, -1.0), 0.5);
    }

    #[test]
    fn row_counts_wrap_like_int16() {
        // A 40000-wide row all above both thresholds: int16 wraps to 40000 − 65536
        // for both counts, so the ratio is still 1; a row whose high count wraps and
        // whose low count does not gives SAM's (wrong but exact) figure.
        let row = vec![2.0f32; 40000];
        assert_eq!(stability_score(&row, 40000, 1.0, -1.0), 1.0);
        let mut mixed = vec![0.5f32; 40000];
        for v in mixed.iter_mut().take(32768) {
            *v = 2.0;
        }
        // high: 32768 → −32768 as int16; low: 40000 → −25536.
        assert_eq!(
            stability_score(&mixed, 40000, 1.0, -1.0),
            -32768.0f32 / -25536.0f32
        );
    }

    #[test]
    fn boxes_are_inclusive_and_empty_is_zero() {
        #[rustfmt::skip]
        let m = [
            false, false, false, false,
            false, true,  true,  false,
            false, false, true,  false,
        ];
        assert_eq!(mask_to_box(&m, 4, 3), [1, 1, 2, 2]);
        assert_eq!(mask_to_box(&[false; 6], 3, 2), [0, 0, 0, 0]);
        assert_eq!(mask_to_box(&[true], 1, 1), [0, 0, 0, 0]);
        assert_eq!(mask_to_box(&[false, true], 2, 1), [1, 0, 1, 0]);
    }

    #[test]
    fn select_reorders_and_record_fields_are_sams() {
        let crop = CropBox {
            x0: 2,
            y0: 0,
            x1: 6,
            y1: 3,
        };
        let rec = |iou: f32| MaskRecord {
            rle: CocoRle::from_counts(3, 6, vec![7, 2, 9]).unwrap(),
            bbox: [2, 1, 2, 2],
            predicted_iou: iou,
            point: [2.5, 1.5],
            stability_score: 0.96,
            crop_box: crop,
        };
        let mut d = MaskData {
            records: vec![rec(0.1), rec(0.2), rec(0.3)],
        };
        d.select(&[2, 0]);
        assert_eq!(
            d.records
                .iter()
                .map(|r| r.predicted_iou)
                .collect::<Vec<_>>(),
            vec![0.3, 0.1]
        );
        let r = d.records[0].to_sam_record(OutputMode::CocoRle);
        assert_eq!(r.area, 2);
        assert_eq!(r.bbox, [2, 1, 0, 1]);
        assert_eq!(r.crop_box, [2, 0, 4, 3]);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["segmentation"]["size"], serde_json::json!([3, 6]));
        assert_eq!(json["predicted_iou"], serde_json::json!(f64::from(0.3f32)));
        let keys: Vec<&str> = serde_json::to_string(&r)
            .unwrap()
            .split('"')
            .filter(|k| {
                [
                    "segmentation",
                    "area",
                    "bbox",
                    "predicted_iou",
                    "point_coords",
                    "stability_score",
                    "crop_box",
                ]
                .contains(k)
            })
            .map(|k| Box::leak(k.to_string().into_boxed_str()) as &str)
            .collect();
        assert_eq!(
            keys,
            [
                "segmentation",
                "area",
                "bbox",
                "predicted_iou",
                "point_coords",
                "stability_score",
                "crop_box"
            ]
        );
        let u = d.records[0].to_sam_record(OutputMode::UncompressedRle);
        assert_eq!(
            serde_json::to_value(&u.segmentation).unwrap()["counts"],
            serde_json::json!([7, 2, 9])
        );
        let b = d.records[0].to_sam_record(OutputMode::BinaryMask);
        let Segmentation::Binary(rows) = b.segmentation else {
            panic!("binary")
        };
        // Column-major runs 7 background, 2 foreground: column 2, rows 1 and 2.
        assert!(rows[1][2] && rows[2][2] && !rows[0][2] && !rows[1][3]);
    }
}
