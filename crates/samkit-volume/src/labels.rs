//! Label volumes written as NIfTI-1 (`nifti`'s writer), on the geometry of their source.

use std::path::Path;

use ndarray::Array3;
use nifti::writer::WriterOptions;
use nifti::NiftiHeader;

use crate::{volume_kind, VolumeError, VolumeKind};

/// Where a written label volume's voxel-to-world transform came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelGeometry {
    /// The source NIfTI's header (qform, sform, voxel sizes, units): same shape and
    /// affine as the source for nibabel and every NIfTI reader.
    FromSource,
    /// The DICOM headers' patient geometry (orientation, positions, pixel spacing), as
    /// NIfTI converters derive it ([`crate::dicom_affine`]).
    FromDicom,
    /// Voxel units (the identity affine): TIFF stacks, and DICOM without the geometry.
    VoxelUnits,
}

/// Writes `labels` (slice-major, then row, then column, as [`crate::Volume`] holds
/// values) as a `width × height × depth` NIfTI-1 `uint16` volume at `out` (`.nii` or
/// `.nii.gz`), with the header of `source` when it is a NIfTI file, or the affine its
/// DICOM headers give.
pub fn write_label_volume(
    source: &Path,
    (width, height, depth): (u32, u32, u32),
    labels: &[u16],
    out: &Path,
) -> Result<LabelGeometry, VolumeError> {
    let problem = |problem: String| VolumeError::Write {
        path: out.to_path_buf(),
        problem,
    };
    let (w, h, d) = (width as usize, height as usize, depth as usize);
    if labels.len() != w * h * d {
        return Err(problem(format!(
            "{} labels for a {width}×{height}×{depth} volume",
            labels.len()
        )));
    }
    // NIfTI's first axis (i) is the image column, the second (j) the row, as read.
    let array = Array3::from_shape_fn((w, h, d), |(i, j, k)| labels[(k * h + j) * w + i]);
    let (reference, geometry) = match volume_kind(source) {
        Some(VolumeKind::Nifti) => (
            Some(
                NiftiHeader::from_file(source).map_err(|e| VolumeError::Nifti {
                    path: source.to_path_buf(),
                    problem: format!("cannot read the header again: {e}"),
                })?,
            ),
            LabelGeometry::FromSource,
        ),
        Some(VolumeKind::Dicom | VolumeKind::DicomSeries) => match crate::dicom_affine(source)? {
            Some(affine) => (Some(dicom_header(&affine)), LabelGeometry::FromDicom),
            None => (None, LabelGeometry::VoxelUnits),
        },
        _ => (None, LabelGeometry::VoxelUnits),
    };
    let mut options = WriterOptions::new(out);
    if let Some(header) = &reference {
        options = options.reference_header(header);
    }
    options
        .write_nifti(&array)
        .map_err(|e| problem(format!("cannot write the label volume: {e}")))?;
    Ok(geometry)
}

/// A header carrying `affine` (scanner coordinates, millimetres) in both the sform and
/// the qform, so readers that prefer either agree.
fn dicom_header(affine: &crate::Affine) -> NiftiHeader {
    let m = nalgebra::Matrix4::from_fn(|r, c| affine[r][c]);
    let mut h = NiftiHeader::default();
    h.set_sform(&m, nifti::XForm::ScannerAnat);
    h.set_qform(&m, nifti::XForm::ScannerAnat);
    h.xyzt_units = 2; // NIFTI_UNITS_MM
    h
}
