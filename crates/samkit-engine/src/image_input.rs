//! Reading images into the 8-bit RGB pixels SAM sees.
//!
//! The conversion rule, applied in this order:
//! 1. the EXIF orientation tag, when present, is applied (the image is rotated/flipped
//!    the way viewers show it), so click coordinates mean what the user sees;
//! 2. 16-bit channels are mapped to 8-bit by `image`'s conversion, `round(v / 257)`;
//! 3. grey (L, LA) is replicated into R, G and B;
//! 4. alpha is dropped without compositing (the same as Pillow's `convert("RGB")`), so a
//!    transparent region keeps the colour it stores.

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::error::{EngineError, Result};

/// Decodes `path`, applies its EXIF orientation and converts it to RGB8 (see the module
/// docs for the rule).
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let err = |reason: String| EngineError::ImageRead {
        path: path.to_path_buf(),
        reason,
    };
    let reader = ImageReader::open(path)
        .map_err(|e| err(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    if reader.format().is_none() {
        return Err(err(
            "not a supported image format (PNG, JPEG, TIFF, BMP, WebP)".into(),
        ));
    }
    let mut decoder = reader.into_decoder().map_err(|e| err(e.to_string()))?;
    let orientation = decoder.orientation().ok();
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(EngineError::EmptyImage {
            path: path.to_path_buf(),
            width: w,
            height: h,
        });
    }
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| err(e.to_string()))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(to_rgb8(img))
}

/// Converts a decoded image to RGB8 by the module's rule (no orientation step).
pub fn to_rgb8(img: DynamicImage) -> RgbImage {
    match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageBuffer, Luma, Rgba, RgbaImage};

    #[test]
    fn grey_is_replicated_and_alpha_dropped() {
        let g = GrayImage::from_pixel(2, 2, Luma([77]));
        let rgb = to_rgb8(DynamicImage::ImageLuma8(g));
        assert_eq!(rgb.get_pixel(1, 1).0, [77, 77, 77]);
        let a = RgbaImage::from_pixel(2, 2, Rgba([10, 20, 30, 0]));
        let rgb = to_rgb8(DynamicImage::ImageRgba8(a));
        assert_eq!(rgb.get_pixel(0, 0).0, [10, 20, 30]);
    }

    #[test]
    fn sixteen_bit_rounds_to_eight() {
        let img: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(3, 1, |x, _| {
            Luma([[0u16, 257 * 100 + 128, 65535][x as usize]])
        });
        let rgb = to_rgb8(DynamicImage::ImageLuma16(img));
        assert_eq!(rgb.get_pixel(0, 0).0[0], 0);
        assert_eq!(rgb.get_pixel(1, 0).0[0], 100);
        assert_eq!(rgb.get_pixel(2, 0).0[0], 255);
    }

    #[test]
    fn garbage_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.png");
        std::fs::write(&p, b"not an image at all").unwrap();
        let e = load_rgb(&p).unwrap_err().to_string();
        assert!(e.contains("x.png"), "{e}");
        let e = load_rgb(&dir.path().join("missing.png"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.png"), "{e}");
    }

    #[test]
    fn exif_orientation_is_applied() {
        // A 2x1 JPEG with orientation 6 (rotate 90° clockwise) must come out 1x2.
        let mut jpeg = Vec::new();
        let img = RgbImage::from_fn(16, 8, |x, _| {
            if x < 8 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        });
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&img)
            .unwrap();
        // Insert an APP1 Exif segment right after SOI.
        let tiff: Vec<u8> = vec![
            b'M', b'M', 0, 42, 0, 0, 0, 8, // header, IFD at 8
            0, 1, // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, // Orientation SHORT 1 = 6
            0, 0, 0, 0, // next IFD
        ];
        let mut app1 = vec![0xFF, 0xE1];
        let len = (2 + 6 + tiff.len()) as u16;
        app1.extend_from_slice(&len.to_be_bytes());
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(&tiff);
        let mut with_exif = jpeg[..2].to_vec();
        with_exif.extend_from_slice(&app1);
        with_exif.extend_from_slice(&jpeg[2..]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rot.jpg");
        std::fs::write(&p, &with_exif).unwrap();
        let rgb = load_rgb(&p).unwrap();
        assert_eq!(rgb.dimensions(), (8, 16));
        // Rotated clockwise: the red left half is now the top half.
        assert!(rgb.get_pixel(4, 2).0[0] > 200);
        assert!(rgb.get_pixel(4, 13).0[2] > 200);
    }
}
