//! Every file this crate writes goes through `samkit-outfile` (atomic replacement of
//! regular files, symlinks kept, FIFOs and devices written in place); these are the
//! encoders on top of it.

use crate::FormatError;
use std::io::{self, Write};
use std::path::Path;

/// Writes `path` with the content `write` produces.
pub(crate) fn write_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), FormatError> {
    Ok(samkit_outfile::write_file(path, write)?)
}

pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), FormatError> {
    write_with(path, |w| w.write_all(text.as_bytes()))
}

/// Writes a PNG of `w × h` pixels of `color` from `buf`.
pub(crate) fn write_png(
    path: &Path,
    buf: &[u8],
    w: u32,
    h: u32,
    color: image::ExtendedColorType,
) -> Result<(), FormatError> {
    use image::ImageEncoder;
    write_with(path, |out| {
        image::codecs::png::PngEncoder::new(out)
            .write_image(buf, w, h, color)
            .map_err(io::Error::other)
    })
}

/// Writes a `.npy` file of `array`.
pub(crate) fn write_npy<A: ndarray_npy::WritableElement, D: ndarray::Dimension>(
    path: &Path,
    array: &ndarray::Array<A, D>,
) -> Result<(), FormatError> {
    use ndarray_npy::WriteNpyExt;
    write_with(path, |out| array.write_npy(out).map_err(io::Error::other))
}
