//! YOLO segmentation (Ultralytics) export and import.
//!
//! Export layout: `labels/<stem>.txt` with one line per polygon part,
//! `class x1 y1 x2 y2 …` normalised to `[0, 1]` by the image size, class = position
//! of the category in the set; `classes.txt` (one name per line) and `data.yaml`.
//! Holes are kept by joining them to their part with a keyhole bridge, as in the
//! COCO polygon export.
//!
//! Import: a folder holding `labels/` (or the `.txt` files themselves) and
//! `classes.txt`, `obj.names` or `data.yaml` (searched in the folder and its parent); image sizes
//! come from the images folder (same stem, any common image extension). YOLO has no
//! grouping of parts, so every line becomes its own instance; class `k` becomes
//! category id `k + 1`.

use crate::model::{stem, AnnotationSet, Category, ImageInfo, Instance, Prompts};
use crate::png_export::mkdir;
use crate::write::write_text;
use crate::{FormatError, Problem};
use samkit_mask::{CocoRle, PixelBudget, Polygons};
use std::path::{Path, PathBuf};

const IMAGE_EXTS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "PNG"];

/// The largest class index (exclusive) read from labels without `classes.txt` or
/// `data.yaml`: a category is created for every index below the largest one seen.
pub(crate) const MAX_UNNAMED_CLASSES: usize = 10_000;

pub fn export_yolo(
    set: &AnnotationSet,
    out: &Path,
    tolerance: f64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), FormatError> {
    set.validate(out)?;
    let labels = out.join("labels");
    mkdir(&labels)?;
    let groups = set.by_image();
    let total = groups.len();
    for (done, (img, insts)) in groups.into_iter().enumerate() {
        let (w, h) = (f64::from(img.width.max(1)), f64::from(img.height.max(1)));
        let mut text = String::new();
        for inst in insts {
            let class = set.category_index(inst.category_id).unwrap_or(0);
            let polys = Polygons::from_mask(&inst.mask.decode(), tolerance);
            for flat in polys.to_coco() {
                text.push_str(&class.to_string());
                for (i, v) in flat.iter().enumerate() {
                    let n = if i % 2 == 0 { v / w } else { v / h };
                    text.push_str(&format!(" {n:.6}"));
                }
                text.push('\n');
            }
        }
        write_text(&labels.join(format!("{}.txt", stem(&img.file_name))), &text)?;
        progress(done + 1, total);
    }
    let names: Vec<&str> = set.categories.iter().map(|c| c.name.as_str()).collect();
    write_text(&out.join("classes.txt"), &(names.join("\n") + "\n"))?;
    let mut yaml = format!(
        "# written by samkit\npath: .\ntrain: images\nval: images\nnc: {}\nnames:\n",
        names.len()
    );
    for (i, n) in names.iter().enumerate() {
        // A JSON string is a valid YAML double-quoted scalar.
        yaml.push_str(&format!("  {i}: {}\n", serde_json::Value::from(*n)));
    }
    write_text(&out.join("data.yaml"), &yaml)
}

/// The most bytes of a class-names file read (`classes.txt`, `obj.names`, `data.yaml`);
/// a larger one is passed over as if absent.
const MAX_NAMES_FILE_BYTES: u64 = 16 << 20;

fn read_small(path: &Path) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_NAMES_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .ok()?;
    (text.len() as u64 <= MAX_NAMES_FILE_BYTES).then_some(text)
}

/// The class names of a YOLO folder: the first `classes.txt` or `obj.names` (Darknet;
/// one name per line) in `dirs`, else the first `data.yaml`'s `names`.
pub(crate) fn read_class_names(dirs: &[&Path]) -> Option<Vec<String>> {
    for d in dirs {
        for file in ["classes.txt", "obj.names"] {
            if let Some(t) = read_small(&d.join(file)) {
                return Some(
                    t.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect(),
                );
            }
        }
    }
    for d in dirs {
        if let Some(t) = read_small(&d.join("data.yaml")) {
            return Some(parse_yaml_names(&t));
        }
    }
    None
}

/// The `names:` of a data.yaml, as a `{k: name}` block mapping or a `[a, b]` flow list.
fn parse_yaml_names(text: &str) -> Vec<String> {
    let unquote = |s: &str| {
        let s = s.trim();
        serde_json::from_str::<String>(s)
            .unwrap_or_else(|_| s.trim_matches(|c| c == '\'' || c == '"').to_string())
    };
    let mut names = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("names:") {
            let rest = rest.trim();
            if let Some(list) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                return list
                    .split(',')
                    .map(unquote)
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            in_block = true;
            continue;
        }
        if in_block {
            if !line.starts_with(' ') && !line.starts_with('\t') {
                break;
            }
            let item = line.trim();
            if let Some(v) = item.strip_prefix("- ") {
                names.push(unquote(v));
            } else if let Some((_, v)) = item.split_once(':') {
                names.push(unquote(v));
            }
        }
    }
    names
}

/// The image of a label file: `images_dir/<stem>.<ext>` for the common extensions.
pub(crate) fn find_image(images_dir: &Path, stem: &str) -> Option<PathBuf> {
    IMAGE_EXTS
        .iter()
        .map(|e| images_dir.join(format!("{stem}.{e}")))
        .find(|p| p.is_file())
}

/// [`import_yolo_within`] the default [`PixelBudget`].
pub fn import_yolo(
    dir: &Path,
    images_dir: &Path,
    skip_invalid: bool,
) -> Result<(AnnotationSet, Vec<FormatError>), FormatError> {
    import_yolo_within(dir, images_dir, skip_invalid, PixelBudget::DEFAULT)
}

/// Reads a YOLO-seg folder; `images_dir` provides the image sizes (read from the
/// headers), each checked against `budget`.
pub fn import_yolo_within(
    dir: &Path,
    images_dir: &Path,
    skip_invalid: bool,
    budget: PixelBudget,
) -> Result<(AnnotationSet, Vec<FormatError>), FormatError> {
    let (labels_dir, files) = label_files(dir)?;
    let parent = dir.parent().unwrap_or(dir);
    let names = read_class_names(&[dir, &labels_dir, parent]);
    let mut set = AnnotationSet::default();
    let mut skipped = Vec::new();
    let mut max_class = None::<usize>;
    for file in &files {
        let s = stem(&file.to_string_lossy());
        let Some(img_path) = find_image(images_dir, &s) else {
            let e = FormatError::invalid(file, None, Problem::MissingImage(s));
            if skip_invalid {
                skipped.push(e);
                continue;
            }
            return Err(e);
        };
        let size = image::image_dimensions(&img_path)
            .map_err(|source| FormatError::Image {
                path: img_path.clone(),
                source,
            })
            .and_then(|(w, h)| {
                budget
                    .check(w, h)
                    .map_err(|p| FormatError::invalid(&img_path, None, p))?;
                Ok((w, h))
            });
        let (w, h) = match size {
            Ok(d) => d,
            Err(e) => {
                if skip_invalid {
                    skipped.push(e);
                    continue;
                }
                return Err(e);
            }
        };
        let image_id = set.images.len() as u64 + 1;
        set.images.push(ImageInfo {
            id: image_id,
            file_name: img_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            width: w,
            height: h,
        });
        let bytes = std::fs::read(file).map_err(|e| FormatError::io(file, e))?;
        let text = String::from_utf8_lossy(&bytes);
        for (ln, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let id = set.instances.len() as u64 + 1;
            match parse_line(line, ln + 1, w, h, names.as_ref().map(Vec::len)) {
                Ok((class, mask)) => {
                    max_class = max_class.max(Some(class));
                    set.instances.push(Instance {
                        id,
                        image_id,
                        category_id: class as u64 + 1,
                        mask,
                        score: None,
                        prompts: Prompts::default(),
                        iscrowd: false,
                        attributes: Default::default(),
                    });
                }
                Err(p) => {
                    let e = FormatError::invalid(file, None, p);
                    if !skip_invalid {
                        return Err(e);
                    }
                    skipped.push(e);
                }
            }
        }
    }
    let n = names
        .as_ref()
        .map(Vec::len)
        .unwrap_or_else(|| max_class.map_or(0, |m| m + 1));
    for k in 0..n {
        let name = names
            .as_ref()
            .and_then(|v| v.get(k).cloned())
            .unwrap_or_else(|| format!("class_{k}"));
        set.categories.push(Category {
            id: k as u64 + 1,
            name,
            color: None,
            supercategory: None,
        });
    }
    Ok((set, skipped))
}

/// The label folder of a YOLO folder (`labels/` when there is one, else the folder)
/// and its `.txt` files, sorted (`classes.txt` excluded).
pub(crate) fn label_files(dir: &Path) -> Result<(PathBuf, Vec<PathBuf>), FormatError> {
    let labels_dir = if dir.join("labels").is_dir() {
        dir.join("labels")
    } else {
        dir.to_path_buf()
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&labels_dir)
        .map_err(|e| FormatError::io(&labels_dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "txt")
                && p.file_name().is_some_and(|n| n != "classes.txt")
        })
        .collect();
    files.sort();
    Ok((labels_dir, files))
}

fn parse_line(
    line: &str,
    ln: usize,
    w: u32,
    h: u32,
    classes: Option<usize>,
) -> Result<(usize, CocoRle), Problem> {
    let bad = |message: String| Problem::Line { line: ln, message };
    let mut it = line.split_whitespace();
    let class: usize = it
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("class index is not a non-negative integer".into()))?;
    if classes.is_some_and(|n| class >= n) {
        return Err(Problem::UnknownCategory(class as u64));
    }
    // Without class names, one category is made per index up to the largest: bound it,
    // or a one-line file claiming class 20000000 allocates gigabytes of categories.
    if classes.is_none() && class >= MAX_UNNAMED_CLASSES {
        return Err(bad(format!(
            "class index {class} is over {MAX_UNNAMED_CLASSES}, the most samkit reads \
             without class names: add a classes.txt or data.yaml"
        )));
    }
    let vals = it
        .map(|v| v.parse::<f64>().ok().filter(|f| f.is_finite()))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| bad("coordinate is not a finite number".into()))?;
    if vals.len() < 6 || vals.len() % 2 != 0 {
        return Err(Problem::Mask(samkit_mask::MaskError::PolygonTooShort {
            points: vals.len() / 2,
        }));
    }
    let xy: Vec<f64> = vals
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i % 2 == 0 {
                v * f64::from(w)
            } else {
                v * f64::from(h)
            }
        })
        .collect();
    Ok((class, CocoRle::from_polygon(h, w, &xy)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_names_both_styles() {
        assert_eq!(
            parse_yaml_names("nc: 2\nnames: ['a', \"b c\"]\n"),
            vec!["a", "b c"]
        );
        assert_eq!(
            parse_yaml_names("names:\n  0: \"x\"\n  1: y\nother: 1\n"),
            vec!["x", "y"]
        );
        assert_eq!(parse_yaml_names("names:\n  - p\n  - q\n"), vec!["p", "q"]);
    }

    #[test]
    fn image_sizes_over_the_budget_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (labels, images) = (dir.path().join("labels"), dir.path().join("images"));
        std::fs::create_dir_all(&labels).unwrap();
        std::fs::create_dir_all(&images).unwrap();
        image::GrayImage::new(400, 300)
            .save(images.join("a.png"))
            .unwrap();
        std::fs::write(labels.join("a.txt"), "0 0 0 1 0 1 1\n").unwrap();
        let ok = import_yolo_within(dir.path(), &images, false, PixelBudget::new(120_000));
        assert_eq!(ok.unwrap().0.instances.len(), 1);
        let e = import_yolo_within(dir.path(), &images, false, PixelBudget::new(119_999))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.png") && e.contains("--max-pixels"), "{e}");
        let (set, skipped) =
            import_yolo_within(dir.path(), &images, true, PixelBudget::new(119_999)).unwrap();
        assert!(set.images.is_empty() && skipped.len() == 1);
    }

    #[test]
    fn huge_class_indices_without_names_are_refused() {
        // Found by the yolo_labels fuzz target (fuzz/regressions/yolo_labels): class
        // 20262609 and no class names made 20 million categories (out of memory).
        let dir = tempfile::tempdir().unwrap();
        let (labels, images) = (dir.path().join("labels"), dir.path().join("images"));
        std::fs::create_dir_all(&labels).unwrap();
        std::fs::create_dir_all(&images).unwrap();
        image::GrayImage::new(40, 8)
            .save(images.join("a.png"))
            .unwrap();
        let line = "20262609 08 1 0.1 0.0 1.9 0.18 0.1 0.\n";
        std::fs::write(labels.join("a.txt"), line).unwrap();
        let e = import_yolo(dir.path(), &images, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("20262609") && e.contains("classes.txt"), "{e}");
        let (set, skipped) = import_yolo(dir.path(), &images, true).unwrap();
        assert!(set.categories.is_empty() && skipped.len() == 1);
        let ok = format!("{} 0 0 1 0 1 1\n", MAX_UNNAMED_CLASSES - 1);
        std::fs::write(labels.join("a.txt"), ok).unwrap();
        let (set, _) = import_yolo(dir.path(), &images, false).unwrap();
        assert_eq!(set.categories.len(), MAX_UNNAMED_CLASSES);
        // With names, the names bound the classes instead.
        std::fs::write(dir.path().join("classes.txt"), "a\n").unwrap();
        std::fs::write(labels.join("a.txt"), line).unwrap();
        let e = import_yolo(dir.path(), &images, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("20262609"), "{e}");
    }

    #[test]
    fn bad_lines_are_typed() {
        assert!(matches!(
            parse_line("x 0 0", 3, 4, 4, None),
            Err(Problem::Line { line: 3, .. })
        ));
        assert!(matches!(
            parse_line("0 0 0 1 1", 1, 4, 4, None),
            Err(Problem::Mask(_))
        ));
        assert!(matches!(
            parse_line("5 0 0 1 0 1 1", 1, 4, 4, Some(2)),
            Err(Problem::UnknownCategory(5))
        ));
        assert!(matches!(
            parse_line("0 0 0 NaN 0 1 1", 1, 4, 4, None),
            Err(Problem::Line { .. })
        ));
        let (c, m) = parse_line("1 0 0 0.5 0 0.5 0.5 0 0.5", 1, 4, 4, None).unwrap();
        assert_eq!((c, m.area()), (1, 4));
    }
}
