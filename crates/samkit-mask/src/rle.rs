//! COCO run-length encoding ([`CocoRle`]), bit-exact with pycocotools.
//!
//! Layout: pixels are scanned column-major (Fortran order, `y` fastest); `counts`
//! alternate background/foreground runs and start with background (a leading 0 when
//! the first pixel is foreground). The compressed form is pycocotools' `rleToString`:
//! 5-bit LEB128-like groups offset by 48, with run `i > 2` stored as the delta to run
//! `i - 2`.
//!
//! Crate choice: crates.io has `cocotools` (0.0.x, last release Jan 2025, whole-dataset
//! tooling) and `hotcoco` (1.x, actively released, MIT, a faithful port of
//! pycocotools' `maskApi.c` including `rleToString`, `merge` and `frPoly`), so the
//! codec is not hand-written: the compressed strings, merge, bbox, polygon
//! rasterisation and the column-major encode/decode are `hotcoco::mask`. Only the
//! conversion between samkit's row-major [`Mask`] and column-major runs is ours
//! (`rle_fast.rs`), because it avoids a transpose and is 2–11× pycocotools (see
//! BENCHMARKS.md). The pycocotools cross-tests in `crates/samkit-formats/tests` prove
//! the parity of both.

use crate::mask::{check_len, check_size};
use crate::rle_fast;
use crate::{Mask, MaskError, PixelBudget};
use hotcoco::mask as hm;
use serde::{Deserialize, Serialize};

/// A COCO RLE mask of `height × width` pixels. Invariant: the runs sum to
/// exactly `height · width`.
///
/// Serialises as COCO's `{"size": [h, w], "counts": "<compressed>"}`; deserialises
/// from either the compressed string or the uncompressed `counts` list, validating both.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RleJson", into = "RleJson")]
pub struct CocoRle {
    height: u32,
    width: u32,
    counts: Vec<u32>,
}

impl std::fmt::Debug for CocoRle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CocoRle({}×{}, {} runs)",
            self.width,
            self.height,
            self.counts.len()
        )
    }
}

/// COCO's JSON spelling of an RLE (`size` is `[height, width]`).
#[derive(Serialize, Deserialize, Clone)]
pub struct RleJson {
    pub size: [u32; 2],
    pub counts: RleCounts,
}

/// The two spellings of `counts`.
#[derive(Serialize, Deserialize, Clone)]
#[serde(untagged)]
pub enum RleCounts {
    Compressed(String),
    Runs(Vec<u32>),
}

impl TryFrom<RleJson> for CocoRle {
    type Error = MaskError;
    fn try_from(j: RleJson) -> Result<Self, MaskError> {
        let [h, w] = j.size;
        match j.counts {
            RleCounts::Compressed(s) => CocoRle::from_compressed(h, w, &s),
            RleCounts::Runs(c) => CocoRle::from_counts(h, w, c),
        }
    }
}

impl From<CocoRle> for RleJson {
    fn from(r: CocoRle) -> RleJson {
        RleJson {
            size: [r.height, r.width],
            counts: RleCounts::Compressed(r.to_compressed()),
        }
    }
}

fn map_err(e: hotcoco::Error) -> MaskError {
    MaskError::RleString(e.to_string())
}

impl CocoRle {
    /// From uncompressed runs (`counts` list). Errors unless they sum to `h · w`.
    pub fn from_counts(height: u32, width: u32, counts: Vec<u32>) -> Result<Self, MaskError> {
        let expected = check_size(width, height)? as u64;
        let got: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        if got != expected {
            return Err(MaskError::RleCountsSum { expected, got });
        }
        // An empty run list (0×N mask) is spelled `[0]` by pycocotools.
        let counts = if counts.is_empty() { vec![0] } else { counts };
        Ok(CocoRle {
            height,
            width,
            counts,
        })
    }

    /// From pycocotools' compressed `counts` string. Errors on malformed strings and
    /// on runs that do not sum to `h · w`.
    pub fn from_compressed(height: u32, width: u32, s: &str) -> Result<Self, MaskError> {
        check_size(width, height)?;
        if !s.bytes().all(|b| (48..48 + 64).contains(&b)) {
            return Err(MaskError::RleString(
                "character outside the RLE alphabet ('0'..'o')".into(),
            ));
        }
        let r = hm::rle_from_string(s, height, width).map_err(map_err)?;
        Self::from_counts(height, width, r.counts)
    }

    /// Encodes a mask (pycocotools `encode`), straight from its row-major pixels.
    pub fn encode(mask: &Mask) -> CocoRle {
        let counts = rle_fast::encode_row_major(
            mask.as_slice(),
            mask.width() as usize,
            mask.height() as usize,
        );
        CocoRle {
            height: mask.height(),
            width: mask.width(),
            counts,
        }
    }

    /// Encodes column-major (Fortran-order) bytes of a `height × width` mask; any
    /// non-zero byte is foreground (what pycocotools `encode` takes).
    pub fn encode_column_major(height: u32, width: u32, col: &[u8]) -> Result<CocoRle, MaskError> {
        check_len(width, height, col.len())?;
        let r = hm::encode(col, height, width).map_err(map_err)?;
        Ok(CocoRle::from_hotcoco(r))
    }

    /// Decodes to a row-major [`Mask`] (pycocotools `decode`).
    pub fn decode(&self) -> Mask {
        let data =
            rle_fast::decode_row_major(&self.counts, self.width as usize, self.height as usize);
        Mask::from_raw_unchecked(self.width, self.height, data)
    }

    /// [`decode`](Self::decode) after checking the declared size against `budget`: use
    /// this on RLEs read from outside, whose `size` may claim gigapixels in a few bytes.
    pub fn decode_within(&self, budget: PixelBudget) -> Result<Mask, MaskError> {
        budget.check(self.width, self.height)?;
        Ok(self.decode())
    }

    /// Decodes to column-major bytes (0/1), as pycocotools returns them.
    pub fn decode_column_major(&self) -> Vec<u8> {
        hm::decode(&self.as_hotcoco())
    }

    /// Rasterises one polygon `[x0, y0, x1, y1, ...]` exactly as pycocotools
    /// `frPyObjects`/`frPoly` (each polygon is closed; a pixel is inside when the
    /// polygon covers its centre, with COCO's rounding).
    pub fn from_polygon(height: u32, width: u32, xy: &[f64]) -> Result<CocoRle, MaskError> {
        check_size(width, height)?;
        if xy.len() < 6 || xy.len() % 2 != 0 {
            return Err(MaskError::PolygonTooShort {
                points: xy.len() / 2,
            });
        }
        if xy.iter().any(|v| !v.is_finite()) {
            return Err(MaskError::PolygonNotFinite);
        }
        let r = hm::fr_poly(xy, height, width).map_err(map_err)?;
        Ok(CocoRle::from_hotcoco(r))
    }

    /// Union of several COCO polygons of one object (pycocotools `frPyObjects` + `merge`).
    pub fn from_polygons(
        height: u32,
        width: u32,
        polys: &[Vec<f64>],
    ) -> Result<CocoRle, MaskError> {
        let rles = polys
            .iter()
            .map(|p| Self::from_polygon(height, width, p))
            .collect::<Result<Vec<_>, _>>()?;
        if rles.is_empty() {
            return Self::from_counts(height, width, vec![height * width]);
        }
        Self::merge(&rles, false)
    }

    fn from_hotcoco(r: hotcoco::Rle) -> CocoRle {
        CocoRle {
            height: r.h,
            width: r.w,
            counts: if r.counts.is_empty() {
                vec![0]
            } else {
                r.counts
            },
        }
    }

    fn as_hotcoco(&self) -> hotcoco::Rle {
        hotcoco::Rle {
            h: self.height,
            w: self.width,
            counts: self.counts.clone(),
        }
    }

    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Uncompressed runs.
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// pycocotools' compressed `counts` string.
    pub fn to_compressed(&self) -> String {
        hm::rle_to_string(&self.as_hotcoco())
    }

    /// Foreground pixel count, straight from the runs.
    pub fn area(&self) -> u64 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&c| u64::from(c))
            .sum()
    }

    /// COCO bbox `[x, y, w, h]` as pycocotools `toBbox` (all zero when empty).
    pub fn bbox(&self) -> [f64; 4] {
        hm::to_bbox(&self.as_hotcoco())
    }

    /// Union (`intersect = false`) or intersection of same-sized RLEs
    /// (pycocotools `merge`). An empty slice is an error-free empty 0×0 mask.
    pub fn merge(rles: &[CocoRle], intersect: bool) -> Result<CocoRle, MaskError> {
        if let Some(first) = rles.first() {
            if let Some(o) = rles
                .iter()
                .find(|o| o.height != first.height || o.width != first.width)
            {
                return Err(MaskError::SizeMismatch {
                    a_width: first.width,
                    a_height: first.height,
                    b_width: o.width,
                    b_height: o.height,
                });
            }
        }
        let hs: Vec<hotcoco::Rle> = rles.iter().map(CocoRle::as_hotcoco).collect();
        let r = hm::merge(&hs, intersect).map_err(map_err)?;
        Ok(CocoRle::from_hotcoco(r))
    }

    pub fn union(&self, other: &CocoRle) -> Result<CocoRle, MaskError> {
        Self::merge(&[self.clone(), other.clone()], false)
    }

    pub fn intersection(&self, other: &CocoRle) -> Result<CocoRle, MaskError> {
        Self::merge(&[self.clone(), other.clone()], true)
    }

    /// IoU as pycocotools `iou(..., iscrowd=[0])`: 0.0 when both are empty.
    pub fn iou(&self, other: &CocoRle) -> Result<f64, MaskError> {
        if self.height != other.height || self.width != other.width {
            return Err(MaskError::SizeMismatch {
                a_width: self.width,
                a_height: self.height,
                b_width: other.width,
                b_height: other.height,
            });
        }
        let inter = self.intersection(other)?.area() as f64;
        let union = (self.area() + other.area()) as f64 - inter;
        Ok(if union > 0.0 { inter / union } else { 0.0 })
    }
}

impl From<&Mask> for CocoRle {
    fn from(m: &Mask) -> CocoRle {
        CocoRle::encode(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encoding() {
        // 3×2 mask, column-major pixels: col0 = [0,1,1], col1 = [1,0,0]
        let m = Mask::from_raw(2, 3, vec![0, 1, 1, 0, 1, 0]).unwrap();
        let r = CocoRle::encode(&m);
        assert_eq!(r.counts(), &[1, 3, 2]);
        assert_eq!(r.area(), 3);
        assert_eq!(r.bbox(), [0.0, 0.0, 2.0, 3.0]);
        assert_eq!(r.decode(), m);
        assert_eq!(r.decode_within(PixelBudget::new(6)).unwrap(), m);
        assert!(matches!(
            r.decode_within(PixelBudget::new(5)),
            Err(MaskError::OverBudget { .. })
        ));
        let s = r.to_compressed();
        assert_eq!(CocoRle::from_compressed(3, 2, &s).unwrap(), r);
    }

    #[test]
    fn first_pixel_foreground_starts_with_zero() {
        let m = Mask::from_fn(3, 3, |_, _| true).unwrap();
        assert_eq!(CocoRle::encode(&m).counts(), &[0, 9]);
        assert_eq!(CocoRle::encode(&Mask::new(3, 3).unwrap()).counts(), &[9]);
    }

    #[test]
    fn rejects_bad_counts() {
        assert_eq!(
            CocoRle::from_counts(2, 2, vec![1, 2]),
            Err(MaskError::RleCountsSum {
                expected: 4,
                got: 3
            })
        );
        assert!(CocoRle::from_compressed(2, 2, "zz").is_err());
        assert!(CocoRle::from_compressed(2, 2, "é").is_err());
        assert!(CocoRle::from_compressed(2, 2, "").is_err());
        assert!(CocoRle::from_polygon(5, 5, &[0.0, 0.0, 1.0, 1.0]).is_err());
        assert!(CocoRle::from_polygon(5, 5, &[0.0, 0.0, 1.0, f64::NAN, 2.0, 2.0]).is_err());
    }

    #[test]
    fn merge_and_iou() {
        let a = CocoRle::encode(&Mask::from_fn(4, 4, |x, _| x < 2).unwrap());
        let b = CocoRle::encode(&Mask::from_fn(4, 4, |x, _| (1..3).contains(&x)).unwrap());
        assert_eq!(a.union(&b).unwrap().area(), 12);
        assert_eq!(a.intersection(&b).unwrap().area(), 4);
        assert!((a.iou(&b).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        let c = CocoRle::encode(&Mask::new(3, 4).unwrap());
        assert!(a.iou(&c).is_err());
        assert!(CocoRle::merge(&[a, c], false).is_err());
    }

    #[test]
    fn serde_both_spellings() {
        let r: CocoRle = serde_json::from_str(r#"{"size":[3,2],"counts":[1,3,2]}"#).unwrap();
        let j = serde_json::to_string(&r).unwrap();
        let back: CocoRle = serde_json::from_str(&j).unwrap();
        assert_eq!(back, r);
        assert!(serde_json::from_str::<CocoRle>(r#"{"size":[3,2],"counts":[1,3]}"#).is_err());
    }
}
