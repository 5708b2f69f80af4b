//! The [`Mask`] type: a binary mask stored one byte (0 or 1) per pixel, row-major.

use crate::MaskError;
use image::GrayImage;

/// An axis-aligned pixel box: `x`, `y` of the top-left pixel, `width`, `height` in pixels
/// (so `x + width - 1` is the last column that holds a foreground pixel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// A `width × height` binary mask.
///
/// Invariants: `data.len() == width * height`, every byte is 0 or 1, and
/// `width * height <= u32::MAX` (the limit of COCO RLE).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mask {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Mask({}×{}, area {})",
            self.width,
            self.height,
            self.area()
        )
    }
}

pub(crate) fn check_size(width: u32, height: u32) -> Result<usize, MaskError> {
    let n = u64::from(width) * u64::from(height);
    if n > u64::from(u32::MAX) {
        return Err(MaskError::TooLarge { width, height });
    }
    Ok(n as usize)
}

/// Checks that `len` bytes hold a `width × height` mask; returns the pixel count.
pub(crate) fn check_len(width: u32, height: u32, len: usize) -> Result<usize, MaskError> {
    let n = check_size(width, height)?;
    if len != n {
        return Err(MaskError::DataLength {
            width,
            height,
            expected: n as u64,
            got: len as u64,
        });
    }
    Ok(n)
}

impl Mask {
    /// An empty (all background) mask.
    pub fn new(width: u32, height: u32) -> Result<Self, MaskError> {
        let n = check_size(width, height)?;
        Ok(Mask {
            width,
            height,
            data: vec![0; n],
        })
    }

    /// A mask from row-major bytes; any non-zero byte is foreground.
    pub fn from_raw(width: u32, height: u32, mut data: Vec<u8>) -> Result<Self, MaskError> {
        check_len(width, height, data.len())?;
        for v in &mut data {
            *v = u8::from(*v != 0);
        }
        Ok(Mask {
            width,
            height,
            data,
        })
    }

    /// A mask from a row-major `bool` slice.
    pub fn from_bools(width: u32, height: u32, data: &[bool]) -> Result<Self, MaskError> {
        Self::from_raw(width, height, data.iter().map(|&b| u8::from(b)).collect())
    }

    /// Foreground where `f(x, y)` is true.
    pub fn from_fn(
        width: u32,
        height: u32,
        mut f: impl FnMut(u32, u32) -> bool,
    ) -> Result<Self, MaskError> {
        let mut m = Self::new(width, height)?;
        for y in 0..height {
            for x in 0..width {
                if f(x, y) {
                    m.data[(y as usize) * (width as usize) + x as usize] = 1;
                }
            }
        }
        Ok(m)
    }

    /// Trusted constructor for data already known to be 0/1 of the right length.
    pub(crate) fn from_raw_unchecked(width: u32, height: u32, data: Vec<u8>) -> Self {
        debug_assert_eq!(data.len(), width as usize * height as usize);
        Mask {
            width,
            height,
            data,
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Row-major bytes, each 0 or 1.
    pub fn as_slice(&self) -> &[u8] {
        &self.data
    }
    pub fn into_raw(self) -> Vec<u8> {
        self.data
    }

    /// Pixel value; out-of-bounds reads are background.
    pub fn get(&self, x: u32, y: u32) -> bool {
        x < self.width
            && y < self.height
            && self.data[(y as usize) * (self.width as usize) + x as usize] != 0
    }

    /// Sets a pixel; out-of-bounds writes are ignored.
    pub fn set(&mut self, x: u32, y: u32, value: bool) {
        if x < self.width && y < self.height {
            self.data[(y as usize) * (self.width as usize) + x as usize] = u8::from(value);
        }
    }

    /// Number of foreground pixels.
    pub fn area(&self) -> u64 {
        self.data.iter().map(|&v| u64::from(v)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.data.iter().all(|&v| v == 0)
    }

    /// Tight box around the foreground, `None` when the mask is empty.
    pub fn bbox(&self) -> Option<BBox> {
        let w = self.width as usize;
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0usize, 0usize);
        for (y, row) in self.data.chunks_exact(w.max(1)).enumerate() {
            let Some(first) = row.iter().position(|&v| v != 0) else {
                continue;
            };
            let last = row.iter().rposition(|&v| v != 0).unwrap_or(first);
            y0 = y0.min(y);
            y1 = y;
            x0 = x0.min(first);
            x1 = x1.max(last);
        }
        (y0 != usize::MAX).then(|| BBox {
            x: x0 as u32,
            y: y0 as u32,
            width: (x1 - x0 + 1) as u32,
            height: (y1 - y0 + 1) as u32,
        })
    }

    fn same_size(&self, other: &Mask) -> Result<(), MaskError> {
        if self.width != other.width || self.height != other.height {
            return Err(MaskError::SizeMismatch {
                a_width: self.width,
                a_height: self.height,
                b_width: other.width,
                b_height: other.height,
            });
        }
        Ok(())
    }

    fn zip_with(&self, other: &Mask, f: impl Fn(u8, u8) -> u8) -> Result<Mask, MaskError> {
        self.same_size(other)?;
        let data = self
            .data
            .iter()
            .zip(&other.data)
            .map(|(&a, &b)| f(a, b))
            .collect();
        Ok(Mask::from_raw_unchecked(self.width, self.height, data))
    }

    pub fn union(&self, other: &Mask) -> Result<Mask, MaskError> {
        self.zip_with(other, |a, b| a | b)
    }
    pub fn intersection(&self, other: &Mask) -> Result<Mask, MaskError> {
        self.zip_with(other, |a, b| a & b)
    }
    /// Pixels of `self` that are not in `other`.
    pub fn difference(&self, other: &Mask) -> Result<Mask, MaskError> {
        self.zip_with(other, |a, b| a & (b ^ 1))
    }
    /// Pixels in exactly one of the two masks.
    pub fn symmetric_difference(&self, other: &Mask) -> Result<Mask, MaskError> {
        self.zip_with(other, |a, b| a ^ b)
    }
    /// Foreground and background swapped.
    pub fn inverted(&self) -> Mask {
        Mask::from_raw_unchecked(
            self.width,
            self.height,
            self.data.iter().map(|&v| v ^ 1).collect(),
        )
    }

    /// Intersection over union. Two empty masks are identical and score 1.0
    /// (pycocotools' `iou` would say 0.0; [`crate::CocoRle::iou`] follows it).
    pub fn iou(&self, other: &Mask) -> Result<f64, MaskError> {
        self.same_size(other)?;
        let (mut inter, mut uni) = (0u64, 0u64);
        for (&a, &b) in self.data.iter().zip(&other.data) {
            inter += u64::from(a & b);
            uni += u64::from(a | b);
        }
        Ok(if uni == 0 {
            1.0
        } else {
            inter as f64 / uni as f64
        })
    }

    /// Grey image, 255 = object, 0 = background.
    pub fn to_gray_image(&self) -> GrayImage {
        let data = self.data.iter().map(|&v| v * 255).collect();
        // The buffer length matches width·height by the type's invariant.
        GrayImage::from_raw(self.width, self.height, data)
            .unwrap_or_else(|| GrayImage::new(self.width, self.height))
    }

    /// Foreground where the grey value is strictly greater than `threshold`.
    pub fn from_gray_image_threshold(img: &GrayImage, threshold: u8) -> Result<Mask, MaskError> {
        let (w, h) = img.dimensions();
        check_size(w, h)?;
        let data = img
            .as_raw()
            .iter()
            .map(|&v| u8::from(v > threshold))
            .collect();
        Ok(Mask::from_raw_unchecked(w, h, data))
    }

    /// Foreground where the grey value is non-zero (samkit writes 255 = object).
    pub fn from_gray_image(img: &GrayImage) -> Result<Mask, MaskError> {
        Self::from_gray_image_threshold(img, 0)
    }

    /// Column-major (Fortran order) copy of the pixels, as COCO RLE scans them and
    /// numpy's `order="F"` stores them.
    pub fn to_column_major(&self) -> Vec<u8> {
        transpose(&self.data, self.width as usize, self.height as usize)
    }

    /// A mask from column-major (Fortran order) bytes; any non-zero byte is foreground.
    pub fn from_column_major(width: u32, height: u32, col: &[u8]) -> Result<Mask, MaskError> {
        check_len(width, height, col.len())?;
        let data = transpose(col, height as usize, width as usize);
        Mask::from_raw(width, height, data)
    }
}

impl From<&Mask> for GrayImage {
    fn from(m: &Mask) -> GrayImage {
        m.to_gray_image()
    }
}

impl TryFrom<&GrayImage> for Mask {
    type Error = MaskError;
    fn try_from(img: &GrayImage) -> Result<Mask, MaskError> {
        Mask::from_gray_image(img)
    }
}

/// Transposes a `rows × cols` row-major byte matrix (each row `cols` long) into
/// `cols × rows`. Blocked so that both sides stay in cache on large masks.
fn transpose(src: &[u8], cols: usize, rows: usize) -> Vec<u8> {
    const B: usize = 32;
    let mut dst = vec![0u8; src.len()];
    for r0 in (0..rows).step_by(B) {
        let r1 = (r0 + B).min(rows);
        for c0 in (0..cols).step_by(B) {
            let c1 = (c0 + B).min(cols);
            for r in r0..r1 {
                let row = &src[r * cols..r * cols + cols];
                for c in c0..c1 {
                    dst[c * rows + r] = row[c];
                }
            }
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn construct_and_measure() {
        let m = Mask::from_fn(5, 4, |x, y| (1..3).contains(&x) && (2..4).contains(&y)).unwrap();
        assert_eq!(m.area(), 4);
        assert_eq!(
            m.bbox(),
            Some(BBox {
                x: 1,
                y: 2,
                width: 2,
                height: 2
            })
        );
        assert_eq!(Mask::new(3, 3).unwrap().bbox(), None);
        assert!(Mask::from_raw(2, 2, vec![0; 3]).is_err());
        assert!(Mask::new(70_000, 70_000).is_err());
    }

    #[test]
    fn set_ops_and_iou() {
        let a = Mask::from_fn(4, 4, |x, _| x < 2).unwrap();
        let b = Mask::from_fn(4, 4, |x, _| (1..3).contains(&x)).unwrap();
        assert_eq!(a.union(&b).unwrap().area(), 12);
        assert_eq!(a.intersection(&b).unwrap().area(), 4);
        assert_eq!(a.difference(&b).unwrap().area(), 4);
        assert_eq!(a.symmetric_difference(&b).unwrap().area(), 8);
        assert!((a.iou(&b).unwrap() - 4.0 / 12.0).abs() < 1e-12);
        assert!(a.iou(&Mask::new(3, 4).unwrap()).is_err());
        let e = Mask::new(2, 2).unwrap();
        assert_eq!(e.iou(&e).unwrap(), 1.0);
    }

    #[test]
    fn gray_round_trip_and_transpose() {
        let m = Mask::from_fn(7, 3, |x, y| (x + y) % 3 == 0).unwrap();
        let g = m.to_gray_image();
        assert_eq!(g.get_pixel(0, 0).0[0], 255);
        assert_eq!(Mask::from_gray_image(&g).unwrap(), m);
        let col = m.to_column_major();
        assert_eq!(col[1], u8::from(m.get(0, 1)));
        assert_eq!(Mask::from_column_major(7, 3, &col).unwrap(), m);
    }
}
