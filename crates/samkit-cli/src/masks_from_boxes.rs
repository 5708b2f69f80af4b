//! `samkit masks-from-boxes`: a SAM mask inside every box of a COCO file or a YOLO
//! detection folder, written as COCO (for a COCO input, with everything else of each
//! annotation kept).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use samkit_auto::boxes::{check_xywh, masks_for_boxes, CheckedBox};
use samkit_formats::yolo_boxes::{read_yolo_boxes, YoloBox};
use serde_json::{json, Value};

use crate::budget_args::BudgetArgs;
use crate::image_args::ImageReadArgs;
use crate::model_args::ModelArgs;

/// The most bytes of an annotations file we read (a COCO file of a million objects
/// with polygons is a few hundred MB).
const MAX_ANNOTATIONS_BYTES: u64 = 2 << 30;

#[derive(clap::Args, Debug)]
pub struct MasksFromBoxesArgs {
    /// COCO instances file whose annotations have a `bbox` (with or without
    /// segmentation), or a YOLO detection folder: one <stem>.txt per image (in it or in
    /// its labels/), a line `class cx cy w h` per box normalised to [0, 1]; class names
    /// from classes.txt, obj.names or data.yaml, else "class N"
    #[arg(value_name = "ANNOTATIONS")]
    pub annotations: PathBuf,
    /// Folder the images' `file_name`s are relative to (YOLO: the image of each label
    /// file, same stem, png/jpg/jpeg/tif/tiff/bmp/webp)
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// The COCO file to write: the input with each box's mask as `segmentation`, its
    /// `area`, and the predicted IoU as `score` (YOLO: images, categories and an
    /// annotation per box, its bbox in pixels, clipped to the image)
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    /// Write polygons (holes kept, joined by a zero-width cut) instead of RLE
    #[arg(long)]
    pub polygons: bool,
    /// Boxes decoded together (memory grows with it)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
    /// Encode even when a cached embedding exists
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
    #[command(flatten)]
    pub read: ImageReadArgs,
}

/// The annotations to fill, read from a COCO file or a YOLO folder.
struct Input {
    /// A COCO document: `images`, `categories`, `annotations` (YOLO's made up here).
    doc: Value,
    /// `images[].id` → declared `(width, height)` (COCO only).
    declared_sizes: HashMap<u64, (u32, u32)>,
    /// `images[].id` → `file_name`, relative to `--images`.
    images: HashMap<u64, String>,
    /// Annotation indices per image, in file order (YOLO: every image, boxes or not).
    by_image: Vec<(u64, Vec<usize>)>,
    /// YOLO only: each annotation's box and where it came from, made a pixel `bbox`
    /// once its image is loaded (normalised to the image as shown, EXIF applied).
    yolo: Option<Vec<(YoloBox, String)>>,
    notes: Vec<String>,
}

pub fn run(args: MasksFromBoxesArgs) -> anyhow::Result<()> {
    let Input {
        mut doc,
        declared_sizes,
        images,
        by_image,
        yolo,
        mut notes,
    } = if args.annotations.is_dir() {
        read_yolo(&args)?
    } else {
        read_coco(&args)?
    };
    let annotations = doc
        .get_mut("annotations")
        .and_then(Value::as_array_mut)
        .context("no `annotations` list")?;
    // How a note names an annotation: its COCO id, or its label file and line.
    let name_of = |k: usize, a: &Value| match &yolo {
        Some(boxes) => boxes[k].1.clone(),
        None => format!("annotation {}", a.get("id").cloned().unwrap_or(Value::Null)),
    };
    samkit_outfile::check_writable(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;

    let loaded = args.model.load()?;
    let decoder = loaded.model.decoder();
    let bar = ProgressBar::new(annotations.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("boxes [{bar:40}] {pos}/{len} ({eta}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let (mut masked, mut skipped) = (0usize, vec![false; annotations.len()]);
    // YOLO: images that could not be read, left out of the output with their boxes.
    let mut unread = HashSet::new();
    let mut sizes = HashMap::new();
    for (image_id, members) in &by_image {
        let Some(file_name) = images.get(image_id) else {
            notes.push(format!(
                "image {image_id} is not in `images`: its {} annotations left as they were",
                members.len()
            ));
            bar.inc(members.len() as u64);
            continue;
        };
        bar.set_message(file_name.clone());
        let path = args.images.join(file_name);
        let image =
            match samkit_engine::load_rgb_with(&path, args.budget.budget(), &args.read.options()) {
                Ok(img) => img,
                Err(e) if yolo.is_some() => {
                    notes.push(format!(
                        "{}: {e}; skipped with its {} boxes",
                        path.display(),
                        members.len()
                    ));
                    unread.insert(*image_id);
                    members.iter().for_each(|&k| skipped[k] = true);
                    bar.inc(members.len() as u64);
                    continue;
                }
                Err(e) => {
                    notes.push(format!(
                        "{}: {e}; its {} annotations left as they were",
                        path.display(),
                        members.len()
                    ));
                    bar.inc(members.len() as u64);
                    continue;
                }
            };
        let (w, h) = image.dimensions();
        sizes.insert(*image_id, (w, h));
        if let Some(declared) = declared_sizes.get(image_id).filter(|&&d| d != (w, h)) {
            notes.push(format!(
                "{} is {w}x{h} but the file says {}x{}: its {} annotations left as they were",
                path.display(),
                declared.0,
                declared.1,
                members.len()
            ));
            bar.inc(members.len() as u64);
            continue;
        }
        let mut prompts = Vec::new();
        for &k in members {
            let bbox = match &yolo {
                Some(boxes) => Some(boxes[k].0.to_xywh(w, h)),
                None => annotations[k]
                    .get("bbox")
                    .and_then(Value::as_array)
                    .and_then(|b| {
                        let v: Vec<f64> = b.iter().filter_map(Value::as_f64).collect();
                        <[f64; 4]>::try_from(v).ok()
                    }),
            };
            let who = name_of(k, &annotations[k]);
            let checked = bbox.map(|b| check_xywh(b, w, h));
            if let (
                Some(CheckedBox::Inside(_) | CheckedBox::Clipped(_)),
                Some([x, y, bw, bh]),
                Some(a),
            ) = (
                checked,
                bbox,
                yolo.as_ref().and(annotations[k].as_object_mut()),
            ) {
                // A YOLO box becomes the COCO bbox of what is prompted: its part inside
                // the image, in f64 pixels.
                let (x0, y0) = (x.max(0.0), y.max(0.0));
                let (x1, y1) = ((x + bw).min(f64::from(w)), (y + bh).min(f64::from(h)));
                a.insert("bbox".into(), json!([x0, y0, x1 - x0, y1 - y0]));
            }
            match checked {
                Some(CheckedBox::Inside(b)) => prompts.push((k, b)),
                Some(CheckedBox::Clipped(b)) => {
                    notes.push(format!(
                        "{who}: box {:?} reaches outside the {w}x{h} image {file_name}: clipped",
                        bbox.unwrap_or_default()
                    ));
                    prompts.push((k, b));
                }
                Some(CheckedBox::Empty) | None => {
                    notes.push(format!(
                        "{who}: no box inside the {w}x{h} image {file_name}: skipped"
                    ));
                    skipped[k] = true;
                    bar.inc(1);
                }
            }
        }
        if prompts.is_empty() {
            continue;
        }
        let embedding = if args.no_cache {
            loaded.model.embed(&image)?
        } else {
            loaded.cache.get_or_embed(&loaded.model, &image)?.0
        };
        for chunk in prompts.chunks(args.batch as usize) {
            let boxes: Vec<_> = chunk.iter().map(|(_, b)| *b).collect();
            let masks = masks_for_boxes(&decoder, &embedding, &boxes)?;
            for ((k, _), (mask, iou)) in chunk.iter().zip(masks) {
                let a = &mut annotations[*k];
                let segmentation = if args.polygons {
                    json!(
                        samkit_mask::Polygons::from_mask(&mask, samkit_mask::DEFAULT_TOLERANCE)
                            .to_coco()
                    )
                } else {
                    serde_json::to_value(samkit_mask::CocoRle::encode(&mask))?
                };
                if let Some(obj) = a.as_object_mut() {
                    obj.insert("segmentation".into(), segmentation);
                    obj.insert("area".into(), json!(mask.area() as f64));
                    obj.insert("score".into(), json!(iou));
                    obj.insert("iscrowd".into(), json!(0));
                }
                masked += 1;
            }
            bar.inc(chunk.len() as u64);
        }
    }
    bar.finish_and_clear();
    let mut k = 0;
    annotations.retain(|_| {
        k += 1;
        !skipped[k - 1]
    });
    let empty = skipped.iter().filter(|&&s| s).count();
    if yolo.is_some() {
        if let Some(list) = doc.get_mut("images").and_then(Value::as_array_mut) {
            list.retain(|img| !img["id"].as_u64().is_some_and(|id| unread.contains(&id)));
            for img in list.iter_mut() {
                if let Some(&(w, h)) = img["id"].as_u64().and_then(|id| sizes.get(&id)) {
                    img["width"] = json!(w);
                    img["height"] = json!(h);
                }
            }
        }
    }
    let out_bytes = serde_json::to_vec(&doc)?;
    samkit_outfile::write_bytes(&args.out, &out_bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    for note in &notes {
        eprintln!("note: {note}");
    }
    let secs = started.elapsed().as_secs_f64();
    let report = format!(
        "wrote {masked} masks ({:.1} boxes per second) to {}{}\n",
        if secs > 0.0 {
            masked as f64 / secs
        } else {
            0.0
        },
        args.out.display(),
        match empty {
            0 => String::new(),
            n => format!("; {n} boxes skipped"),
        }
    );
    crate::print_report(&report, [&args.out]);
    Ok(())
}

/// A COCO instances file, its annotations grouped by image.
fn read_coco(args: &MasksFromBoxesArgs) -> anyhow::Result<Input> {
    let len = std::fs::metadata(&args.annotations)
        .with_context(|| format!("cannot read {}", args.annotations.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_ANNOTATIONS_BYTES,
        "{} is {len} bytes, more than the {MAX_ANNOTATIONS_BYTES} an annotations file may have",
        args.annotations.display()
    );
    let bytes = std::fs::read(&args.annotations)
        .with_context(|| format!("cannot read {}", args.annotations.display()))?;
    let doc: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", args.annotations.display()))?;
    let declared_sizes = image_sizes(&doc);
    let images = image_files(&doc)
        .with_context(|| format!("{}: bad `images`", args.annotations.display()))?;
    let Some(annotations) = doc.get("annotations").and_then(Value::as_array) else {
        anyhow::bail!(
            "{} has no `annotations` list: is it a COCO instances file?",
            args.annotations.display()
        );
    };
    // Annotation indices per image, in file order.
    let mut by_image: Vec<(u64, Vec<usize>)> = Vec::new();
    let mut slot: HashMap<u64, usize> = HashMap::new();
    let mut notes = Vec::new();
    for (k, a) in annotations.iter().enumerate() {
        let Some(image_id) = a.get("image_id").and_then(Value::as_u64) else {
            notes.push(format!("annotation #{k} has no image_id: left as it was"));
            continue;
        };
        let s = *slot.entry(image_id).or_insert_with(|| {
            by_image.push((image_id, Vec::new()));
            by_image.len() - 1
        });
        by_image[s].1.push(k);
    }
    Ok(Input {
        doc,
        declared_sizes,
        images,
        by_image,
        yolo: None,
        notes,
    })
}

/// A YOLO detection folder as a COCO document to fill: images with ids 1.. in label
/// file order, a category per class (`id` = class + 1), an annotation per box (ids in
/// file order); its boxes become pixels once each image is loaded.
fn read_yolo(args: &MasksFromBoxesArgs) -> anyhow::Result<Input> {
    let read = read_yolo_boxes(&args.annotations, &args.images)
        .with_context(|| format!("cannot read {}", args.annotations.display()))?;
    let categories: Vec<Value> = read
        .categories()
        .into_iter()
        .map(|(class, name)| json!({"id": class + 1, "name": name}))
        .collect();
    let (mut images, mut image_list, mut by_image) = (HashMap::new(), Vec::new(), Vec::new());
    let (mut annotations, mut boxes) = (Vec::new(), Vec::new());
    for (k, file) in read.files.iter().enumerate() {
        let image_id = k as u64 + 1;
        let name = file
            .image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        image_list.push(json!({"id": image_id, "file_name": name}));
        images.insert(image_id, name);
        let mut members = Vec::new();
        for b in &file.boxes {
            members.push(annotations.len());
            let mut a = json!({
                "id": annotations.len() + 1,
                "image_id": image_id,
                "category_id": b.class + 1,
            });
            // The detector's own score is kept beside SAM's (`score` = predicted IoU).
            if let Some(c) = b.confidence {
                a["attributes"] = json!({"detector_score": c});
            }
            annotations.push(a);
            boxes.push((*b, format!("{}:{}", file.label.display(), b.line)));
        }
        by_image.push((image_id, members));
    }
    anyhow::ensure!(
        !read.files.is_empty(),
        "{} holds no YOLO label file with an image in {}{}",
        args.annotations.display(),
        args.images.display(),
        if read.notes.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                read.notes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    );
    Ok(Input {
        doc: json!({"images": image_list, "categories": categories, "annotations": annotations}),
        declared_sizes: HashMap::new(),
        images,
        by_image,
        yolo: Some(boxes),
        notes: read.notes.into_iter().map(|n| n.0).collect(),
    })
}

/// `images[].id` → declared `(width, height)`, where both are given.
fn image_sizes(doc: &Value) -> HashMap<u64, (u32, u32)> {
    let dim = |img: &Value, key: &str| img.get(key)?.as_u64()?.try_into().ok();
    doc.get("images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|img| {
            Some((
                img.get("id")?.as_u64()?,
                (dim(img, "width")?, dim(img, "height")?),
            ))
        })
        .collect()
}

/// `images[].id` → `file_name`.
fn image_files(doc: &Value) -> anyhow::Result<HashMap<u64, String>> {
    let mut map = HashMap::new();
    for (k, img) in doc
        .get("images")
        .and_then(Value::as_array)
        .context("no `images` list")?
        .iter()
        .enumerate()
    {
        let id = img
            .get("id")
            .and_then(Value::as_u64)
            .with_context(|| format!("image #{k} has no integer id"))?;
        let name = img
            .get("file_name")
            .and_then(Value::as_str)
            .with_context(|| format!("image {id} has no file_name"))?;
        anyhow::ensure!(
            !name.split(['/', '\\']).any(|part| part == "..")
                && !name.starts_with(['/', '\\'])
                && !std::path::Path::new(name).is_absolute(),
            "image {id}'s file_name {name:?} leaves the images folder: give a path inside --images"
        );
        map.insert(id, name.to_string());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_inside_the_images_folder() {
        let doc = |name: &str| json!({"images": [{"id": 1, "file_name": name}]});
        assert_eq!(image_files(&doc("a/b.png")).unwrap()[&1], "a/b.png");
        for bad in [
            "../x.png",
            "a/../../x.png",
            "/etc/passwd",
            "\\\\server\\x.png",
        ] {
            let err = image_files(&doc(bad)).unwrap_err().to_string();
            assert!(err.contains("leaves the images folder"), "{bad}: {err}");
        }
        assert!(image_files(&json!({"images": [{"id": 1}]})).is_err());
        assert_eq!(
            image_sizes(&json!({"images": [{"id": 1, "width": 4, "height": 3}]}))[&1],
            (4, 3)
        );
    }
}
