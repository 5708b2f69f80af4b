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
    /// The whole `width × height` image (layer 0).
    pub fn whole(width: u32, height: u32) -> CropBox {
        CropBox {
            x0: 0,
            y0: 0,
            x1: width,
            y1: height,
        }
    }
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
    let mut crops = vec![(CropBox::whole(width, height), 0)];
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

/// Full-resolution tiles used as crops for images larger than the model's view (not in
/// SAM: samkit's large-image mode). A small object shrinks with the whole image to the
/// encoder's 1024 pixels and can vanish; on a tile it keeps every pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    /// Tile side in pixels (the model's input side: no tile is shrunk).
    pub tile: u32,
    /// Least overlap between neighbouring tiles, so an object cut by one tile's edge lies
    /// whole in the next (masks touching a tile's inner edge are dropped, as for crops).
    pub overlap: u32,
}

impl Default for Tiling {
    fn default() -> Self {
        Tiling {
            tile: 1024,
            overlap: 256,
        }
    }
}

/// When tiles are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TileMode {
    /// Never: the original generator (SAM's crops only).
    #[default]
    Off,
    /// For images whose longest side exceeds [`LARGE_IMAGE_SIDE`].
    Auto,
    /// Always (an image no larger than a tile is one tile: the whole image).
    On,
}

/// Above this longest side an image counts as large (tiled in [`TileMode::Auto`]).
pub const LARGE_IMAGE_SIDE: u32 = 2048;

impl TileMode {
    /// Whether an image of `width × height` is tiled.
    pub fn applies(self, width: u32, height: u32) -> bool {
        match self {
            TileMode::Off => false,
            TileMode::Auto => width.max(height) > LARGE_IMAGE_SIDE,
            TileMode::On => true,
        }
    }
}

/// Tile starts along one side of `len` pixels: one tile when it fits, else the fewest
/// tiles of `tile` pixels overlapping by at least `overlap`, spread evenly from 0 to
/// `len − tile` (rounded to whole pixels).
fn tile_starts(len: u32, tile: u32, overlap: u32) -> Vec<u32> {
    if len <= tile {
        return vec![0];
    }
    let stride = u64::from(tile - overlap.min(tile - 1));
    let n = (u64::from(len - tile)).div_ceil(stride) + 1;
    let span = u64::from(len - tile);
    (0..n)
        .map(|i| ((i * span * 2 + (n - 1)) / (2 * (n - 1))) as u32)
        .collect()
}

/// The crops of a tiled image: the whole image (layer 0, the overview), then the tiles
/// (layer 1) in SAM's crop order (x0 outer, y0 inner). An image no larger than a tile
/// has the overview only.
pub fn tile_crop_boxes(width: u32, height: u32, tiling: Tiling) -> Result<Vec<(CropBox, u32)>> {
    if tiling.tile < 64 || tiling.overlap >= tiling.tile {
        return Err(AutoError::Param(format!(
            "tiles of {} pixels overlapping by {}: give a tile side of at least 64 and an \
             overlap smaller than it",
            tiling.tile, tiling.overlap
        )));
    }
    let mut crops = vec![(CropBox::whole(width, height), 0)];
    if width <= tiling.tile && height <= tiling.tile {
        return Ok(crops);
    }
    for x0 in tile_starts(width, tiling.tile, tiling.overlap) {
        for y0 in tile_starts(height, tiling.tile, tiling.overlap) {
            crops.push((
                CropBox {
                    x0,
                    y0,
                    x1: (x0 + tiling.tile).min(width),
                    y1: (y0 + tiling.tile).min(height),
                },
                1,
            ));
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

    #[test]
    fn tiles_cover_the_image_with_the_overlap_and_keep_full_resolution() {
        let crops = tile_crop_boxes(2560, 1500, Tiling::default()).unwrap();
        assert_eq!(
            crops[0],
            (
                CropBox {
                    x0: 0,
                    y0: 0,
                    x1: 2560,
                    y1: 1500
                },
                0
            )
        );
        // 2560: (2560 − 1024) / 768 = 2 strides → 3 tiles at 0, 768, 1536;
        // 1500: ceil(476 / 768) = 1 stride → 2 tiles at 0, 476.
        let tiles: Vec<(u32, u32, u32, u32)> = crops[1..]
            .iter()
            .map(|(c, _)| (c.x0, c.y0, c.x1, c.y1))
            .collect();
        assert_eq!(
            tiles,
            [
                (0, 0, 1024, 1024),
                (0, 476, 1024, 1500),
                (768, 0, 1792, 1024),
                (768, 476, 1792, 1500),
                (1536, 0, 2560, 1024),
                (1536, 476, 2560, 1500),
            ]
        );
        assert!(crops[1..].iter().all(|(_, layer)| *layer == 1));
        // Every pixel is in a tile; neighbours overlap by at least 256.
        for (w, h) in [(1025, 1025), (3000, 2049), (20_000, 20_000), (4097, 1024)] {
            let crops = tile_crop_boxes(w, h, Tiling::default()).unwrap();
            let mut xs: Vec<(u32, u32)> = crops[1..].iter().map(|(c, _)| (c.x0, c.x1)).collect();
            xs.sort();
            xs.dedup();
            assert_eq!((xs[0].0, xs.last().unwrap().1), (0, w));
            for pair in xs.windows(2) {
                assert!(pair[0].1 >= pair[1].0 + 256, "{w}: {pair:?}");
            }
            assert!(crops[1..]
                .iter()
                .all(|(c, _)| c.width() <= 1024 && c.height() <= 1024));
        }
        assert_eq!(
            tile_crop_boxes(1024, 800, Tiling::default()).unwrap().len(),
            1
        );
        let bad = Tiling {
            tile: 512,
            overlap: 512,
        };
        assert!(tile_crop_boxes(4000, 4000, bad).is_err());
    }

    #[test]
    fn large_means_longest_side_above_2048() {
        assert!(!TileMode::Auto.applies(2048, 2048));
        assert!(TileMode::Auto.applies(2049, 10));
        assert!(!TileMode::Off.applies(50_000, 50_000));
        assert!(TileMode::On.applies(10, 10));
    }
}
