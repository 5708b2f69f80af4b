//! SAM's image preprocessing (`ResizeLongestSide` + normalisation + padding), reproduced
//! exactly: the longest side goes to 1024 with `(int(H·s+0.5), int(W·s+0.5))`, the
//! resize is Pillow's bilinear filter, pixels are normalised per channel and the result
//! is zero-padded on the bottom and right to 1024×1024.
//!
//! The resize is Pillow's bilinear filter reproduced to the byte (`pillow_resize`);
//! `tests/resize_pillow.rs` checks it against Pillow itself on the GrabCut images.

use image::RgbImage;

/// The side of SAM's square input.
pub const INPUT_SIZE: u32 = 1024;
const PIXEL_MEAN: [f32; 3] = [123.675, 116.28, 103.53];
const PIXEL_STD: [f32; 3] = [58.395, 57.12, 57.375];

/// An image size as (width, height) in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

/// The size SAM resizes an image of `size` to before padding: the longest side becomes
/// `INPUT_SIZE`, the other `int(side·s + 0.5)` as in segment-anything.
pub fn resized_size(size: Size) -> Size {
    let scale = INPUT_SIZE as f64 / size.width.max(size.height) as f64;
    let side = |v: u32| ((v as f64 * scale + 0.5) as u32).max(1);
    Size {
        width: side(size.width),
        height: side(size.height),
    }
}

/// Resizes with Pillow's bilinear filter (see [`crate::pillow_resize`]).
pub fn resize_bilinear(img: &RgbImage, to: Size) -> RgbImage {
    if img.dimensions() == (to.width, to.height) {
        return img.clone();
    }
    crate::pillow_resize::resize_bilinear(img, to.width, to.height)
}

/// The encoder input: `[1, 3, 1024, 1024]` f32, channel-major, normalised and padded.
pub fn encoder_input(img: &RgbImage) -> (Vec<f32>, Size) {
    let size = Size {
        width: img.width(),
        height: img.height(),
    };
    let to = resized_size(size);
    let resized = resize_bilinear(img, to);
    let n = (INPUT_SIZE * INPUT_SIZE) as usize;
    let mut out = vec![0f32; 3 * n];
    for (y, row) in resized.rows().enumerate() {
        for (x, px) in row.enumerate() {
            let i = y * INPUT_SIZE as usize + x;
            for c in 0..3 {
                out[c * n + i] = (px.0[c] as f32 - PIXEL_MEAN[c]) / PIXEL_STD[c];
            }
        }
    }
    (out, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resized_size_follows_segment_anything() {
        // 640x427 (W x H): s = 1.6, H -> int(683.2 + 0.5) = 683.
        let s = resized_size(Size {
            width: 640,
            height: 427,
        });
        assert_eq!((s.width, s.height), (1024, 683));
        let s = resized_size(Size {
            width: 1,
            height: 5000,
        });
        assert_eq!((s.width, s.height), (1, 1024));
    }

    #[test]
    fn padding_is_zero_and_normalisation_exact() {
        let img = RgbImage::from_pixel(4, 2, image::Rgb([124, 116, 104]));
        let (t, to) = encoder_input(&img);
        assert_eq!((to.width, to.height), (1024, 512));
        let n = 1024 * 1024;
        assert_eq!(t[0], (124.0 - 123.675) / 58.395);
        assert_eq!(t[n + 5], (116.0 - 116.28) / 57.12);
        // Row 600 is padding.
        assert_eq!(t[600 * 1024 + 3], 0.0);
        assert_eq!(t[2 * n + 600 * 1024 + 3], 0.0);
    }
}
