//! A DICOM series: a folder of single-slice files read as one volume.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;

use crate::dicom::{self, has_preamble};
use crate::{check_budget, PixelBudget, Volume, VolumeError};

/// Whether `dir` holds DICOM files (by name or preamble; hidden files left out).
pub(crate) fn is_series_dir(dir: &Path) -> bool {
    dicom_files(dir).is_ok_and(|files| !files.is_empty())
}

pub(crate) fn dicom_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase());
        let Some(name) = name else { continue };
        if name.starts_with('.') || !path.is_file() {
            continue;
        }
        if name.ends_with(".dcm") || name.ends_with(".dicom") || has_preamble(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn problem(dir: &Path, problem: impl Into<String>) -> VolumeError {
    VolumeError::Dicom {
        path: dir.to_path_buf(),
        problem: problem.into(),
    }
}

/// Where a slice goes: its position along the slice normal (Image Position (Patient)
/// projected on Image Orientation's row × column), else its Instance Number.
struct SliceKey {
    path: PathBuf,
    position: Option<f64>,
    instance: Option<i64>,
    series: Option<String>,
}

fn slice_key(path: &Path) -> Result<SliceKey, VolumeError> {
    let header = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| problem(path, format!("not a readable DICOM file: {e}")))?;
    let floats = |tag| {
        header
            .element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_multi_float64().ok())
    };
    let position = match (
        floats(tags::IMAGE_POSITION_PATIENT),
        floats(tags::IMAGE_ORIENTATION_PATIENT),
    ) {
        (Some(p), Some(o)) if p.len() == 3 && o.len() == 6 => {
            let n = [
                o[1] * o[5] - o[2] * o[4],
                o[2] * o[3] - o[0] * o[5],
                o[0] * o[4] - o[1] * o[3],
            ];
            Some(p[0] * n[0] + p[1] * n[1] + p[2] * n[2])
        }
        _ => None,
    };
    let instance = header
        .element_opt(tags::INSTANCE_NUMBER)
        .ok()
        .flatten()
        .and_then(|e| e.to_int::<i64>().ok());
    let series = header
        .element_opt(tags::SERIES_INSTANCE_UID)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches('\0').trim().to_string());
    Ok(SliceKey {
        path: path.to_path_buf(),
        position,
        instance,
        series,
    })
}

/// `(width, height, slices)` of the series in `dir`, from the headers (the first file's
/// size; every file's frames).
pub(crate) fn size(dir: &Path, budget: PixelBudget) -> Result<(u32, u32, u32), VolumeError> {
    let files = dicom_files(dir).map_err(|e| problem(dir, e.to_string()))?;
    let mut out: Option<(u32, u32, u32)> = None;
    for f in &files {
        let (w, h, frames) = dicom::size(f, budget)?;
        let o = out.get_or_insert((w, h, 0));
        if (o.0, o.1) != (w, h) {
            return Err(problem(
                dir,
                format!(
                    "mixed sizes: {} is {w}×{h} where the series' first slice is {}×{}; a \
                     series folder must hold one series of one size",
                    f.display(),
                    o.0,
                    o.1
                ),
            ));
        }
        o.2 = o.2.saturating_add(frames);
    }
    let (w, h, d) = out.ok_or_else(|| VolumeError::NotAVolume {
        path: dir.to_path_buf(),
    })?;
    check_budget(dir, [u64::from(w), u64::from(h), u64::from(d), 1], budget)?;
    Ok((w, h, d))
}

/// Reads the series in `dir`: slices ordered by position along the slice normal, else
/// by Instance Number (then file name). One series only, every slice the same size; the
/// whole volume within `budget` (checked from the headers before any pixel is decoded).
pub(crate) fn read(dir: &Path, budget: PixelBudget) -> Result<Volume, VolumeError> {
    let files = dicom_files(dir).map_err(|e| problem(dir, e.to_string()))?;
    if files.is_empty() {
        return Err(VolumeError::NotAVolume {
            path: dir.to_path_buf(),
        });
    }
    let mut total = 0u64;
    for f in &files {
        let (w, h, frames) = dicom::size(f, budget)?;
        total = total.saturating_add(u64::from(w) * u64::from(h) * u64::from(frames));
    }
    check_budget(dir, [total, 1, 1, 1], budget)?;
    let mut keys = files
        .iter()
        .map(|f| slice_key(f))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((a, b)) = keys
        .iter()
        .filter_map(|k| k.series.as_ref().map(|s| (k, s)))
        .find_map(|(k, s)| {
            keys.iter()
                .find(|o| o.series.as_ref().is_some_and(|t| t != s))
                .map(|o| (k, o))
        })
    {
        return Err(problem(
            dir,
            format!(
                "more than one series: {} and {} belong to different series; put each series \
                 in a folder of its own",
                a.path.display(),
                b.path.display()
            ),
        ));
    }
    let by_position = keys.iter().all(|k| k.position.is_some());
    keys.sort_by(|a, b| {
        let primary = if by_position {
            a.position
                .unwrap_or(0.0)
                .total_cmp(&b.position.unwrap_or(0.0))
        } else {
            std::cmp::Ordering::Equal
        };
        primary
            .then(a.instance.cmp(&b.instance))
            .then(a.path.cmp(&b.path))
    });
    let mut volume: Option<Volume> = None;
    for key in &keys {
        let slice = dicom::read(&key.path, budget)?;
        match &mut volume {
            None => volume = Some(slice),
            Some(v) => {
                if (slice.width, slice.height, slice.channels) != (v.width, v.height, v.channels) {
                    return Err(problem(
                        dir,
                        format!(
                            "mixed sizes: {} is {}×{} where the series' first slice is {}×{}; \
                             a series must have one size",
                            key.path.display(),
                            slice.width,
                            slice.height,
                            v.width,
                            v.height
                        ),
                    ));
                }
                v.depth += slice.depth;
                v.values.extend(slice.values);
            }
        }
    }
    let mut volume = volume.expect("at least one file");
    volume.kind = crate::VolumeKind::DicomSeries;
    if !by_position {
        volume.notes.push(
            "no Image Position/Orientation on every slice: ordered by Instance Number".into(),
        );
    }
    Ok(volume)
}
