//! COCO instances JSON: export (RLE or polygons) and import (RLE compressed or
//! uncompressed, polygons, crowd or not).
//!
//! `iscrowd` (the choice, following pycocotools and detectron2): samkit instances are
//! single objects, so they are written with `iscrowd: 0` whatever the mask encoding.
//! pycocotools' `annToRLE` accepts a compressed-RLE dict for a non-crowd annotation
//! and detectron2 reads it as `BoxMode`/RLE alike; marking RLE masks as crowds would
//! make `COCOeval` ignore them. Imported crowd annotations keep `iscrowd: 1` and, by
//! COCO convention, are written as *uncompressed* RLE in both mask formats.
//! `area` and `bbox` are those of the mask a COCO reader decodes: the RLE itself, or
//! the rasterised polygons (pycocotools `area`/`toBbox`). An empty mask has no polygon,
//! so it is written as RLE even in polygon mode.
//!
//! samkit extensions, ignored by other readers: `categories[].color` (`[r, g, b]`),
//! `annotations[].score`, `annotations[].samkit.prompts` (`{"points": [[x, y, label]],
//! "box": [x0, y0, x1, y1]}`). `annotations[].attributes` (an object, written when not
//! empty) is CVAT's: `occluded` and free-form keys, read back on import.

use crate::model::{AnnotationSet, Category, ImageInfo, Instance, Prompts};
use crate::{FormatError, MaskFormat, Problem};
use samkit_mask::{CocoRle, PixelBudget, Polygons, DEFAULT_TOLERANCE};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Options of the COCO exporter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CocoExportOptions {
    pub mask_format: MaskFormat,
    /// Douglas–Peucker tolerance in pixels for polygon export.
    pub tolerance: f64,
}

impl Default for CocoExportOptions {
    fn default() -> Self {
        CocoExportOptions {
            mask_format: MaskFormat::Rle,
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// The COCO document for `set` (validated first).
pub fn to_coco_json(
    set: &AnnotationSet,
    opts: &CocoExportOptions,
    path: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Value, FormatError> {
    set.validate(path)?;
    let images: Vec<Value> = set
        .images
        .iter()
        .map(
            |i| json!({"id": i.id, "file_name": i.file_name, "width": i.width, "height": i.height}),
        )
        .collect();
    let categories: Vec<Value> = set
        .categories
        .iter()
        .map(|c| {
            let mut o = Map::new();
            o.insert("id".into(), json!(c.id));
            o.insert("name".into(), json!(c.name));
            o.insert(
                "supercategory".into(),
                json!(c.supercategory.clone().unwrap_or_default()),
            );
            if let Some(col) = c.color {
                o.insert("color".into(), json!(col));
            }
            Value::Object(o)
        })
        .collect();
    let total = set.instances.len();
    let mut annotations = Vec::with_capacity(total);
    for (k, inst) in set.instances.iter().enumerate() {
        annotations.push(
            annotation_json(inst, opts)
                .map_err(|p| FormatError::invalid(path, Some(inst.id), p))?,
        );
        progress(k + 1, total);
    }
    Ok(json!({
        "info": {"description": "exported by samkit", "version": env!("CARGO_PKG_VERSION")},
        "licenses": [],
        "images": images,
        "categories": categories,
        "annotations": annotations,
    }))
}

fn annotation_json(inst: &Instance, opts: &CocoExportOptions) -> Result<Value, Problem> {
    let rle = &inst.mask;
    let (segmentation, area, bbox) = if inst.iscrowd {
        let seg = json!({"size": [rle.height(), rle.width()], "counts": rle.counts()});
        (seg, rle.area(), rle.bbox())
    } else if opts.mask_format == MaskFormat::Polygon && rle.area() > 0 {
        let polys = Polygons::from_mask(&rle.decode(), opts.tolerance);
        let back = polys.to_rle()?;
        (json!(polys.to_coco()), back.area(), back.bbox())
    } else {
        (
            serde_json::to_value(rle).map_err(|e| Problem::Other(e.to_string()))?,
            rle.area(),
            rle.bbox(),
        )
    };
    let mut o = Map::new();
    o.insert("id".into(), json!(inst.id));
    o.insert("image_id".into(), json!(inst.image_id));
    o.insert("category_id".into(), json!(inst.category_id));
    o.insert("segmentation".into(), segmentation);
    o.insert("area".into(), json!(area as f64));
    o.insert("bbox".into(), json!(bbox));
    o.insert("iscrowd".into(), json!(u8::from(inst.iscrowd)));
    if let Some(s) = inst.score {
        o.insert("score".into(), json!(s));
    }
    if !inst.prompts.is_empty() {
        o.insert("samkit".into(), json!({"prompts": inst.prompts}));
    }
    if !inst.attributes.is_empty() {
        o.insert("attributes".into(), Value::Object(inst.attributes.clone()));
    }
    Ok(Value::Object(o))
}

/// Writes `set` as a COCO instances JSON file.
pub fn export_coco(
    set: &AnnotationSet,
    path: &Path,
    opts: &CocoExportOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), FormatError> {
    let doc = to_coco_json(set, opts, path, progress)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| FormatError::io(dir, e))?;
    }
    crate::write::write_with(path, |w| {
        serde_json::to_writer(w, &doc).map_err(std::io::Error::other)
    })
}

/// [`import_coco_within`] the default [`PixelBudget`].
pub fn import_coco(
    path: &Path,
    skip_invalid: bool,
) -> Result<(AnnotationSet, Vec<FormatError>), FormatError> {
    import_coco_within(path, skip_invalid, PixelBudget::DEFAULT)
}

/// Reads a COCO instances JSON file. With `skip_invalid`, invalid images, categories
/// and annotations are skipped and returned as the second element; otherwise the
/// first one is the error. An image entry declaring more pixels than `budget` is
/// invalid (its masks would have that size).
pub fn import_coco_within(
    path: &Path,
    skip_invalid: bool,
    budget: PixelBudget,
) -> Result<(AnnotationSet, Vec<FormatError>), FormatError> {
    let bytes = std::fs::read(path).map_err(|e| FormatError::io(path, e))?;
    import_coco_slice_within(&bytes, path, skip_invalid, budget)
}

/// [`import_coco_slice_within`] the default [`PixelBudget`].
pub fn import_coco_slice(
    bytes: &[u8],
    path: &Path,
    skip_invalid: bool,
) -> Result<(AnnotationSet, Vec<FormatError>), FormatError> {
    import_coco_slice_within(bytes, path, skip_invalid, PixelBudget::DEFAULT)
}

/// [`import_coco_within`] on bytes already read; `path` only names the source in errors.
pub fn import_coco_slice_within(
    bytes: &[u8],
    path: &Path,
    skip_invalid: bool,
    budget: PixelBudget,
) -> Result<(AnnotationSet, Vec<FormatError>), FormatError> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| FormatError::invalid(path, None, Problem::Json(e.to_string())))?;
    let Value::Object(top) = doc else {
        return Err(FormatError::invalid(
            path,
            None,
            Problem::Json("top level is not an object".into()),
        ));
    };
    let mut skipped = Vec::new();
    let fail = |e: FormatError, skipped: &mut Vec<FormatError>| -> Result<(), FormatError> {
        if skip_invalid {
            skipped.push(e);
            Ok(())
        } else {
            Err(e)
        }
    };
    let list = |key: &str, required: bool| -> Result<Vec<Value>, FormatError> {
        match top.get(key) {
            Some(Value::Array(a)) => Ok(a.clone()),
            None if !required => Ok(Vec::new()),
            _ => Err(FormatError::invalid(
                path,
                None,
                Problem::Json(format!("`{key}` must be an array")),
            )),
        }
    };
    let mut set = AnnotationSet::default();
    let mut image_ids = HashSet::new();
    for v in list("images", true)? {
        let image = parse_image(&v).and_then(|img| {
            budget.check(img.width, img.height)?;
            Ok(img)
        });
        match image {
            Ok(img) if image_ids.insert(img.id) => set.images.push(img),
            Ok(img) => fail(
                FormatError::invalid(
                    path,
                    None,
                    Problem::DuplicateId {
                        kind: "image",
                        id: img.id,
                    },
                ),
                &mut skipped,
            )?,
            Err(p) => fail(FormatError::invalid(path, None, p), &mut skipped)?,
        }
    }
    let mut cat_ids = HashSet::new();
    for v in list("categories", false)? {
        match parse_category(&v) {
            Ok(c) if cat_ids.insert(c.id) => set.categories.push(c),
            Ok(c) => fail(
                FormatError::invalid(
                    path,
                    None,
                    Problem::DuplicateId {
                        kind: "category",
                        id: c.id,
                    },
                ),
                &mut skipped,
            )?,
            Err(p) => fail(FormatError::invalid(path, None, p), &mut skipped)?,
        }
    }
    let sizes: HashMap<u64, (u32, u32)> = set
        .images
        .iter()
        .map(|i| (i.id, (i.width, i.height)))
        .collect();
    let mut ann_ids = HashSet::new();
    for v in list("annotations", false)? {
        let id = v.get("id").and_then(Value::as_u64);
        let res = parse_annotation(&v, &sizes, &cat_ids).and_then(|inst| {
            if ann_ids.insert(inst.id) {
                Ok(inst)
            } else {
                Err(Problem::DuplicateId {
                    kind: "annotation",
                    id: inst.id,
                })
            }
        });
        match res {
            Ok(inst) => set.instances.push(inst),
            Err(p) => fail(FormatError::invalid(path, id, p), &mut skipped)?,
        }
    }
    Ok((set, skipped))
}

fn field_u64(v: &Value, key: &str) -> Result<u64, Problem> {
    v.get(key)
        .and_then(|x| {
            x.as_u64().or_else(|| {
                x.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e15)
                    .map(|f| f as u64)
            })
        })
        .ok_or_else(|| Problem::Json(format!("`{key}` missing or not a non-negative integer")))
}

fn field_u32(v: &Value, key: &str) -> Result<u32, Problem> {
    u32::try_from(field_u64(v, key)?).map_err(|_| Problem::Json(format!("`{key}` is too large")))
}

fn parse_image(v: &Value) -> Result<ImageInfo, Problem> {
    Ok(ImageInfo {
        id: field_u64(v, "id")?,
        file_name: v
            .get("file_name")
            .and_then(Value::as_str)
            .ok_or_else(|| Problem::Json("image `file_name` missing".into()))?
            .to_string(),
        width: field_u32(v, "width")?,
        height: field_u32(v, "height")?,
    })
}

fn parse_category(v: &Value) -> Result<Category, Problem> {
    let color = match v.get("color") {
        Some(c) => serde_json::from_value::<[u8; 3]>(c.clone()).ok(),
        None => None,
    };
    Ok(Category {
        id: field_u64(v, "id")?,
        name: v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Problem::Json("category `name` missing".into()))?
            .to_string(),
        color,
        supercategory: v
            .get("supercategory")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
}

fn parse_annotation(
    v: &Value,
    sizes: &HashMap<u64, (u32, u32)>,
    cat_ids: &HashSet<u64>,
) -> Result<Instance, Problem> {
    let id = field_u64(v, "id")?;
    let image_id = field_u64(v, "image_id")?;
    let category_id = field_u64(v, "category_id")?;
    let &(w, h) = sizes
        .get(&image_id)
        .ok_or(Problem::UnknownImage(image_id))?;
    if !cat_ids.contains(&category_id) {
        return Err(Problem::UnknownCategory(category_id));
    }
    let iscrowd = match v.get("iscrowd") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(x) => x
            .as_u64()
            .map(|n| n != 0)
            .ok_or_else(|| Problem::Json("`iscrowd` must be 0 or 1".into()))?,
    };
    let seg = v
        .get("segmentation")
        .ok_or_else(|| Problem::Segmentation("`segmentation` missing".into()))?;
    let mask = parse_segmentation(seg, w, h)?;
    let score = v.get("score").and_then(Value::as_f64).map(|s| s as f32);
    // Numbers beyond f32 become infinities, which JSON cannot hold: our own export
    // would write them as `null` and no longer read back.
    if score.is_some_and(|s| !s.is_finite()) {
        return Err(Problem::Json("`score` is out of range".into()));
    }
    let prompts = v
        .get("samkit")
        .and_then(|s| s.get("prompts"))
        .map(|p| serde_json::from_value::<Prompts>(p.clone()))
        .transpose()
        .map_err(|e| Problem::Json(format!("samkit.prompts: {e}")))?
        .unwrap_or_default();
    let prompt_values = prompts.points.iter().flat_map(|p| [p.x, p.y]);
    if prompt_values
        .chain(prompts.bbox.into_iter().flatten())
        .any(|c| !c.is_finite())
    {
        return Err(Problem::Json(
            "samkit.prompts: a coordinate is out of range".into(),
        ));
    }
    let attributes = match v.get("attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(Problem::Json("`attributes` must be an object".into())),
    };
    Ok(Instance {
        id,
        image_id,
        category_id,
        mask,
        score,
        prompts,
        iscrowd,
        attributes,
    })
}

/// A COCO `segmentation` for an image of `w × h` (what pycocotools `annToRLE` reads).
pub fn parse_segmentation(seg: &Value, w: u32, h: u32) -> Result<CocoRle, Problem> {
    match seg {
        Value::Array(polys) => {
            if polys.is_empty() {
                return Err(Problem::Segmentation("empty polygon list".into()));
            }
            let mut flat = Vec::with_capacity(polys.len());
            for p in polys {
                let coords = p
                    .as_array()
                    .ok_or_else(|| {
                        Problem::Segmentation("polygon is not a list of numbers".into())
                    })?
                    .iter()
                    .map(Value::as_f64)
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| Problem::Segmentation("polygon holds a non-number".into()))?;
                flat.push(coords);
            }
            Ok(CocoRle::from_polygons(h, w, &flat)?)
        }
        Value::Object(o) => {
            let size = o
                .get("size")
                .and_then(|s| serde_json::from_value::<[u32; 2]>(s.clone()).ok())
                .ok_or_else(|| {
                    Problem::Segmentation("RLE `size` must be [height, width]".into())
                })?;
            if size != [h, w] {
                return Err(Problem::SizeMismatch {
                    mask_width: size[1],
                    mask_height: size[0],
                    image_width: w,
                    image_height: h,
                });
            }
            match o.get("counts") {
                Some(Value::String(s)) => Ok(CocoRle::from_compressed(h, w, s)?),
                Some(Value::Array(a)) => {
                    let counts = a
                        .iter()
                        .map(|c| c.as_u64().and_then(|c| u32::try_from(c).ok()))
                        .collect::<Option<Vec<u32>>>()
                        .ok_or_else(|| {
                            Problem::Segmentation(
                                "RLE counts must be non-negative 32-bit integers".into(),
                            )
                        })?;
                    Ok(CocoRle::from_counts(h, w, counts)?)
                }
                _ => Err(Problem::Segmentation("RLE `counts` missing".into())),
            }
        }
        _ => Err(Problem::Segmentation("neither polygons nor RLE".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samkit_mask::Mask;

    fn doc(ann: &str) -> String {
        format!(
            r#"{{"images":[{{"id":1,"file_name":"a.jpg","width":4,"height":3}}],
               "categories":[{{"id":2,"name":"thing"}}],"annotations":[{ann}]}}"#
        )
    }

    #[test]
    fn imports_all_segmentation_kinds() {
        let p = Path::new("t.json");
        let text = doc(
            r#"{"id":1,"image_id":1,"category_id":2,"segmentation":{"size":[3,4],"counts":[3,3,6]}},
               {"id":2,"image_id":1,"category_id":2,"iscrowd":1,"segmentation":{"size":[3,4],"counts":"39"}},
               {"id":3,"image_id":1,"category_id":2,"segmentation":[[0,0,2,0,2,2,0,2]]}"#,
        );
        let (set, skipped) = import_coco_slice(text.as_bytes(), p, false).unwrap();
        assert!(skipped.is_empty());
        assert_eq!(set.instances.len(), 3);
        assert_eq!(set.instances[0].mask.area(), 3);
        assert!(set.instances[1].iscrowd);
        assert_eq!(set.instances[2].mask.area(), 4);
    }

    #[test]
    fn attributes_round_trip_and_must_be_an_object() {
        let p = Path::new("t.json");
        let text = doc(
            r#"{"id":1,"image_id":1,"category_id":2,"segmentation":{"size":[3,4],"counts":[3,3,6]},
                "attributes":{"occluded":true,"colour":"red"}},
               {"id":2,"image_id":1,"category_id":2,"segmentation":{"size":[3,4],"counts":[3,3,6]}}"#,
        );
        let (set, _) = import_coco_slice(text.as_bytes(), p, false).unwrap();
        assert_eq!(
            Value::Object(set.instances[0].attributes.clone()),
            json!({"occluded": true, "colour": "red"})
        );
        let out = to_coco_json(&set, &CocoExportOptions::default(), p, &mut |_, _| {}).unwrap();
        assert_eq!(
            out["annotations"][0]["attributes"],
            json!({"occluded": true, "colour": "red"})
        );
        assert!(out["annotations"][1].get("attributes").is_none());
        let bad = doc(
            r#"{"id":1,"image_id":1,"category_id":2,"segmentation":{"size":[3,4],"counts":[3,3,6]},
                "attributes":[1]}"#,
        );
        let err = import_coco_slice(bad.as_bytes(), p, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`attributes` must be an object"), "{err}");
    }

    #[test]
    fn image_entries_over_the_budget_are_refused_before_any_mask() {
        // `samkit convert` on this allocated 3.6 GB rasterising the polygon.
        let text = r#"{"images":[{"id":1,"file_name":"huge.jpg","width":60000,"height":60000},
                                  {"id":2,"file_name":"ok.jpg","width":4,"height":3}],
               "categories":[{"id":2,"name":"thing"}],
               "annotations":[{"id":1,"image_id":1,"category_id":2,"segmentation":[[0,0,59999,0,59999,59999]]},
                              {"id":2,"image_id":2,"category_id":2,"segmentation":[[0,0,2,0,2,2,0,2]]}]}"#;
        let p = Path::new("bomb.json");
        let e = import_coco_slice(text.as_bytes(), p, false).unwrap_err();
        assert!(
            matches!(
                &e,
                FormatError::Invalid {
                    problem: Problem::Mask(samkit_mask::MaskError::OverBudget { .. }),
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("--max-pixels"), "{e}");
        let (set, skipped) = import_coco_slice(text.as_bytes(), p, true).unwrap();
        assert_eq!(set.images.len(), 1);
        assert_eq!(set.instances.len(), 1);
        assert_eq!(skipped.len(), 2, "the image and its annotation");
        // A larger budget admits it (sizes only; nothing is rasterised here).
        let small = r#"{"images":[{"id":1,"file_name":"a.jpg","width":400,"height":300}]}"#;
        assert!(
            import_coco_slice_within(small.as_bytes(), p, false, PixelBudget::new(119_999))
                .is_err()
        );
        assert!(
            import_coco_slice_within(small.as_bytes(), p, false, PixelBudget::new(120_000)).is_ok()
        );
    }

    #[test]
    fn bad_input_is_typed_and_skippable() {
        let p = Path::new("bad.json");
        assert!(matches!(
            import_coco_slice(b"{not json", p, true),
            Err(FormatError::Invalid {
                problem: Problem::Json(_),
                ..
            })
        ));
        let text = doc(
            r#"{"id":5,"image_id":1,"category_id":2,"segmentation":{"size":[3,4],"counts":[3,3]}},
               {"id":6,"image_id":1,"category_id":9,"segmentation":{"size":[3,4],"counts":[12]}},
               {"id":7,"image_id":1,"category_id":2,"segmentation":[[0,0,1,1]]},
               {"id":8,"image_id":1,"category_id":2,"segmentation":{"size":[4,4],"counts":[16]}},
               {"id":9,"image_id":1,"category_id":2,"segmentation":{"size":[3,4],"counts":[12]}}"#,
        );
        let e = import_coco_slice(text.as_bytes(), p, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.json") && e.contains("annotation 5") && e.contains("sum"),
            "{e}"
        );
        let (set, skipped) = import_coco_slice(text.as_bytes(), p, true).unwrap();
        assert_eq!(set.instances.len(), 1);
        assert_eq!(skipped.len(), 4);
        let msgs: Vec<String> = skipped.iter().map(|e| e.to_string()).collect();
        assert!(msgs[1].contains("category id 9"), "{msgs:?}");
        assert!(msgs[2].contains("at least 3"), "{msgs:?}");
        assert!(msgs[3].contains("4×4"), "{msgs:?}");
    }

    #[test]
    fn export_rle_and_polygons() {
        let m = Mask::from_fn(6, 5, |x, y| (1..4).contains(&x) && (1..4).contains(&y)).unwrap();
        let mut set = AnnotationSet::default();
        set.images.push(ImageInfo {
            id: 1,
            file_name: "a.png".into(),
            width: 6,
            height: 5,
        });
        set.categories.push(Category {
            id: 1,
            name: "x".into(),
            color: None,
            supercategory: None,
        });
        set.instances.push(Instance {
            id: 1,
            image_id: 1,
            category_id: 1,
            mask: CocoRle::encode(&m),
            score: None,
            prompts: Prompts::default(),
            iscrowd: false,
            attributes: Default::default(),
        });
        let p = Path::new("out.json");
        for mf in [MaskFormat::Rle, MaskFormat::Polygon] {
            let opts = CocoExportOptions {
                mask_format: mf,
                tolerance: 0.0,
            };
            let v = to_coco_json(&set, &opts, p, &mut |_, _| {}).unwrap();
            let a = &v["annotations"][0];
            assert_eq!(a["area"], json!(9.0));
            assert_eq!(a["bbox"], json!([1.0, 1.0, 3.0, 3.0]));
            assert_eq!(a["iscrowd"], json!(0));
            let (back, _) = import_coco_slice(&serde_json::to_vec(&v).unwrap(), p, false).unwrap();
            assert_eq!(back.instances[0].mask, set.instances[0].mask);
        }
    }

    #[test]
    fn out_of_range_prompts_and_scores_are_refused_so_exports_read_back() {
        // Found by the coco_json fuzz target (fuzz/regressions/coco_json): a box corner
        // beyond f32 became infinity, was exported as `null` and the export did not read
        // back.
        let p = Path::new("t.json");
        for extra in [
            r#""samkit":{"prompts":{"box":[0,0,3,1e39]}}"#,
            r#""samkit":{"prompts":{"points":[[1e39,0,1]]}}"#,
            r#""score":-1e300"#,
        ] {
            let text = doc(&format!(
                r#"{{"id":1,"image_id":1,"category_id":2,"segmentation":[[0,0,2,0,2,2]],{extra}}}"#
            ));
            let e = import_coco_slice(text.as_bytes(), p, false).unwrap_err();
            assert!(e.to_string().contains("out of range"), "{extra}: {e}");
        }
        let crash =
            include_bytes!("../../../fuzz/regressions/coco_json/prompt_box_beyond_f32.json");
        let (set, skipped) = import_coco_slice(crash, p, true).unwrap();
        assert_eq!(skipped.len(), 1);
        let doc = to_coco_json(&set, &CocoExportOptions::default(), p, &mut |_, _| {}).unwrap();
        let (back, _) = import_coco_slice(&serde_json::to_vec(&doc).unwrap(), p, false).unwrap();
        assert_eq!(back.instances.len(), set.instances.len());
    }
}
