//! Zoom-in refinement's geometry (RITM's `ZoomIn` evaluation transform, as FocalClick
//! and SimpleClick use it): the region of interest around the current mask and the
//! clicks, expanded and clamped; a previous prediction resampled into a crop's mask input;
//! a crop's logits pasted back into the image.
//!
//! The crop is encoded like an image of its own (longest side to 1024), so a small object
//! gets the model's full input resolution. Choices, after RITM (`isegm/inference/
//! transforms/zoom_in.py`): the box is the mask's and every click's (RITM takes positive
//! clicks only; with all clicks every click stays inside the crop), expanded about its
//! centre by `expand` with a minimum side, rounded half to even (Python's `round`), clamped to the
//! image; outside the crop the pasted prediction is background.

use serde::{Deserialize, Serialize};

use crate::preprocess::resized_size;
use crate::{LowResLogits, Size, LOW_RES};

/// Zoom-in parameters (RITM's names in the docs), shared by `samkit eval` and the web app.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZoomConfig {
    /// `expansion_ratio`: the region's sides are scaled by this (default 1.4).
    pub expand: f64,
    /// `min_crop_size`: the region's sides are at least this many pixels (default 200).
    pub min_size: u32,
    /// The first click decoded on a crop (`skip_clicks` + 1; default 2).
    pub from_click: usize,
    /// Zoom in only when the crop shows more than this many times the image pixels the
    /// whole view does ([`pixel_gain`]); otherwise decode on the whole image. 0: always
    /// (RITM). Default 1: only where the whole view lost pixels.
    #[serde(default)]
    pub min_gain: f64,
}

impl Default for ZoomConfig {
    fn default() -> Self {
        ZoomConfig {
            expand: 1.4,
            min_size: 200,
            from_click: 2,
            min_gain: 1.0,
        }
    }
}

impl ZoomConfig {
    /// The crop to decode click number `clicks.len()` on, given the current mask, or `None`
    /// to decode on the whole image: before `from_click`, or when the crop would not gain
    /// pixels.
    pub fn region(&self, mask: &[bool], size: Size, clicks: &[(f32, f32)]) -> Option<Crop> {
        if clicks.len() < self.from_click {
            return None;
        }
        self.crop_around(mask, size, clicks)
    }

    /// The region of interest around the mask and the clicks, whatever their number, if it
    /// gains pixels (the web app encodes it ahead after a first click).
    pub fn crop_around(&self, mask: &[bool], size: Size, clicks: &[(f32, f32)]) -> Option<Crop> {
        let roi = object_roi(mask, size, clicks, self.expand, self.min_size)?;
        (pixel_gain(&roi, size) > self.min_gain).then_some(roi)
    }
}

/// A crop: pixels `x0..x1` × `y0..y1` (half-open) of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl Crop {
    pub fn whole(size: Size) -> Self {
        Crop {
            x0: 0,
            y0: 0,
            x1: size.width,
            y1: size.height,
        }
    }
    pub fn size(&self) -> Size {
        Size {
            width: self.x1 - self.x0,
            height: self.y1 - self.y0,
        }
    }
    /// `other` lies inside this crop.
    pub fn contains(&self, other: &Crop) -> bool {
        other.x0 >= self.x0 && other.y0 >= self.y0 && other.x1 <= self.x1 && other.y1 <= self.y1
    }
    /// Pixel (`x`, `y`) of the image lies in this crop.
    pub fn has(&self, x: f32, y: f32) -> bool {
        x >= self.x0 as f32 && y >= self.y0 as f32 && x < self.x1 as f32 && y < self.y1 as f32
    }
    /// Image coordinates → crop coordinates.
    pub fn to_crop(&self, x: f32, y: f32) -> (f32, f32) {
        (x - self.x0 as f32, y - self.y0 as f32)
    }
}

/// How many times more of the image's own pixels the model sees in `crop` than in the
/// whole image: the ratio of the two resize scales (longest side to the model's input),
/// each capped at 1, because enlarging adds no pixels. A GrabCut-sized photo (longest side
/// < 1024) gains nothing from any crop; a 4000-px photo gains up to 3.9× from a 1024-px
/// crop.
pub fn pixel_gain(crop: &Crop, size: Size) -> f64 {
    let input = f64::from(crate::preprocess::INPUT_SIZE);
    let scale = |s: Size| (input / f64::from(s.width.max(s.height).max(1))).min(1.0);
    scale(crop.size()) / scale(size)
}

/// RITM's `recompute_thresh_iou`: the current crop is kept while the new region overlaps
/// it at least this much.
pub const KEEP_IOU: f64 = 0.5;

/// RITM's rule for keeping the current crop (and, here, its embedding) at a new click
/// instead of moving to the new region `roi`: every positive click (`x`, `y`) lies inside
/// the crop (`check_object_roi`, whose `>=` on the inclusive end leaves out the last row
/// and column) and the new region overlaps it by [`KEEP_IOU`] (`get_bbox_iou`: the product
/// of the rows' and the columns' segment IoUs, not the boxes' IoU).
pub fn keeps(crop: &Crop, roi: &Crop, positive: &[(f32, f32)]) -> bool {
    let inside = positive.iter().all(|&(x, y)| {
        x >= crop.x0 as f32
            && x < (crop.x1 - 1) as f32
            && y >= crop.y0 as f32
            && y < (crop.y1 - 1) as f32
    });
    // On half-open ranges: RITM's `min(b, d) − max(a, c) + 1` over inclusive ends.
    let segment_iou = |a0: u32, a1: u32, b0: u32, b1: u32| {
        let inter = f64::from(a1.min(b1).saturating_sub(a0.max(b0)));
        let union = f64::from(a1.max(b1) - a0.min(b0)).max(1e-6);
        inter / union
    };
    let iou = segment_iou(crop.y0, crop.y1, roi.y0, roi.y1)
        * segment_iou(crop.x0, crop.x1, roi.x0, roi.x1);
    inside && iou >= KEEP_IOU
}

/// The region of interest (RITM's `get_object_roi`): the bounding box of the mask (row-major
/// `width × height`) and the clicks, its sides scaled by `expand` about the centre and
/// raised to `min_size`, clamped to the image. `None` when there is neither mask nor click.
pub fn object_roi(
    mask: &[bool],
    size: Size,
    clicks: &[(f32, f32)],
    expand: f64,
    min_size: u32,
) -> Option<Crop> {
    let (w, h) = (size.width as usize, size.height as usize);
    debug_assert_eq!(mask.len(), w * h);
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0usize, 0usize);
    let mut any = false;
    for (y, row) in mask.chunks(w.max(1)).enumerate().take(h) {
        if let (Some(a), Some(b)) = (row.iter().position(|&v| v), row.iter().rposition(|&v| v)) {
            any = true;
            (x0, x1, y0, y1) = (x0.min(a), x1.max(b), y0.min(y), y1.max(y));
        }
    }
    for &(cx, cy) in clicks {
        let (cx, cy) = (
            (cx.max(0.0) as usize).min(w - 1),
            (cy.max(0.0) as usize).min(h - 1),
        );
        any = true;
        (x0, x1, y0, y1) = (x0.min(cx), x1.max(cx), y0.min(cy), y1.max(cy));
    }
    if !any {
        return None;
    }
    // RITM's expand_bbox on inclusive bounds, then clamp_bbox to [0, side − 1].
    let expand_axis = |lo: usize, hi: usize, side: usize| {
        let centre = 0.5 * (lo + hi) as f64;
        let len = (expand * (hi - lo + 1) as f64).max(f64::from(min_size));
        let a = (centre - 0.5 * len)
            .round_ties_even()
            .clamp(0.0, (side - 1) as f64) as u32;
        let b = (centre + 0.5 * len)
            .round_ties_even()
            .clamp(0.0, (side - 1) as f64) as u32;
        (a, b + 1)
    };
    let (cx0, cx1) = expand_axis(x0, x1, w);
    let (cy0, cy1) = expand_axis(y0, y1, h);
    Some(Crop {
        x0: cx0,
        y0: cy0,
        x1: cx1,
        y1: cy1,
    })
}

/// The value of mask-input cells that fall on the zero padding of the model's input (not
/// image): a confident background.
const PAD_LOGIT: f32 = -20.0;

/// A mask input for `crop` from logits over the whole image (row-major, `size`): SAM's
/// low-resolution grid (256 × 256 over the padded 1024 input of the crop) sampled
/// bilinearly at each cell's centre (half-pixel centres, edges clamped).
pub fn mask_input_for_crop(logits: &[f32], size: Size, crop: &Crop) -> LowResLogits {
    let (w, h) = (size.width as usize, size.height as usize);
    debug_assert_eq!(logits.len(), w * h);
    let cs = crop.size();
    let resized = resized_size(cs);
    // Input pixels per crop pixel (the resize's scale on each axis).
    let (sx, sy) = (
        f64::from(resized.width) / f64::from(cs.width),
        f64::from(resized.height) / f64::from(cs.height),
    );
    let step = f64::from(crate::preprocess::INPUT_SIZE) / LOW_RES as f64;
    let sample = |x: f64, y: f64| -> f32 {
        let x = x.clamp(0.0, (w - 1) as f64);
        let y = y.clamp(0.0, (h - 1) as f64);
        let (xa, ya) = (x.floor() as usize, y.floor() as usize);
        let (xb, yb) = ((xa + 1).min(w - 1), (ya + 1).min(h - 1));
        let (fx, fy) = ((x - xa as f64) as f32, (y - ya as f64) as f32);
        let top = logits[ya * w + xa] * (1.0 - fx) + logits[ya * w + xb] * fx;
        let bottom = logits[yb * w + xa] * (1.0 - fx) + logits[yb * w + xb] * fx;
        top * (1.0 - fy) + bottom * fy
    };
    let mut out = Vec::with_capacity(LOW_RES * LOW_RES);
    for i in 0..LOW_RES {
        // The cell's centre in the padded input, then in the crop, then in the image.
        let v = (i as f64 + 0.5) * step;
        for j in 0..LOW_RES {
            let u = (j as f64 + 0.5) * step;
            if u >= f64::from(resized.width) || v >= f64::from(resized.height) {
                out.push(PAD_LOGIT);
                continue;
            }
            let x = u / sx - 0.5 + f64::from(crop.x0);
            let y = v / sy - 0.5 + f64::from(crop.y0);
            out.push(sample(x, y));
        }
    }
    LowResLogits(out)
}

/// A prompt's points that lie in a crop, moved into its coordinates. RITM's rule keeps a
/// crop only while the positive clicks are inside it, so what is left out are negative
/// clicks beyond it, where the pasted mask is background anyway.
pub fn points_in_crop(points: &[crate::Point], crop: &Crop) -> Vec<crate::Point> {
    points
        .iter()
        .filter(|p| crop.has(p.x, p.y))
        .map(|p| {
            let (x, y) = crop.to_crop(p.x, p.y);
            crate::Point { x, y, ..*p }
        })
        .collect()
}

/// The full-resolution logits, over the whole image, of a mask decoded on `crop`: its
/// low-resolution logits upscaled to the crop as SAM does, then pasted.
pub fn crop_logits_in_image(low_res: &LowResLogits, crop: &Crop, size: Size) -> Vec<f32> {
    paste(
        &crate::upscale_logits(low_res, crop.size()).data,
        crop,
        size,
    )
}

/// The pixels of `crop` cut from the image.
pub fn cut(image: &image::RgbImage, crop: &Crop) -> image::RgbImage {
    let s = crop.size();
    image::imageops::crop_imm(image, crop.x0, crop.y0, s.width, s.height).to_image()
}

/// Logits of a crop (row-major, the crop's size) placed into the image (row-major,
/// `size`); outside the crop, `PAD_LOGIT` (background).
pub fn paste(crop_logits: &[f32], crop: &Crop, size: Size) -> Vec<f32> {
    let (w, h) = (size.width as usize, size.height as usize);
    let cw = crop.size().width as usize;
    debug_assert_eq!(crop_logits.len(), cw * crop.size().height as usize);
    let mut out = vec![PAD_LOGIT; w * h];
    for (r, row) in crop_logits.chunks(cw).enumerate() {
        let y = crop.y0 as usize + r;
        let start = y * w + crop.x0 as usize;
        out[start..start + cw].copy_from_slice(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(width: u32, height: u32) -> Size {
        Size { width, height }
    }

    fn rect_mask(s: Size, [x0, y0, x1, y1]: [u32; 4]) -> Vec<bool> {
        (0..s.height)
            .flat_map(|y| (0..s.width).map(move |x| x >= x0 && x < x1 && y >= y0 && y < y1))
            .collect()
    }

    #[test]
    fn roi_is_the_mask_and_clicks_expanded_about_the_centre() {
        let s = size(200, 100);
        // Mask columns 40..=59, rows 20..=39 (20 × 20): centre 49.5, 29.5; 1.4 → 28.
        let m = rect_mask(s, [40, 20, 60, 40]);
        let roi = object_roi(&m, s, &[], 1.4, 0).unwrap();
        // RITM's expand_bbox in Python gives columns 36..=64 and rows 16..=44 (half to
        // even: round(35.5) = 36, round(63.500000000000004) = 64).
        assert_eq!(
            roi,
            Crop {
                x0: 36,
                y0: 16,
                x1: 65,
                y1: 45
            }
        );
        // A click widens the box before the expansion.
        let roi = object_roi(&m, s, &[(99.0, 30.0)], 1.0, 0).unwrap();
        assert_eq!((roi.x0, roi.x1), (40, 101)); // round(39.5) = 40, round(99.5) = 100
                                                 // The minimum side.
        let roi = object_roi(&m, s, &[], 1.4, 60).unwrap();
        assert_eq!(roi.size(), size(61, 61));
        // Clamped at the borders.
        let roi = object_roi(&rect_mask(s, [0, 0, 10, 10]), s, &[], 3.0, 0).unwrap();
        assert_eq!((roi.x0, roi.y0), (0, 0));
        let roi = object_roi(&m, s, &[], 1.4, 500).unwrap();
        assert_eq!(roi, Crop::whole(s));
        assert_eq!(object_roi(&vec![false; 200 * 100], s, &[], 1.4, 0), None);
        // Only a click: a box around it.
        let roi = object_roi(&vec![false; 200 * 100], s, &[(10.0, 10.0)], 1.4, 40).unwrap();
        assert!(roi.contains(&Crop {
            x0: 10,
            y0: 10,
            x1: 11,
            y1: 11
        }));
    }

    #[test]
    fn pixel_gain_counts_only_pixels_the_whole_view_lost() {
        let crop = |w, h| Crop {
            x0: 0,
            y0: 0,
            x1: w,
            y1: h,
        };
        // Smaller than the model's input: the whole view already has every pixel.
        assert_eq!(pixel_gain(&crop(100, 100), size(481, 321)), 1.0);
        // 4096 px shown at 1024 (¼); a 1024-px crop is shown 1:1, a 512-px one enlarged.
        assert_eq!(pixel_gain(&crop(1024, 600), size(4096, 3000)), 4.0);
        assert_eq!(pixel_gain(&crop(512, 512), size(4096, 3000)), 4.0);
        assert_eq!(pixel_gain(&crop(2048, 100), size(4096, 3000)), 2.0);
        assert_eq!(pixel_gain(&crop(4096, 3000), size(4096, 3000)), 1.0);
    }

    #[test]
    fn a_crop_is_kept_while_positive_clicks_stay_inside_and_the_region_overlaps() {
        let crop = Crop {
            x0: 100,
            y0: 100,
            x1: 300,
            y1: 300,
        };
        let shifted = |dx: u32| Crop {
            x0: 100 + dx,
            x1: 300 + dx,
            ..crop
        };
        assert!(keeps(&crop, &crop, &[(150.0, 150.0)]));
        // Columns 100..300 against 160..360: 140 / 260 = 0.54; against 170..370: 0.48.
        assert!(keeps(&crop, &shifted(60), &[]));
        assert!(!keeps(&crop, &shifted(70), &[]));
        // A positive click outside, or on the last row (RITM's `>=` on the inclusive end).
        assert!(!keeps(&crop, &crop, &[(150.0, 99.0)]));
        assert!(!keeps(&crop, &crop, &[(150.0, 299.0)]));
        assert!(keeps(&crop, &crop, &[(150.0, 298.0)]));
    }

    #[test]
    fn points_beyond_a_crop_are_left_out_the_others_moved_in() {
        use crate::{Point, PointLabel};
        let crop = Crop {
            x0: 100,
            y0: 50,
            x1: 300,
            y1: 250,
        };
        let p = |x, y, label| Point { x, y, label };
        let got = points_in_crop(
            &[
                p(150.0, 60.0, PointLabel::Positive),
                p(99.0, 60.0, PointLabel::Negative),
                p(299.5, 249.0, PointLabel::Negative),
                p(300.0, 100.0, PointLabel::Negative),
            ],
            &crop,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].x, got[0].y, got[0].label),
            (50.0, 10.0, PointLabel::Positive)
        );
        assert_eq!((got[1].x, got[1].y), (199.5, 199.0));
    }

    #[test]
    fn containment_and_coordinates() {
        let outer = Crop {
            x0: 10,
            y0: 10,
            x1: 50,
            y1: 40,
        };
        assert!(outer.contains(&Crop {
            x0: 10,
            y0: 12,
            x1: 50,
            y1: 40
        }));
        assert!(!outer.contains(&Crop {
            x0: 9,
            y0: 12,
            x1: 50,
            y1: 40
        }));
        assert_eq!(outer.to_crop(15.5, 20.0), (5.5, 10.0));
    }

    #[test]
    fn mask_input_of_the_whole_image_samples_the_models_grid() {
        // A horizontal ramp over a 512 × 256 image: the input is 1024 × 512, so low-res
        // cells are 2 image pixels wide and cells in rows ≥ 128 are padding.
        let s = size(512, 256);
        let logits: Vec<f32> = (0..256).flat_map(|_| (0..512).map(|x| x as f32)).collect();
        let low = mask_input_for_crop(&logits, s, &Crop::whole(s));
        assert_eq!(low.0.len(), 256 * 256);
        // Cell j's centre is at input 4j + 2 → image 2j + 1 − 0.5.
        for j in [0usize, 10, 200, 255] {
            assert!(
                (low.0[j] - (2.0 * j as f32 + 0.5)).abs() < 1e-4,
                "{j}: {}",
                low.0[j]
            );
        }
        assert_eq!(low.0[128 * 256], PAD_LOGIT);
        assert!(low.0[127 * 256] > 0.0);
    }

    #[test]
    fn a_crop_round_trips_through_its_mask_input_and_paste() {
        // A disc of positive logits; its crop's mask input, upscaled as the model's own
        // output is and pasted back, gives the disc again (up to the border pixels).
        let s = size(300, 200);
        let (cx, cy, r) = (150.0f32, 90.0f32, 30.0f32);
        let logits: Vec<f32> = (0..200)
            .flat_map(|y| {
                (0..300)
                    .map(move |x| r - ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt())
            })
            .collect();
        let mask: Vec<bool> = logits.iter().map(|&v| v > 0.0).collect();
        let crop = object_roi(&mask, s, &[], 1.4, 0).unwrap();
        let low = mask_input_for_crop(&logits, s, &crop);
        let up = crate::upscale_logits(&low, crop.size());
        let back = paste(&up.data, &crop, s);
        let differ = back
            .iter()
            .zip(&mask)
            .filter(|(&v, &m)| (v > 0.0) != m)
            .count();
        let area = mask.iter().filter(|&&m| m).count();
        assert!(differ * 100 < area, "{differ} of {area} pixels differ");
        // Outside the crop: background.
        assert!(back[0] < 0.0);
    }
}
