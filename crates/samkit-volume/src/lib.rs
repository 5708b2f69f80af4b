//! `samkit-volume`: medical and scientific pixel data for samkit.
//!
//! CT, MR and microscopy images are not 8-bit photos: they hold 12–16-bit (or float)
//! *modality values* (Hounsfield units, intensities) that must be *windowed* into the
//! 8-bit grey a SAM encoder expects. This crate reads
//!
//! * DICOM files (`dicom-object` / `dicom-pixeldata`): single and multi-frame,
//!   MONOCHROME1/2 and RGB, rescale slope/intercept applied, the file's first window
//!   kept as the default;
//! * DICOM series: a folder of slices, ordered by position along the slice normal
//!   (Image Position/Orientation (Patient)), else by Instance Number;
//! * NIfTI-1 volumes, `.nii` and `.nii.gz` (`nifti`): 2-D, 3-D, and 4-D (the first
//!   volume, with a note), `scl_slope`/`scl_inter` applied;
//!
//! into a [`Volume`] of `f32` modality values, slice-major, and turns a slice into an
//! RGB image through a [`Window`] (DICOM's linear VOI function) — the file's window,
//! one given, or the 0.5–99.5 percentile range of the slice ([`WindowChoice`]).
//!
//! Every size a file declares is checked against a [`PixelBudget`] (voxels: width ×
//! height × slices) before anything that size is allocated.
//!
//! Orientation: image column = the first voxel axis (DICOM columns, NIfTI `i`), image
//! row = the second (DICOM rows, NIfTI `j`), slice = the third; nothing is flipped.

mod dicom;
mod error;
mod nifti_file;
mod series;
mod window;

use std::path::Path;

pub use error::VolumeError;
pub use samkit_mask::PixelBudget;
pub use window::{Window, WindowChoice};

/// What kind of file a [`Volume`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    Dicom,
    /// A folder of DICOM slices (one series).
    DicomSeries,
    Nifti,
}

/// Pixel data read from a medical or scientific file: `depth` slices of `width ×
/// height` pixels of `channels` (1 grey, 3 RGB) modality values.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub kind: VolumeKind,
    pub width: u32,
    pub height: u32,
    pub depth: u32,
    pub channels: u8,
    /// Slice-major, then row, column, channel.
    pub values: Vec<f32>,
    /// The window the file recommends (DICOM Window Center/Width), if any.
    pub file_window: Option<Window>,
    /// MONOCHROME1: high values are dark (inverted after windowing).
    pub inverted: bool,
    /// What the reader could not take as it is (e.g. a 4-D NIfTI's other volumes).
    pub notes: Vec<String>,
}

impl Volume {
    fn slice_len(&self) -> usize {
        self.width as usize * self.height as usize * self.channels as usize
    }

    /// The modality values of slice `z`.
    pub fn slice(&self, z: u32) -> Option<&[f32]> {
        if z >= self.depth {
            return None;
        }
        let n = self.slice_len();
        self.values.get(z as usize * n..(z as usize + 1) * n)
    }

    /// The window `choice` resolves to for slice `z`.
    pub fn window_for(&self, z: u32, choice: &WindowChoice) -> Option<Window> {
        let values = self.slice(z)?;
        Some(match choice {
            WindowChoice::Fixed(w) => *w,
            WindowChoice::FromFileOrPercentiles => self
                .file_window
                .unwrap_or_else(|| Window::from_percentiles(values)),
            WindowChoice::Percentiles => Window::from_percentiles(values),
        })
    }

    /// Slice `z` as the 8-bit RGB image the model sees: grey values windowed (and
    /// inverted for MONOCHROME1) into all three channels; RGB data windowed per channel.
    pub fn slice_rgb(&self, z: u32, window: Window) -> Option<image::RgbImage> {
        let values = self.slice(z)?;
        let mut rgb = Vec::with_capacity(self.width as usize * self.height as usize * 3);
        let grey = |v: f32| {
            let g = window.apply(v);
            if self.inverted {
                255 - g
            } else {
                g
            }
        };
        if self.channels == 3 {
            rgb.extend(values.iter().map(|&v| grey(v)));
        } else {
            for &v in values {
                let g = grey(v);
                rgb.extend_from_slice(&[g, g, g]);
            }
        }
        image::RgbImage::from_raw(self.width, self.height, rgb)
    }
}

/// Whether `path` is read by this crate (by name: `.dcm`, `.dicom`, `.nii`, `.nii.gz`;
/// a DICOM file's `DICM` preamble; or a folder of DICOM files, one series).
pub fn is_volume_file(path: &Path) -> bool {
    volume_kind(path).is_some()
}

fn volume_kind(path: &Path) -> Option<VolumeKind> {
    if path.is_dir() {
        return series::is_series_dir(path).then_some(VolumeKind::DicomSeries);
    }
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        return Some(VolumeKind::Nifti);
    }
    if name.ends_with(".dcm") || name.ends_with(".dicom") || dicom::has_preamble(path) {
        return Some(VolumeKind::Dicom);
    }
    None
}

/// `(width, height, slices)` from the file's header only (no pixel data is read),
/// checked against `budget` as [`read_volume`] checks it.
pub fn volume_size(path: &Path, budget: PixelBudget) -> Result<(u32, u32, u32), VolumeError> {
    match volume_kind(path) {
        Some(VolumeKind::Dicom) => dicom::size(path, budget),
        Some(VolumeKind::DicomSeries) => series::size(path, budget),
        Some(VolumeKind::Nifti) => nifti_file::size(path, budget),
        None => Err(VolumeError::NotAVolume {
            path: path.to_path_buf(),
        }),
    }
}

/// Reads a DICOM or NIfTI file (see the crate docs), refusing one that declares more
/// than `budget` voxels before allocating for it.
pub fn read_volume(path: &Path, budget: PixelBudget) -> Result<Volume, VolumeError> {
    match volume_kind(path) {
        Some(VolumeKind::Dicom) => dicom::read(path, budget),
        Some(VolumeKind::DicomSeries) => series::read(path, budget),
        Some(VolumeKind::Nifti) => nifti_file::read(path, budget),
        None => Err(VolumeError::NotAVolume {
            path: path.to_path_buf(),
        }),
    }
}

/// Checks `width × height × depth × channels` against the budget (in voxels).
fn check_budget(path: &Path, dims: [u64; 4], budget: PixelBudget) -> Result<usize, VolumeError> {
    let voxels = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    match voxels {
        Some(v) if v <= budget.max_pixels() => Ok(v as usize),
        _ => Err(VolumeError::OverBudget {
            path: path.to_path_buf(),
            dims: [dims[0], dims[1], dims[2]],
            max_pixels: budget.max_pixels(),
        }),
    }
}
