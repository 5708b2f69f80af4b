//! Reading images into the 8-bit RGB pixels SAM sees.
//!
//! Before anything is allocated, the header's size is checked: zero-size images, images
//! over the [`PixelBudget`] (decompression bombs: a 74-byte PNG header may claim
//! 50000×50000) and images too thin for SAM ([`check_sam_size`]) are refused with one
//! typed error. The decoders also get the budget as `image::Limits`. A JPEG whose data
//! stops before its end marker is an error, not an image padded with grey.
//!
//! The conversion rule, applied in this order:
//! 1. the EXIF orientation tag, when present, is applied (the image is rotated/flipped
//!    the way viewers show it), so click coordinates mean what the user sees;
//! 2. 16-bit channels are mapped to 8-bit by `image`'s conversion, `round(v / 257)`;
//! 3. grey (L, LA) is replicated into R, G and B;
//! 4. alpha is dropped without compositing (the same as Pillow's `convert("RGB")`), so a
//!    transparent region keeps the colour it stores.
//!
//! Medical and scientific data ([`ReadOptions`]): DICOM (`.dcm`) and NIfTI (`.nii`,
//! `.nii.gz`) files are read by `samkit-volume` into modality values (rescale applied)
//! and always windowed — by default the file's window, else the slice's 0.5–99.5
//! percentile range — on one slice (by default the middle one). A 16-bit PNG/TIFF is
//! windowed instead of step 2 when a window is given. The windowed pixels are what the
//! embedding cache hashes, so each window has its own embedding.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};
use samkit_mask::PixelBudget;
pub use samkit_volume::{Window, WindowChoice};

use crate::error::{EngineError, Result};
use crate::preprocess::INPUT_SIZE;

/// How medical and scientific images become 8-bit RGB (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadOptions {
    /// The window: DICOM/NIfTI always use one (default: the file's, else percentiles);
    /// 16-bit PNG/TIFF only when given (else `round(v / 257)`).
    pub window: Option<WindowChoice>,
    /// The slice of a volume (DICOM frames, NIfTI `k`); default: the middle one.
    pub slice: Option<u32>,
}

/// Decodes `path` within the default [`PixelBudget`]; see [`load_rgb_within`].
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    load_rgb_within(path, PixelBudget::DEFAULT)
}

/// Decodes `path`, applies its EXIF orientation and converts it to RGB8 (see the module
/// docs for the rule). The declared size is checked against `budget` and SAM's
/// minimum before any pixel buffer is allocated.
pub fn load_rgb_within(path: &Path, budget: PixelBudget) -> Result<RgbImage> {
    load_rgb_with(path, budget, &ReadOptions::default())
}

/// [`load_rgb_within`] with a window and slice for medical and scientific images.
pub fn load_rgb_with(path: &Path, budget: PixelBudget, options: &ReadOptions) -> Result<RgbImage> {
    if samkit_volume::is_volume_file(path) {
        return load_volume_slice(path, budget, options);
    }
    let err = |reason: String| EngineError::ImageRead {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = ImageReader::open(path)
        .map_err(|e| err(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    let Some(format) = reader.format() else {
        return Err(err(
            "not a supported image format (PNG, JPEG, TIFF, BMP, WebP)".into(),
        ));
    };
    reader.limits(budget.image_limits());
    let too_large = |width: u32, height: u32| EngineError::ImageTooLarge {
        path: path.to_path_buf(),
        width,
        height,
        max_pixels: budget.max_pixels(),
    };
    // A header over the limits fails here already; its size is in the error only.
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        ImageError::Limits(l) => err(format!(
            "{l}: the image is larger than the pixel budget of {} (raise it with --max-pixels)",
            budget.max_pixels()
        )),
        e => err(e.to_string()),
    })?;
    let (w, h) = decoder.dimensions();
    check_dimensions(path, w, h, budget).map_err(|e| match e {
        EngineError::ImageTooLarge { .. } => too_large(w, h),
        e => e,
    })?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(path).map_err(|e| err(e.to_string()))? {
        return Err(err(
            "the JPEG data ends before the image does (truncated file?)".into(),
        ));
    }
    let orientation = decoder.orientation().ok();
    // A decoder bug must not take the caller down: zune-jpeg 0.5.15 overflows an
    // `i32` on some malformed JPEGs (a panic wherever overflow checks are on, as in the
    // dev and test profiles). The decoder is consumed, so no broken state is reused.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        DynamicImage::from_decoder(decoder)
    }))
    .map_err(|_| err("the image data is malformed (the decoder failed)".into()))?;
    let mut img = decoded.map_err(|e| match e {
        ImageError::Limits(_) => too_large(w, h),
        e => err(e.to_string()),
    })?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    match options.window {
        Some(choice) if is_sixteen_bit(&img) => Ok(window_sixteen_bit(&img, choice)),
        _ => Ok(to_rgb8(img)),
    }
}

fn load_volume_slice(path: &Path, budget: PixelBudget, options: &ReadOptions) -> Result<RgbImage> {
    let (width, height, _) = samkit_volume::volume_size(path, budget)?;
    check_dimensions(path, width, height, budget)?;
    let choice = options.window.unwrap_or_default();
    Ok(samkit_volume::read_slice_rgb(
        path,
        options.slice,
        &choice,
        budget,
    )?)
}

fn is_sixteen_bit(img: &DynamicImage) -> bool {
    matches!(
        img,
        DynamicImage::ImageLuma16(_)
            | DynamicImage::ImageLumaA16(_)
            | DynamicImage::ImageRgb16(_)
            | DynamicImage::ImageRgba16(_)
    )
}

/// A 16-bit image through a window (the same window on every channel; a PNG or TIFF
/// carries none, so `auto` means the percentiles of all its samples).
fn window_sixteen_bit(img: &DynamicImage, choice: WindowChoice) -> RgbImage {
    let rgb16 = img.to_rgb16();
    let values: Vec<f32> = rgb16.as_raw().iter().map(|&v| v as f32).collect();
    let window = match choice {
        WindowChoice::Fixed(w) => w,
        WindowChoice::FromFileOrPercentiles | WindowChoice::Percentiles => {
            Window::from_percentiles(&values)
        }
    };
    let bytes = values.iter().map(|&v| window.apply(v)).collect();
    RgbImage::from_raw(rgb16.width(), rgb16.height(), bytes)
        .expect("a buffer of the image's own size")
}

/// Checks an image size read from a header: not empty, within `budget`, and one SAM
/// can encode ([`check_sam_size`]). Used by every caller that lists images before
/// decoding them (the server's folder scan), so they refuse the same files.
pub fn check_dimensions(path: &Path, width: u32, height: u32, budget: PixelBudget) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(EngineError::EmptyImage {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    if !budget.allows(width, height) {
        return Err(EngineError::ImageTooLarge {
            path: path.to_path_buf(),
            width,
            height,
            max_pixels: budget.max_pixels(),
        });
    }
    check_sam_size(path, width, height)
}

/// SAM resizes the long side to 1024 and its decoder computes the short side as
/// `floor(short · 1024 / long + 0.5)`; when that is 0 (long side more than 2048 times
/// the short one, e.g. 20000×1) ONNX Runtime fails in a `Resize` node. Refused here
/// with the reason instead.
pub fn check_sam_size(path: &Path, width: u32, height: u32) -> Result<()> {
    let (short, long) = (width.min(height), width.max(height));
    if u64::from(short) * 2 * u64::from(INPUT_SIZE) < u64::from(long) {
        return Err(EngineError::ImageTooThin {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    Ok(())
}

/// Whether a JPEG stream reaches its end-of-image marker. The `image` crate's JPEG
/// decoder fills missing data with grey and reports success, so a file cut short
/// would silently become a grey image. This walks the marker segments (skipping the
/// entropy-coded data, where a `0xFF` byte is always followed by `0x00` or a restart
/// marker) and answers whether `EOI` comes before the end of the file. Bytes after
/// `EOI` are ignored, as every decoder does.
fn jpeg_is_complete(path: &Path) -> std::io::Result<bool> {
    let mut r = ByteReader(BufReader::with_capacity(1 << 16, File::open(path)?));
    if (r.next()?, r.next()?) != (Some(0xFF), Some(0xD8)) {
        return Ok(false);
    }
    let mut pending: Option<u8> = None;
    loop {
        let marker = match pending.take() {
            Some(m) => m,
            // Markers start with 0xFF (possibly several fill bytes); anything else
            // between segments is tolerated and skipped, as decoders do.
            None => match r.marker_after_ff()? {
                Some(m) => m,
                None => return Ok(false),
            },
        };
        match marker {
            0xD9 => return Ok(true),
            0x00 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {
                let (Some(hi), Some(lo)) = (r.next()?, r.next()?) else {
                    return Ok(false);
                };
                let len = u16::from_be_bytes([hi, lo]);
                if !r.skip(u64::from(len.saturating_sub(2)))? {
                    return Ok(false);
                }
                if marker == 0xDA {
                    // Entropy-coded data up to the next marker that is not a stuffed
                    // byte (0xFF00) or a restart marker.
                    pending = loop {
                        match r.marker_after_ff()? {
                            Some(0x00 | 0xD0..=0xD7) => continue,
                            Some(m) => break Some(m),
                            None => return Ok(false),
                        }
                    };
                }
            }
        }
    }
}

/// A buffered byte reader with the two scans [`jpeg_is_complete`] needs.
struct ByteReader<R>(BufReader<R>);

impl<R: Read> ByteReader<R> {
    fn next(&mut self) -> std::io::Result<Option<u8>> {
        let b = self.0.fill_buf()?.first().copied();
        if b.is_some() {
            self.0.consume(1);
        }
        Ok(b)
    }

    /// Skips `n` bytes; `false` when the file ends first.
    fn skip(&mut self, n: u64) -> std::io::Result<bool> {
        let skipped = std::io::copy(&mut (&mut self.0).take(n), &mut std::io::sink())?;
        Ok(skipped == n)
    }

    /// Skips to the next 0xFF and past any fill 0xFFs; returns the byte after them.
    fn marker_after_ff(&mut self) -> std::io::Result<Option<u8>> {
        loop {
            let buf = self.0.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|&b| b == 0xFF) {
                Some(i) => {
                    self.0.consume(i + 1);
                    break;
                }
                None => {
                    let n = buf.len();
                    self.0.consume(n);
                }
            }
        }
        loop {
            match self.next()? {
                Some(0xFF) => continue,
                other => return Ok(other),
            }
        }
    }
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

    use samkit_testdata::hostile::{jpeg_claiming, png_claiming as png_header_claiming};

    fn small_jpeg() -> Vec<u8> {
        let img = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
        });
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&img)
            .unwrap();
        jpeg
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn png_bomb_is_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let png = png_header_claiming(50_000, 50_000);
        assert!(png.len() < 80, "{}", png.len());
        let p = write(&dir, "bomb.png", &png);
        let e = load_rgb(&p).unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::ImageTooLarge {
                    width: 50_000,
                    height: 50_000,
                    ..
                }
            ),
            "{e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("bomb.png") && msg.contains("--max-pixels"),
            "{msg}"
        );
        // The budget is configurable both ways.
        let p = write(&dir, "small.png", &png_header_claiming(300, 200));
        let e = load_rgb_within(&p, PixelBudget::new(59_999)).unwrap_err();
        assert!(matches!(e, EngineError::ImageTooLarge { .. }), "{e}");
        let e = load_rgb_within(&p, PixelBudget::new(60_000)).unwrap_err();
        assert!(!matches!(e, EngineError::ImageTooLarge { .. }), "{e}");
    }

    #[test]
    fn jpeg_bomb_is_refused_before_allocating() {
        let jpeg = jpeg_claiming(65_000, 65_000);
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "bomb.jpg", &jpeg);
        let e = load_rgb(&p).unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::ImageTooLarge {
                    width: 65_000,
                    height: 65_000,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn truncated_jpeg_is_an_error_not_grey() {
        let jpeg = small_jpeg();
        let dir = tempfile::tempdir().unwrap();
        let whole = write(&dir, "whole.jpg", &jpeg);
        assert_eq!(load_rgb(&whole).unwrap().dimensions(), (64, 48));
        // Bytes after the end marker are ignored, as by every decoder.
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"appended data");
        assert!(load_rgb(&write(&dir, "trailing.jpg", &trailing)).is_ok());
        for cut in [jpeg.len() / 2, jpeg.len() - 2, 700] {
            let p = write(&dir, "cut.jpg", &jpeg[..cut]);
            let e = load_rgb(&p).unwrap_err().to_string();
            assert!(
                e.contains("cut.jpg") && e.contains("truncated"),
                "{cut}: {e}"
            );
        }
        // A real photo (the bundled sample) and its first half.
        let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/rocket.jpg");
        assert!(load_rgb(&photo).is_ok());
        let bytes = std::fs::read(&photo).unwrap();
        let p = write(&dir, "rocket_half.jpg", &bytes[..bytes.len() / 2]);
        let e = load_rgb(&p).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn a_decoder_panic_is_an_error() {
        // Found by the image_decode fuzz target (fuzz/regressions/image_decode): this
        // JPEG makes zune-jpeg overflow an i32 multiplication, a panic under overflow
        // checks (the test profile).
        let bytes =
            include_bytes!("../../../fuzz/regressions/image_decode/zune_jpeg_dc_overflow.jpg");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.jpg");
        std::fs::write(&p, bytes).unwrap();
        let e = load_rgb(&p).unwrap_err().to_string();
        assert!(e.contains("bad.jpg") && e.contains("malformed"), "{e}");
    }

    #[test]
    fn truncated_png_is_an_error() {
        let img = RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 7) as u8, (x ^ y) as u8])
        });
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "cut.png", &png[..png.len() / 2]);
        assert!(load_rgb(&p).is_err());
    }

    #[test]
    fn images_too_thin_for_sam_are_refused() {
        let p = Path::new("x.png");
        // The decoder's short side is floor(short·1024/long + 0.5): 0 past 2048:1.
        assert!(check_sam_size(p, 2048, 1).is_ok());
        assert!(check_sam_size(p, 1, 2048).is_ok());
        assert!(check_sam_size(p, 6144, 3).is_ok());
        let e = check_sam_size(p, 20_000, 1).unwrap_err();
        assert!(matches!(e, EngineError::ImageTooThin { .. }), "{e}");
        assert!(check_sam_size(p, 2049, 1).is_err());
        assert!(check_sam_size(p, 3, 6145).is_err());
        let dir = tempfile::tempdir().unwrap();
        let thin = RgbImage::from_pixel(20_000, 1, image::Rgb([1, 2, 3]));
        let path = dir.path().join("thin.png");
        thin.save(&path).unwrap();
        let e = load_rgb(&path).unwrap_err().to_string();
        assert!(e.contains("thin.png") && e.contains("2048"), "{e}");
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

    #[test]
    fn a_sixteen_bit_image_is_windowed_only_when_asked() {
        let img: ImageBuffer<Luma<u16>, Vec<u16>> =
            ImageBuffer::from_fn(40, 30, |x, _| Luma([if x < 20 { 1000 } else { 1800 }]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("16bit.png");
        img.save(&path).unwrap();
        let plain = load_rgb_within(&path, PixelBudget::DEFAULT).unwrap();
        // round(v / 257): 1000 → 4, 1800 → 7, a nearly black picture.
        assert_eq!(
            (plain.get_pixel(0, 0).0[0], plain.get_pixel(39, 0).0[0]),
            (4, 7)
        );
        let fixed = ReadOptions {
            window: Some(WindowChoice::Fixed(Window::new(1400.0, 801.0).unwrap())),
            slice: None,
        };
        let windowed = load_rgb_with(&path, PixelBudget::DEFAULT, &fixed).unwrap();
        assert_eq!(windowed.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(windowed.get_pixel(39, 29).0, [255, 255, 255]);
        let auto = ReadOptions {
            window: Some(WindowChoice::FromFileOrPercentiles),
            slice: None,
        };
        let windowed = load_rgb_with(&path, PixelBudget::DEFAULT, &auto).unwrap();
        assert_eq!(
            (
                windowed.get_pixel(0, 0).0[0],
                windowed.get_pixel(39, 0).0[0]
            ),
            (0, 255)
        );
        // 8-bit images are not windowed.
        let eight = dir.path().join("8bit.png");
        GrayImage::from_pixel(40, 30, Luma([77]))
            .save(&eight)
            .unwrap();
        let same = load_rgb_with(&eight, PixelBudget::DEFAULT, &auto).unwrap();
        assert_eq!(same.get_pixel(3, 3).0, [77, 77, 77]);
    }
}
