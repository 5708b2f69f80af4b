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
//! * multi-page TIFF stacks (`tiff`; microscopy z-stacks): grey or RGB pages of 8 to 64
//!   bits, integer or float, one slice each; a one-page TIFF stays an ordinary image;
//!
//! into a [`Volume`] of `f32` modality values, slice-major, and turns a slice into an
//! RGB image through a [`Window`] (DICOM's linear VOI function) — the file's window,
//! one given, or the 0.5–99.5 percentile range of the slice ([`WindowChoice`]). An
//! 8-bit TIFF stack's own window is the identity (its pages look as they are); a deeper
//! one has none, so it gets the percentile range by default.
//!
//! Label volumes go back out as NIfTI-1 on their source's geometry
//! ([`write_label_volume`]).
//!
//! Every size a file declares is checked against a [`PixelBudget`] (voxels: width ×
//! height × slices) before anything that size is allocated.
//!
//! Orientation: image column = the first voxel axis (DICOM columns, NIfTI `i`), image
//! row = the second (DICOM rows, NIfTI `j`), slice = the third; nothing is flipped.

mod dicom;
mod error;
mod geometry;
mod labels;
mod nifti_file;
mod series;
mod slice_name;
mod tiff_stack;
mod window;

use std::path::Path;

pub use error::VolumeError;
pub use geometry::{dicom_affine, Affine};
pub use labels::{write_label_volume, LabelGeometry};
pub use samkit_mask::PixelBudget;
pub use slice_name::{slice_image_name, split_slice_name, SLICE_MARK};
pub use window::{Window, WindowChoice};

/// What kind of file a [`Volume`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    Dicom,
    /// A folder of DICOM slices (one series).
    DicomSeries,
    Nifti,
    /// A multi-page TIFF: one slice per page.
    TiffStack,
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
/// a DICOM file's `DICM` preamble; a `.tif`/`.tiff` of two pages or more; or a folder
/// of DICOM files, one series).
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
    if tiff_stack::is_stack(path) {
        return Some(VolumeKind::TiffStack);
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
        Some(VolumeKind::TiffStack) => tiff_stack::size(path, budget),
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
        Some(VolumeKind::TiffStack) => tiff_stack::read(path, budget),
        None => Err(VolumeError::NotAVolume {
            path: path.to_path_buf(),
        }),
    }
}

/// Slice `slice` (default: the middle one) of the volume file `path` as the 8-bit RGB
/// image the model sees, through the window `choice` resolves to.
pub fn read_slice_rgb(
    path: &Path,
    slice: Option<u32>,
    choice: &WindowChoice,
    budget: PixelBudget,
) -> Result<image::RgbImage, VolumeError> {
    let volume = read_volume(path, budget)?;
    let slice = slice.unwrap_or(volume.depth / 2);
    let no_slice = || VolumeError::NoSuchSlice {
        path: path.to_path_buf(),
        slice,
        depth: volume.depth,
    };
    let window = volume.window_for(slice, choice).ok_or_else(no_slice)?;
    volume.slice_rgb(slice, window).ok_or_else(no_slice)
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
