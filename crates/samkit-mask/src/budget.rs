//! [`PixelBudget`]: the most pixels one image or mask read from outside may declare.

use crate::MaskError;

/// The most pixels (`width × height`) that one image or mask read from a file may
/// declare. Every reader of outside data checks the *declared* size against it before
/// allocating (image headers, COCO/YOLO image sizes, RLE sizes), so a 74-byte PNG
/// header claiming 50000×50000 is refused at once instead of allocating gigabytes.
///
/// The default, 200 megapixels, admits every camera sensor on sale (the largest, a
/// 151-megapixel medium-format back) and 14000×14000 scans or orthophotos. Memory
/// per decode is about 3 bytes per pixel for 8-bit RGB (600 MB at the budget) and up
/// to 11 for 16-bit RGBA (the decoded buffer plus its RGB8 copy, 2.2 GB at the
/// budget); SAM itself only ever sees a 1024-pixel version. Raise it (`--max-pixels`)
/// for gigapixel panoramas on a machine with the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelBudget {
    max_pixels: u64,
}

impl PixelBudget {
    /// 200 megapixels (see the type's docs for why).
    pub const DEFAULT: PixelBudget = PixelBudget::new(200_000_000);

    /// A budget of `max_pixels` pixels per image.
    pub const fn new(max_pixels: u64) -> Self {
        PixelBudget { max_pixels }
    }

    pub const fn max_pixels(self) -> u64 {
        self.max_pixels
    }

    /// Whether a `width × height` image fits.
    pub fn allows(self, width: u32, height: u32) -> bool {
        u64::from(width) * u64::from(height) <= self.max_pixels
    }

    /// `Ok` when a `width × height` image fits, else [`MaskError::OverBudget`].
    pub fn check(self, width: u32, height: u32) -> Result<(), MaskError> {
        if self.allows(width, height) {
            Ok(())
        } else {
            Err(MaskError::OverBudget {
                width,
                height,
                max_pixels: self.max_pixels,
            })
        }
    }

    /// Limits for the `image` crate's decoders: no side longer than the budget allows
    /// and no single allocation beyond 8 bytes (16-bit RGBA) per budgeted pixel. The
    /// decoders check these against the header; the caller still checks
    /// `width × height` itself (the sides alone bound a product far above the budget).
    pub fn image_limits(self) -> image::Limits {
        let side = u32::try_from(self.max_pixels).unwrap_or(u32::MAX);
        let mut limits = image::Limits::no_limits();
        limits.max_image_width = Some(side);
        limits.max_image_height = Some(side);
        limits.max_alloc = Some(self.max_pixels.saturating_mul(8));
        limits
    }
}

impl Default for PixelBudget {
    fn default() -> Self {
        PixelBudget::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_sizes_are_checked_without_overflow() {
        let b = PixelBudget::new(100);
        assert!(b.allows(10, 10));
        assert!(!b.allows(10, 11));
        assert!(!PixelBudget::DEFAULT.allows(50_000, 50_000));
        assert!(PixelBudget::DEFAULT.allows(14_204, 10_652));
        assert!(!PixelBudget::new(u64::from(u32::MAX)).allows(u32::MAX, u32::MAX));
        let e = b.check(50_000, 50_000).unwrap_err().to_string();
        assert!(
            e.contains("50000×50000") && e.contains("--max-pixels"),
            "{e}"
        );
    }

    #[test]
    fn image_limits_follow_the_budget() {
        let l = PixelBudget::new(1000).image_limits();
        assert_eq!(l.max_image_width, Some(1000));
        assert_eq!(l.max_alloc, Some(8000));
    }
}
