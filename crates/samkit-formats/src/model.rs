//! The in-memory annotation model shared by every importer and exporter.

use crate::{FormatError, Problem};
use samkit_mask::CocoRle;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// One image: id, file name (relative to an images folder) and pixel size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub id: u64,
    pub file_name: String,
    pub width: u32,
    pub height: u32,
}

/// One category; `color` is used by palette exports (VOC colormap when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub id: u64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<[u8; 3]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
}

/// A SAM click: `[x, y, label]` (label 1 = positive, 0 = negative).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "(f32, f32, i32)", into = "(f32, f32, i32)")]
pub struct PromptPoint {
    pub x: f32,
    pub y: f32,
    pub label: i32,
}

impl From<(f32, f32, i32)> for PromptPoint {
    fn from((x, y, label): (f32, f32, i32)) -> Self {
        PromptPoint { x, y, label }
    }
}
impl From<PromptPoint> for (f32, f32, i32) {
    fn from(p: PromptPoint) -> Self {
        (p.x, p.y, p.label)
    }
}

/// The prompts that produced an instance: points and an optional box `[x0, y0, x1, y1]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Prompts {
    #[serde(default)]
    pub points: Vec<PromptPoint>,
    #[serde(default, rename = "box", skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f32; 4]>,
}

impl Prompts {
    pub fn is_empty(&self) -> bool {
        self.points.is_empty() && self.bbox.is_none()
    }
}

/// One object instance. The mask has the size of its image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: u64,
    pub image_id: u64,
    pub category_id: u64,
    pub mask: CocoRle,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    #[serde(default, skip_serializing_if = "Prompts::is_empty")]
    pub prompts: Prompts,
    /// COCO `iscrowd` (a samkit instance is a crowd when its `iscrowd` attribute says so).
    #[serde(default)]
    pub iscrowd: bool,
    /// Other attributes (name → boolean, number or text), COCO `attributes` as CVAT
    /// writes them (`occluded`, free-form keys).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// Images, categories and instances. Invariants checked by [`AnnotationSet::validate`]:
/// unique ids, every instance refers to an existing image and category, and every
/// mask has its image's size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnnotationSet {
    pub images: Vec<ImageInfo>,
    pub categories: Vec<Category>,
    pub instances: Vec<Instance>,
}

impl AnnotationSet {
    pub fn image(&self, id: u64) -> Option<&ImageInfo> {
        self.images.iter().find(|i| i.id == id)
    }

    pub fn category(&self, id: u64) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }

    /// Instances grouped by image, in image order (images without instances included).
    pub fn by_image(&self) -> Vec<(&ImageInfo, Vec<&Instance>)> {
        let mut map: HashMap<u64, Vec<&Instance>> = HashMap::new();
        for inst in &self.instances {
            map.entry(inst.image_id).or_default().push(inst);
        }
        self.images
            .iter()
            .map(|img| (img, map.remove(&img.id).unwrap_or_default()))
            .collect()
    }

    /// Position of a category in `categories` (used for contiguous class indices).
    pub fn category_index(&self, id: u64) -> Option<usize> {
        self.categories.iter().position(|c| c.id == id)
    }

    /// Checks the invariants; `path` names the source in the error.
    pub fn validate(&self, path: &Path) -> Result<(), FormatError> {
        let mut seen = HashSet::new();
        for img in &self.images {
            if !seen.insert(img.id) {
                return Err(FormatError::invalid(
                    path,
                    None,
                    Problem::DuplicateId {
                        kind: "image",
                        id: img.id,
                    },
                ));
            }
        }
        let mut seen = HashSet::new();
        for c in &self.categories {
            if !seen.insert(c.id) {
                return Err(FormatError::invalid(
                    path,
                    None,
                    Problem::DuplicateId {
                        kind: "category",
                        id: c.id,
                    },
                ));
            }
        }
        let mut seen = HashSet::new();
        for inst in &self.instances {
            if !seen.insert(inst.id) {
                return Err(FormatError::invalid(
                    path,
                    Some(inst.id),
                    Problem::DuplicateId {
                        kind: "annotation",
                        id: inst.id,
                    },
                ));
            }
            self.check_instance(inst)
                .map_err(|p| FormatError::invalid(path, Some(inst.id), p))?;
        }
        Ok(())
    }

    /// Checks that one instance fits this set (category, image, mask size).
    pub fn check_instance(&self, inst: &Instance) -> Result<(), Problem> {
        if self.category(inst.category_id).is_none() {
            return Err(Problem::UnknownCategory(inst.category_id));
        }
        let img = self
            .image(inst.image_id)
            .ok_or(Problem::UnknownImage(inst.image_id))?;
        if img.width != inst.mask.width() || img.height != inst.mask.height() {
            return Err(Problem::SizeMismatch {
                mask_width: inst.mask.width(),
                mask_height: inst.mask.height(),
                image_width: img.width,
                image_height: img.height,
            });
        }
        Ok(())
    }
}

/// File stem of an image's file name, used to name per-image outputs.
pub(crate) fn stem(file_name: &str) -> String {
    // A slice of a volume (`ct.nii.gz#z=012`): the volume's stem and the slice number.
    if let (file, Some(_)) = samkit_volume::split_slice_name(file_name) {
        let z = &file_name[file.len() + samkit_volume::SLICE_MARK.len()..];
        return format!("{}_z{z}", stem(file.strip_suffix(".gz").unwrap_or(file)));
    }
    Path::new(file_name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "image".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use samkit_mask::Mask;

    pub(crate) fn tiny_set() -> AnnotationSet {
        let m = Mask::from_fn(4, 3, |x, _| x < 2).unwrap();
        AnnotationSet {
            images: vec![ImageInfo {
                id: 1,
                file_name: "a.png".into(),
                width: 4,
                height: 3,
            }],
            categories: vec![Category {
                id: 7,
                name: "cat".into(),
                color: None,
                supercategory: None,
            }],
            instances: vec![Instance {
                id: 1,
                image_id: 1,
                category_id: 7,
                mask: CocoRle::encode(&m),
                score: Some(0.9),
                prompts: Prompts {
                    points: vec![PromptPoint {
                        x: 1.0,
                        y: 1.0,
                        label: 1,
                    }],
                    bbox: None,
                },
                iscrowd: false,
                attributes: Default::default(),
            }],
        }
    }

    #[test]
    fn a_slice_is_named_by_its_volume_and_number() {
        assert_eq!(stem("scans/ct.nii.gz#z=012"), "ct_z012");
        assert_eq!(stem("stack.tif#z=3"), "stack_z3");
        assert_eq!(stem("a/b.png"), "b");
        assert_eq!(stem("odd#z=x.png"), "odd#z=x");
    }

    #[test]
    fn validate_catches_bad_references() {
        let p = Path::new("x.json");
        let s = tiny_set();
        assert!(s.validate(p).is_ok());
        let mut bad = s.clone();
        bad.instances[0].category_id = 99;
        let e = bad.validate(p).unwrap_err().to_string();
        assert!(
            e.contains("x.json") && e.contains("annotation 1") && e.contains("99"),
            "{e}"
        );
        let mut bad = s.clone();
        bad.images[0].width = 5;
        assert!(bad.validate(p).is_err());
        let json = serde_json::to_string(&s).unwrap();
        let back: AnnotationSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
