//! Crop boxes and the way back to the image frame (`amg.py`: `generate_crop_boxes`,
//! `uncrop_boxes_xyxy`, `uncrop_points`, `uncrop_masks`, `is_box_near_crop_edge`).

use samkit_mask::CocoRle;

use crate::{AutoError, Result};

/// A crop of the image, `[x0, y0, x1, y1)` in pixels (SAM's XYXY `crop_box`, the end
/// exclusive: the crop is `image[y0:y1, x0:x1]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl CropBox {
    pub fn width(&self) -> u32 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> u32 {
        self.y1 - self.y0
    }
    /// `box_xyxy_to_xywh`, the record's `crop_box`.
    pub fn xywh(&self) -> [u32; 4] {
        [self.x0, self.y0, self.width(), self.height()]
    }
    /// torchvision `box_area` of the crop (int64 in SAM).
    pub fn area(&self) -> i64 {
        i64::from(self.width()) * i64::from(self.height())
    }
}

/// The crops of every layer and each one's layer index: the whole image (layer 0), then
/// for layer `i ≥ 1` a `2^i × 2^i` tiling with overlap, in SAM's order (x0 outer, y0
/// inner). `overlap_ratio` must be in `[0, 1]` (beyond 1 SAM's crops start before the
/// image and numpy's negative slicing takes over).
pub fn generate_crop_boxes(
    width: u32,
    height: u32,
    n_layers: u32,
    overlap_ratio: f64,
) -> Result<Vec<(CropBox, u32)>> {
    if !(0.0..=1.0).contains(&overlap_ratio) {
        return Err(AutoError::Param(format!(
            "crop overlap ratio {overlap_ratio} is outside 0..=1"
        )));
    }
    if n_layers > 8 {
        return Err(AutoError::Param(format!(
            "{n_layers} crop layers would make {} crops: give at most 8",
            (1u64..=u64::from(n_layers))
                .map(|i| 4u64.pow(i as u32))
                .sum::<u64>()
        )));
    }
    let (im_w, im_h) = (i64::from(width), i64::from(height));
    let short_side = im_w.min(im_h);
    let mut crops = vec![(
        CropBox {
            x0: 0,
            y0: 0,
            x1: width,
            y1: height,
        },
        0,
    )];
    // ceil((overlap · (n − 1) + len) / n), a Python true division.
    let crop_len = |orig_len: i64, n_crops: i64, overlap: i64| -> i64 {
        ((overlap * (n_crops - 1) + orig_len) as f64 / n_crops as f64).ceil() as i64
    };
    for i_layer in 0..n_layers {
        let n_crops_per_side = 1i64 << (i_layer + 1);
        let overlap = (overlap_ratio * short_side as f64 * (2.0 / n_crops_per_side as f64)) as i64;
        let crop_w = crop_len(im_w, n_crops_per_side, overlap);
        let crop_h = crop_len(im_h, n_crops_per_side, overlap);
        let xs: Vec<i64> = (0..n_crops_per_side)
            .map(|i| (crop_w - overlap) * i)
            .collect();
        let ys: Vec<i64> = (0..n_crops_per_side)
            .map(|i| (crop_h - overlap) * i)
            .collect();
        for &x0 in &xs {
            for &y0 in &ys {
                // 0 ≤ overlap ≤ short side keeps x0, y0 ≥ 0; a start past the image end
                // (tiny images, many layers) is an empty crop, refused when embedded.
                let clamp = |v: i64, max: i64| v.clamp(0, max) as u32;
                crops.push((
                    CropBox {
                        x0: clamp(x0, im_w),
                        y0: clamp(y0, im_h),
                        x1: clamp((x0 + crop_w).min(im_w), im_w),
                        y1: clamp((y0 + crop_h).min(im_h), im_h),
                    },
                    i_layer + 1,
                ));
            }
        }
    }
    Ok(crops)
}

/// `uncrop_boxes_xyxy` for one box: crop frame → image frame.
pub fn uncrop_box(b: [i64; 4], crop: &CropBox) -> [i64; 4] {
    let (x0, y0) = (i64::from(crop.x0), i64::from(crop.y0));
    [b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0]
}

/// `uncrop_points` for one point (float64 in SAM).
pub fn uncrop_point(p: [f64; 2], crop: &CropBox) -> [f64; 2] {
    [p[0] + f64::from(crop.x0), p[1] + f64::from(crop.y0)]
}

/// `is_box_near_crop_edge` for one box given in the crop frame: some side lies within
/// `atol` (20 in SAM) of the crop's side without lying within `atol` of the image's.
pub fn is_box_near_crop_edge(b: [i64; 4], crop: &CropBox, width: u32, height: u32) -> bool {
    const ATOL: f32 = 20.0;
    let b = uncrop_box(b, crop);
    let crop_xyxy = [crop.x0, crop.y0, crop.x1, crop.y1];
    let image_xyxy = [0, 0, width, height];
    // torch.isclose(a, b, atol=20, rtol=0) on float32: |a − b| ≤ 20.
    let close = |a: i64, c: u32| (a as f32 - c as f32).abs() <= ATOL;
    (0..4).any(|k| close(b[k], crop_xyxy[k]) && !close(b[k], image_xyxy[k]))
}

/// `uncrop_masks` then `mask_to_rle_pytorch` in one pass: the COCO RLE, in the image
/// frame (`width × height`), of a mask given row-major in the crop frame. The pad is
/// never materialised: columns outside the crop are one background run each.
pub fn uncropped_rle(mask: &[bool], crop: &CropBox, width: u32, height: u32) -> Result<CocoRle> {
    let (cw, ch) = (crop.width() as usize, crop.height() as usize);
    if mask.len() != cw * ch {
        return Err(AutoError::Decoder(format!(
            "mask has {} pixels, the {cw}x{ch} crop {}",
            mask.len(),
            cw * ch
        )));
    }
    let h = height as u64;
    let mut counts: Vec<u32> = Vec::new();
    // The run being built: its value and length. Runs alternate from background.
    let mut value = false;
    let mut run: u64 = 0;
    fn push(v: bool, len: u64, counts: &mut Vec<u32>, value: &mut bool, run: &mut u64) {
        if len == 0 {
            return;
        }
        if v != *value {
            counts.push(*run as u32);
            *value = v;
            *run = 0;
        }
        *run += len;
    }
    for x in 0..width {
        if x < crop.x0 || x >= crop.x1 {
            push(false, h, &mut counts, &mut value, &mut run);
            continue;
        }
        let cx = (x - crop.x0) as usize;
        push(false, u64::from(crop.y0), &mut counts, &mut value, &mut run);
        for cy in 0..ch {
            push(mask[cy * cw + cx], 1, &mut counts, &mut value, &mut run);
        }
        push(
            false,
            u64::from(height - crop.y1),
            &mut counts,
            &mut value,
            &mut run,
        );
    }
    counts.push(run as u32);
    Ok(CocoRle::from_counts(height, width, counts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cb(x0: u32, y0: u32, x1: u32, y1: u32) -> CropBox {
        CropBox { x0, y0, x1, y1 }
    }

    #[test]
    fn layer_one_on_100_by_60_by_hand() {
        // short side 60; n = 2; overlap = int(512/1500 · 60 · 1) = int(20.48) = 20;
        // crop_w = ceil((20 + 100) / 2) = 60, crop_h = ceil((20 + 60) / 2) = 40;
        // x0 ∈ {0, 40}, y0 ∈ {0, 20}; x0 outer, y0 inner.
        let crops = generate_crop_boxes(100, 60, 1, 512.0 / 1500.0).unwrap();
        assert_eq!(
            crops,
            vec![
                (cb(0, 0, 100, 60), 0),
                (cb(0, 0, 60, 40), 1),
                (cb(0, 20, 60, 60), 1),
                (cb(40, 0, 100, 40), 1),
                (cb(40, 20, 100, 60), 1),
            ]
        );
        assert_eq!(crops[3].0.xywh(), [40, 0, 60, 40]);
    }

    #[test]
    fn layer_two_rounds_up_and_clips_at_the_image() {
        // 101 × 61, layer 2: n = 4, overlap = int(0.5 · 61 · 0.5) = 15;
        // crop_w = ceil((45 + 101) / 4) = ceil(36.5) = 37, crop_h = ceil((45 + 61) / 4) = 27;
        // x0 = 0, 22, 44, 66 (66 + 37 = 103 → clipped to 101).
        let crops = generate_crop_boxes(101, 61, 2, 0.5).unwrap();
        assert_eq!(crops.len(), 1 + 4 + 16);
        let layer2: Vec<CropBox> = crops.iter().filter(|c| c.1 == 2).map(|c| c.0).collect();
        assert_eq!(layer2[0], cb(0, 0, 37, 27));
        assert_eq!(layer2[1], cb(0, 12, 37, 39));
        assert_eq!(layer2[15], cb(66, 36, 101, 61));
        assert!(generate_crop_boxes(10, 10, 1, 1.5).is_err());
    }

    #[test]
    fn uncrop_shifts_by_the_crop_origin() {
        let c = cb(40, 20, 100, 60);
        assert_eq!(uncrop_box([1, 2, 3, 4], &c), [41, 22, 43, 24]);
        assert_eq!(uncrop_point([0.5, 1.25], &c), [40.5, 21.25]);
    }

    #[test]
    fn near_crop_edge_but_not_image_edge() {
        let c = cb(40, 20, 100, 60);
        // Left side at image x 41: within 20 of the crop's 40, not of the image's 0.
        assert!(is_box_near_crop_edge([1, 10, 30, 30], &c, 100, 60));
        // Right side at 99 and bottom at 59 are near the crop's edges but also the
        // image's; left 65, top 45 are far from 40 and 20: kept.
        assert!(!is_box_near_crop_edge([25, 25, 59, 39], &c, 100, 60));
        // Exactly 20 away is close (≤ atol); 21 is not.
        assert!(is_box_near_crop_edge([20, 25, 59, 39], &c, 100, 60));
        assert!(!is_box_near_crop_edge([21, 25, 59, 39], &c, 100, 60));
        // The whole image as crop: nothing is near a crop edge that is not the image's.
        assert!(!is_box_near_crop_edge(
            [0, 0, 0, 0],
            &cb(0, 0, 100, 60),
            100,
            60
        ));
    }

    #[test]
    fn uncropped_rle_equals_padding_then_encoding() {
        let (w, h) = (7u32, 5u32);
        let c = cb(2, 1, 5, 4);
        let crop_mask = [true, false, true, true, true, false, false, false, true];
        let rle = uncropped_rle(&crop_mask, &c, w, h).unwrap();
        let padded = samkit_mask::Mask::from_fn(w, h, |x, y| {
            x >= c.x0
                && x < c.x1
                && y >= c.y0
                && y < c.y1
                && crop_mask[((y - c.y0) * c.width() + (x - c.x0)) as usize]
        })
        .unwrap();
        assert_eq!(rle, CocoRle::encode(&padded));
        assert_eq!(rle.area(), 5);
        // A mask starting with foreground at (0, 0) begins with a 0-length run.
        let full = uncropped_rle(&[true; 4], &cb(0, 0, 2, 2), 2, 2).unwrap();
        assert_eq!(full.counts(), &[0, 4]);
        assert!(uncropped_rle(&[true; 3], &c, w, h).is_err());
    }
}
