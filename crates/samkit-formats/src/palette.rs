//! Palettes and indexed-PNG writing (the `image` crate cannot write palette PNGs).

use crate::FormatError;
use std::path::Path;

/// The Pascal VOC colormap: colour `i` spreads the bits of `i` over R, G, B
/// (index 0 black, 1 maroon, 2 green, …, 255 = (224, 224, 192) the VOC void colour).
pub fn voc_colormap() -> [[u8; 3]; 256] {
    let mut map = [[0u8; 3]; 256];
    for (i, entry) in map.iter_mut().enumerate() {
        let (mut r, mut g, mut b) = (0u8, 0u8, 0u8);
        let mut c = i;
        for j in 0..8 {
            r |= ((c & 1) as u8) << (7 - j);
            g |= (((c >> 1) & 1) as u8) << (7 - j);
            b |= (((c >> 2) & 1) as u8) << (7 - j);
            c >>= 3;
        }
        *entry = [r, g, b];
    }
    map
}

/// Writes an 8-bit indexed PNG (Pillow mode "P").
pub(crate) fn write_indexed_png(
    path: &Path,
    width: u32,
    height: u32,
    pixels: &[u8],
    palette: &[[u8; 3]; 256],
) -> Result<(), FormatError> {
    crate::write::write_with(path, |out| {
        let mut enc = png::Encoder::new(out, width, height);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(palette.iter().flatten().copied().collect::<Vec<u8>>());
        let mut w = enc.write_header().map_err(std::io::Error::other)?;
        w.write_image_data(pixels).map_err(std::io::Error::other)?;
        w.finish().map_err(std::io::Error::other)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn voc_colours() {
        let m = super::voc_colormap();
        assert_eq!(m[0], [0, 0, 0]);
        assert_eq!(m[1], [128, 0, 0]);
        assert_eq!(m[2], [0, 128, 0]);
        assert_eq!(m[15], [192, 128, 128]);
        assert_eq!(m[255], [224, 224, 192]);
    }
}
