//! Where a DICOM volume's voxels lie in the patient: the NIfTI affine (RAS+, millimetres)
//! of the volume as [`crate::read_volume`] orders it (column, row, slice), derived from
//! Image Orientation (Patient), Image Position (Patient) and Pixel Spacing — the
//! derivation of NIfTI converters such as dcm2niix and dicom2nifti:
//!
//! `LPS(i, j, k) = T₁ + i·Δc·r + j·Δr·c + k·s`, with `r`, `c` the row and column direction
//! cosines, `Δr`, `Δc` Pixel Spacing's row and column spacing, `T₁` the first slice's
//! position and `s` the step between slices (`(T_N − T₁)/(N − 1)`, or the normal times the
//! slice spacing for one slice); RAS negates the first two coordinates.
//!
//! Multi-frame files (their geometry lives in functional groups) and series whose slices
//! do not share one orientation get no affine: the label volume is then in voxel units.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;

use crate::VolumeError;

/// A 4 × 4 voxel-to-world matrix, row-major.
pub type Affine = [[f64; 4]; 4];

/// One slice's plane, from its header.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plane {
    position: [f64; 3],
    orientation: [f64; 6],
    /// Pixel Spacing: between rows, between columns.
    spacing: [f64; 2],
    /// Spacing Between Slices, else Slice Thickness.
    slice_spacing: Option<f64>,
    frames: u32,
}

impl Plane {
    fn normal(&self) -> [f64; 3] {
        let o = self.orientation;
        [
            o[1] * o[5] - o[2] * o[4],
            o[2] * o[3] - o[0] * o[5],
            o[0] * o[4] - o[1] * o[3],
        ]
    }

    fn along_normal(&self) -> f64 {
        let n = self.normal();
        self.position[0] * n[0] + self.position[1] * n[1] + self.position[2] * n[2]
    }
}

fn plane(path: &Path) -> Result<Option<Plane>, VolumeError> {
    let header = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| VolumeError::Dicom {
            path: path.to_path_buf(),
            problem: format!("not a readable DICOM file: {e}"),
        })?;
    let floats = |tag| {
        header
            .element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_multi_float64().ok())
    };
    let frames = header
        .element_opt(tags::NUMBER_OF_FRAMES)
        .ok()
        .flatten()
        .and_then(|e| e.to_int::<u32>().ok())
        .unwrap_or(1);
    let (Some(p), Some(o), Some(s)) = (
        floats(tags::IMAGE_POSITION_PATIENT),
        floats(tags::IMAGE_ORIENTATION_PATIENT),
        floats(tags::PIXEL_SPACING),
    ) else {
        return Ok(None);
    };
    if p.len() != 3 || o.len() != 6 || s.len() != 2 || s.iter().any(|v| v.is_nan() || *v <= 0.0) {
        return Ok(None);
    }
    let slice_spacing = floats(tags::SPACING_BETWEEN_SLICES)
        .or_else(|| floats(tags::SLICE_THICKNESS))
        .and_then(|v| v.first().copied())
        .filter(|v| *v > 0.0);
    Ok(Some(Plane {
        position: [p[0], p[1], p[2]],
        orientation: [o[0], o[1], o[2], o[3], o[4], o[5]],
        spacing: [s[0], s[1]],
        slice_spacing,
        frames,
    }))
}

/// The RAS affine of the planes of a volume's slices, first to last.
fn affine_of(first: &Plane, last: &Plane, slices: usize) -> Affine {
    let o = first.orientation;
    let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
    let (dr, dc) = (first.spacing[0], first.spacing[1]);
    let step: [f64; 3] = if slices > 1 {
        let n = (slices - 1) as f64;
        [0, 1, 2].map(|a| (last.position[a] - first.position[a]) / n)
    } else {
        let d = first.slice_spacing.unwrap_or(1.0);
        first.normal().map(|v| v * d)
    };
    let mut m = [[0.0; 4]; 4];
    for a in 0..3 {
        // LPS → RAS: x and y change sign.
        let sign = if a < 2 { -1.0 } else { 1.0 };
        m[a] = [
            sign * r[a] * dc,
            sign * c[a] * dr,
            sign * step[a],
            sign * first.position[a],
        ];
    }
    m[3] = [0.0, 0.0, 0.0, 1.0];
    m
}

/// The affine of the DICOM volume `source` (a single-frame file, or a series folder)
/// as [`crate::read_volume`] orders its slices; `None` when the headers do not say
/// (no position, orientation or spacing; a multi-frame file; slices of different
/// orientations), and the label volume is written in voxel units.
pub fn dicom_affine(source: &Path) -> Result<Option<Affine>, VolumeError> {
    if source.is_dir() {
        let mut planes = Vec::new();
        for f in crate::series::dicom_files(source).map_err(|e| VolumeError::Dicom {
            path: source.to_path_buf(),
            problem: e.to_string(),
        })? {
            match plane(&f)? {
                Some(p) if p.frames == 1 => planes.push(p),
                _ => return Ok(None),
            }
        }
        let Some(first) = planes.first().copied() else {
            return Ok(None);
        };
        let same = |p: &Plane| {
            p.orientation
                .iter()
                .zip(first.orientation)
                .all(|(a, b)| (a - b).abs() < 1e-4)
                && (p.spacing[0] - first.spacing[0]).abs() < 1e-4
                && (p.spacing[1] - first.spacing[1]).abs() < 1e-4
        };
        if !planes.iter().all(same) {
            return Ok(None);
        }
        // The reader's order: by position along the slice normal.
        planes.sort_by(|a, b| a.along_normal().total_cmp(&b.along_normal()));
        let last = planes[planes.len() - 1];
        return Ok(Some(affine_of(&planes[0], &last, planes.len())));
    }
    Ok(plane(source)?
        .filter(|p| p.frames == 1)
        .map(|p| affine_of(&p, &p, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_axial_series_maps_to_ras_as_converters_do() {
        // Axial: rows run to the patient's left (+x LPS), columns to posterior (+y LPS).
        let plane = |z: f64| Plane {
            position: [-100.0, -120.0, z],
            orientation: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            spacing: [0.8, 0.5],
            slice_spacing: Some(2.5),
            frames: 1,
        };
        let m = affine_of(&plane(10.0), &plane(17.5), 4);
        assert_eq!(
            m,
            [
                [-0.5, 0.0, 0.0, 100.0],
                [0.0, -0.8, 0.0, 120.0],
                [0.0, 0.0, 2.5, 10.0],
                [0.0, 0.0, 0.0, 1.0]
            ]
        );
        // One slice: the step is the normal times the slice spacing.
        assert_eq!(
            affine_of(&plane(3.0), &plane(3.0), 1)[2],
            [0.0, 0.0, 2.5, 3.0]
        );
    }
}
