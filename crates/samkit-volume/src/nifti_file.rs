//! NIfTI-1 volumes (`.nii`, `.nii.gz`) through the `nifti` crate.

use std::path::Path;

use ndarray::{Axis, Ix3};
use nifti::{IntoNdArray, NiftiHeader, NiftiObject, ReaderOptions};

use crate::{check_budget, PixelBudget, Volume, VolumeError, VolumeKind};

fn problem(path: &Path, problem: impl Into<String>) -> VolumeError {
    VolumeError::Nifti {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// The header's `dim`, checked (1–7 dimensions, none zero) and against the budget.
fn header_dims(path: &Path, budget: PixelBudget) -> Result<Vec<u16>, VolumeError> {
    let header = NiftiHeader::from_file(path)
        .map_err(|e| problem(path, format!("not a readable NIfTI-1 header: {e}")))?;
    let dim = header
        .dim()
        .map_err(|e| problem(path, format!("bad dimensions in the header: {e}")))?
        .to_vec();
    if dim.is_empty() || dim.len() > 7 || dim.contains(&0) {
        return Err(problem(
            path,
            format!("bad dimensions {dim:?} in the header"),
        ));
    }
    let size = |i: usize| dim.get(i).copied().unwrap_or(1) as u64;
    // Everything the file declares is decoded (a 4-D file's other volumes too).
    let rest = dim
        .iter()
        .skip(3)
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    check_budget(path, [size(0), size(1), size(2), rest], budget)?;
    Ok(dim)
}

pub(crate) fn size(path: &Path, budget: PixelBudget) -> Result<(u32, u32, u32), VolumeError> {
    let dim = header_dims(path, budget)?;
    let size = |i: usize| dim.get(i).copied().unwrap_or(1) as u32;
    Ok((size(0), size(1), size(2)))
}

pub(crate) fn read(path: &Path, budget: PixelBudget) -> Result<Volume, VolumeError> {
    let dim = header_dims(path, budget)?;
    let size = |i: usize| dim.get(i).copied().unwrap_or(1) as u64;
    let mut notes = Vec::new();
    if dim.len() > 3 {
        notes.push(format!(
            "{}-D volume {dim:?}: only the first 3-D volume is used",
            dim.len()
        ));
    }
    let object = ReaderOptions::new()
        .read_file(path)
        .map_err(|e| problem(path, format!("cannot read the volume: {e}")))?;
    let array = object
        .into_volume()
        .into_ndarray::<f32>()
        .map_err(|e| problem(path, format!("cannot convert the voxels: {e}")))?;
    let (width, height, depth) = (size(0) as u32, size(1) as u32, size(2) as u32);
    // Down to x, y, z: the first 3-D volume of a 4-D (or more) file.
    let mut array = array;
    while array.ndim() > 3 {
        let last = Axis(array.ndim() - 1);
        array = array.index_axis_move(last, 0);
    }
    while array.ndim() < 3 {
        array.insert_axis_inplace(Axis(array.ndim()));
    }
    let array = array
        .into_dimensionality::<Ix3>()
        .map_err(|e| problem(path, format!("unexpected voxel layout: {e}")))?;
    // Slice-major, then rows (y), then columns (x).
    let values: Vec<f32> = array.permuted_axes([2, 1, 0]).iter().copied().collect();
    Ok(Volume {
        kind: VolumeKind::Nifti,
        width,
        height,
        depth,
        channels: 1,
        values,
        file_window: None,
        inverted: false,
        notes,
    })
}
