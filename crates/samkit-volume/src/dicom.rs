//! DICOM files through `dicom-object` (parsing) and `dicom-pixeldata` (decoding; the
//! native transfer syntaxes plus JPEG, RLE and deflate in pure Rust).

use std::io::Read;
use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;

use crate::{check_budget, PixelBudget, Volume, VolumeError, VolumeKind, Window};

/// A DICOM Part 10 file: 128 bytes of preamble, then `DICM`.
pub(crate) fn has_preamble(path: &Path) -> bool {
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head[128..] == b"DICM"
}

fn problem(path: &Path, problem: impl Into<String>) -> VolumeError {
    VolumeError::Dicom {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

fn int(obj: &DefaultDicomObject, tag: dicom_object::Tag) -> Option<u64> {
    obj.element_opt(tag).ok().flatten()?.to_int::<u64>().ok()
}

/// Columns, rows, frames and samples per pixel from the header (up to the pixel data),
/// checked against the budget.
fn header_size(path: &Path, budget: PixelBudget) -> Result<[u64; 4], VolumeError> {
    let header = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| problem(path, format!("not a readable DICOM file: {e}")))?;
    let (Some(rows), Some(cols)) = (int(&header, tags::ROWS), int(&header, tags::COLUMNS)) else {
        return Err(problem(
            path,
            "no image in this DICOM file (Rows/Columns missing): it may be a report or a \
             structured document, not an image",
        ));
    };
    let frames = int(&header, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
    let samples = int(&header, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    check_budget(path, [cols, rows, frames, samples], budget)?;
    Ok([cols, rows, frames, samples])
}

pub(crate) fn size(path: &Path, budget: PixelBudget) -> Result<(u32, u32, u32), VolumeError> {
    let [cols, rows, frames, _] = header_size(path, budget)?;
    Ok((cols as u32, rows as u32, frames as u32))
}

pub(crate) fn read(path: &Path, budget: PixelBudget) -> Result<Volume, VolumeError> {
    // The header first (up to the pixel data): sizes are checked before decoding.
    header_size(path, budget)?;
    let size_on_disk = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    // At most 8 bytes per voxel (64-bit float pixel data) plus headers.
    if size_on_disk > budget.max_pixels().saturating_mul(8) + (1 << 20) {
        return Err(problem(
            path,
            format!("{size_on_disk} bytes is more than the pixel budget admits"),
        ));
    }

    let obj = dicom_object::open_file(path)
        .map_err(|e| problem(path, format!("not a readable DICOM file: {e}")))?;
    if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_none() {
        return Err(problem(
            path,
            "the file has no pixel data (0x7FE0,0x0010): nothing to segment",
        ));
    }
    let ts = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let decoded = obj.decode_pixel_data().map_err(|e| {
        problem(
            path,
            format!(
                "cannot decode the pixel data (transfer syntax {ts}): {e}; convert the file to \
                 an uncompressed transfer syntax first, e.g. `gdcmconv --raw IN OUT` or \
                 `dcmdjpeg IN OUT`"
            ),
        )
    })?;
    let (width, height) = (decoded.columns(), decoded.rows());
    let depth = decoded.number_of_frames().max(1);
    let channels = decoded.samples_per_pixel();
    if channels != 1 && channels != 3 {
        return Err(problem(
            path,
            format!("{channels} samples per pixel: only grey (1) and colour (3) are supported"),
        ));
    }
    let photometric = decoded.photometric_interpretation().to_string();
    let inverted = photometric == "MONOCHROME1";
    let mut values = Vec::new();
    for frame in 0..depth {
        let frame_values: Vec<f32> = decoded
            .to_vec_frame(frame)
            .map_err(|e| problem(path, format!("frame {frame}: {e}")))?;
        values.extend(frame_values);
    }
    let expected = width as usize * height as usize * depth as usize * channels as usize;
    if values.len() != expected {
        return Err(problem(
            path,
            format!(
                "the pixel data holds {} values where {width}×{height}×{depth}×{channels} \
                 were declared",
                values.len()
            ),
        ));
    }
    let file_window = decoded
        .window()
        .ok()
        .flatten()
        .and_then(|w| w.first())
        .and_then(|w| Window::new(w.center, w.width));
    let mut notes = Vec::new();
    if channels == 3 && photometric != "RGB" {
        notes.push(format!(
            "photometric interpretation {photometric} read as RGB by the decoder"
        ));
    }
    Ok(Volume {
        kind: VolumeKind::Dicom,
        width,
        height,
        depth,
        channels: channels as u8,
        values,
        // Colour pixels are shown as they are: the window applies to grey data only.
        file_window: if channels == 1 { file_window } else { None },
        inverted,
        notes,
    })
}
