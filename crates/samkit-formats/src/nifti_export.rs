//! NIfTI label volumes: the masks on a volume's slices (`ct.nii.gz#z=012`, see
//! `samkit_volume::slice_image_name`) stacked back into one `uint16` volume per source
//! file, with the source NIfTI's shape and affine, as segmentation tools (ITK-SNAP,
//! 3D Slicer, nnU-Net, nibabel) read labels.
//!
//! `out/<source path>.nii.gz` per volume (labels: category values `1..=N` in category
//! order, or one value per instance), and `out/labels.json` (what each value means).
//! Images that are not slices of a volume file (photos) are left out, with a note.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::model::AnnotationSet;
use crate::png_export::mkdir;
use crate::write::write_text;
use crate::{FormatError, Instance};

/// What a label value stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelValues {
    /// The category's position in the set (1 = the first category); 0 is background.
    #[default]
    Category,
    /// Each instance its own value (1, 2, … within the volume).
    Instance,
}

/// One slice image of a volume: its slice number, the image and its instances.
type SliceImage<'a> = (u32, &'a crate::ImageInfo, Vec<&'a Instance>);

/// Slices a source volume may have for the export (its header's count is checked).
const MAX_SLICES: u64 = 65_536;

/// Writes one label volume per source volume of `set` under `out`; `images_dir` is the
/// folder the images' names are relative to. Returns notes to show.
pub fn export_nifti(
    set: &AnnotationSet,
    out: &Path,
    images_dir: &Path,
    values: LabelValues,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<String>, FormatError> {
    set.validate(out)?;
    mkdir(out)?;
    // Source file → (slice, image) pairs, in name order.
    let mut volumes: BTreeMap<&str, Vec<SliceImage>> = BTreeMap::new();
    let mut not_volumes = 0usize;
    for (img, insts) in set.by_image() {
        let (file, slice) = samkit_volume::split_slice_name(&img.file_name);
        if !samkit_volume::is_volume_file(&images_dir.join(file)) {
            not_volumes += 1;
            continue;
        }
        volumes
            .entry(file)
            .or_default()
            .push((slice.unwrap_or(0), img, insts));
    }
    let mut notes = Vec::new();
    if not_volumes > 0 {
        notes.push(format!(
            "{not_volumes} image(s) are not slices of a DICOM, NIfTI or TIFF-stack volume and \
             are not in the NIfTI export (export them as png or coco)"
        ));
    }
    if volumes.is_empty() {
        notes.push("no volumes in the export: nothing written".into());
    }
    let mut legend = Vec::new();
    let total = volumes.len();
    for (done, (file, slices)) in volumes.into_iter().enumerate() {
        let source = images_dir.join(file);
        let img0 = slices[0].1;
        let budget = samkit_mask::PixelBudget::new(
            u64::from(img0.width) * u64::from(img0.height) * MAX_SLICES,
        );
        let (w, h, depth) = samkit_volume::volume_size(&source, budget)
            .map_err(|e| FormatError::write(&source, e.to_string()))?;
        let plane = w as usize * h as usize;
        let mut labels = vec![0u16; plane * depth as usize];
        let mut values_legend = Vec::new();
        let mut next_instance = 0u32;
        for (z, img, insts) in &slices {
            if *z >= depth || (img.width, img.height) != (w, h) {
                return Err(FormatError::write(
                    &source,
                    format!(
                        "image {} ({}×{}, slice {z}) does not match the volume's {w}×{h}×{depth}; \
                         rescan the project",
                        img.file_name, img.width, img.height
                    ),
                ));
            }
            let layer = &mut labels[*z as usize * plane..(*z as usize + 1) * plane];
            for inst in insts {
                let value = match values {
                    LabelValues::Category => match set.category_index(inst.category_id) {
                        Some(i) => i + 1,
                        None => continue,
                    },
                    LabelValues::Instance => {
                        next_instance += 1;
                        values_legend.push(json!({
                            "value": next_instance, "id": inst.id, "slice": z,
                            "image": img.file_name, "category_id": inst.category_id,
                        }));
                        next_instance as usize
                    }
                };
                let value = u16::try_from(value).map_err(|_| {
                    FormatError::write(&source, "more than 65535 labels do not fit uint16")
                })?;
                let mask = inst.mask.decode();
                for (dst, &on) in layer.iter_mut().zip(mask.as_slice()) {
                    if on != 0 {
                        *dst = value;
                    }
                }
            }
        }
        let target = label_path(out, file);
        if let Some(dir) = target.parent() {
            mkdir(dir)?;
        }
        // Written beside the target and renamed: a failed write leaves no half file.
        let tmp = target.with_file_name(format!(
            ".{}.partial.nii.gz",
            target.file_name().unwrap_or_default().to_string_lossy()
        ));
        let geometry = samkit_volume::write_label_volume(&source, (w, h, depth), &labels, &tmp)
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                FormatError::write(&target, e.to_string())
            })?;
        std::fs::rename(&tmp, &target).map_err(|e| FormatError::io(&target, e))?;
        if geometry == samkit_volume::LabelGeometry::VoxelUnits {
            notes.push(format!(
                "{file}: neither a NIfTI source nor DICOM with patient geometry (position, \
                 orientation, pixel spacing), so the label volume is in voxel units (identity \
                 affine)"
            ));
        }
        let mut entry = json!({
            "source": file,
            "labels": target.strip_prefix(out).unwrap_or(&target).to_string_lossy(),
            "shape": [w, h, depth],
            "slices_in_export": slices.iter().map(|(z, _, _)| z).collect::<Vec<_>>(),
        });
        if values == LabelValues::Instance {
            entry["values"] = Value::Array(values_legend);
        }
        legend.push(entry);
        progress(done + 1, total);
    }
    let categories: Vec<Value> = std::iter::once(json!({"value": 0, "name": "background"}))
        .chain(
            set.categories
                .iter()
                .enumerate()
                .map(|(i, c)| json!({"value": i + 1, "id": c.id, "name": c.name})),
        )
        .collect();
    let doc = json!({
        "values": match values {
            LabelValues::Category => "category",
            LabelValues::Instance => "instance",
        },
        "categories": categories,
        "volumes": legend,
    });
    write_text(
        &out.join("labels.json"),
        &serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )?;
    Ok(notes)
}

/// `out/<source path>` as `.nii.gz`: `ct.nii.gz` → `ct.nii.gz`, `ct.dcm` → `ct.nii.gz`.
fn label_path(out: &Path, file: &str) -> PathBuf {
    let base = file
        .strip_suffix(".nii.gz")
        .or_else(|| file.strip_suffix(".nii"))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let p = Path::new(file);
            p.with_extension("").to_string_lossy().into_owned()
        });
    out.join(format!("{base}.nii.gz"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_files_keep_the_source_path() {
        let out = Path::new("/o");
        assert_eq!(label_path(out, "a/ct.nii.gz"), out.join("a/ct.nii.gz"));
        assert_eq!(label_path(out, "mr.nii"), out.join("mr.nii.gz"));
        assert_eq!(label_path(out, "s/ct.dcm"), out.join("s/ct.nii.gz"));
        assert_eq!(label_path(out, "stack.tif"), out.join("stack.nii.gz"));
    }
}
