//! Hostile files drawn for tests: images whose headers declare far more pixels than their
//! bytes hold (the shape of a decompression bomb), made in memory so that no test needs a
//! large file.

use image::codecs::jpeg::JpegEncoder;

/// A PNG whose header declares `w`×`h` RGB8 and whose image data is a few bytes (an empty
/// zlib stream): the 74-byte kind of file that aborted the server.
pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0, 0, 0, 1],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A small, valid baseline JPEG of `w`×`h` gradient pixels.
pub fn small_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 3) as u8, ((x + y) % 256) as u8])
    });
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .expect("encoding a small JPEG in memory");
    jpeg
}

/// A small JPEG whose SOF0 header is patched to declare `w`×`h`.
pub fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut jpeg = small_jpeg(96, 64);
    let sof = jpeg
        .windows(2)
        .position(|m| m == [0xFF, 0xC0])
        .expect("a baseline JPEG has SOF0");
    jpeg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    jpeg
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageDecoder;

    #[test]
    fn headers_declare_the_claimed_sizes() {
        let png = png_claiming(50_000, 40_000);
        assert!(png.len() < 80, "{}", png.len());
        let d = image::codecs::png::PngDecoder::new(std::io::Cursor::new(&png)).unwrap();
        assert_eq!(d.dimensions(), (50_000, 40_000));
        let jpeg = jpeg_claiming(65_000, 60_000);
        let d = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&jpeg)).unwrap();
        assert_eq!(d.dimensions(), (65_000, 60_000));
    }
}
