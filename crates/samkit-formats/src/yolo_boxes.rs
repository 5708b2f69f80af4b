//! YOLO detection labels (`samkit masks-from-boxes` on a YOLO folder): one `.txt` per
//! image, a line `class cx cy w h` per box, normalised to `[0, 1]` by the image's size,
//! optionally followed by the detector's confidence (`class cx cy w h conf`, what YOLOv5/v8
//! write with `save_conf`).
//! The folder is laid out and its class names found as for YOLO-seg import ([`yolo`]:
//! `labels/` or the folder itself; `classes.txt`, `obj.names` or `data.yaml` in the
//! folder, its `labels/` or its parent); each label file pairs with the image of its
//! stem in the images folder.
//!
//! Nothing here ends the read but an unreadable folder: a label file without an image,
//! an oversized one, and each malformed line (named `file:line`) become [`YoloNote`]s
//! and are skipped. Sizes are checked before allocating: a label file over
//! [`MAX_LABEL_FILE_BYTES`] or with more than [`MAX_BOXES_PER_FILE`] boxes is skipped
//! whole.
//!
//! [`yolo`]: crate::yolo

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::model::stem;
use crate::yolo::{find_image, label_files, read_class_names, MAX_UNNAMED_CLASSES};
use crate::FormatError;

/// The most bytes of one label file (a million boxes is ~40 MB).
pub const MAX_LABEL_FILE_BYTES: u64 = 64 << 20;

/// The most boxes of one label file.
pub const MAX_BOXES_PER_FILE: usize = 1_000_000;

/// One box as the label file gives it: normalised centre and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YoloBox {
    /// The 1-based line it came from.
    pub line: usize,
    pub class: usize,
    pub cx: f64,
    pub cy: f64,
    pub w: f64,
    pub h: f64,
    /// The detector's confidence, when the line has a sixth value.
    pub confidence: Option<f64>,
}

impl YoloBox {
    /// The box as COCO's `[x, y, width, height]` in pixels of a `width × height` image
    /// (not clipped: the caller checks it against the image).
    pub fn to_xywh(&self, width: u32, height: u32) -> [f64; 4] {
        let (iw, ih) = (f64::from(width), f64::from(height));
        [
            (self.cx - self.w / 2.0) * iw,
            (self.cy - self.h / 2.0) * ih,
            self.w * iw,
            self.h * ih,
        ]
    }
}

/// One label file with its image and its well-formed boxes, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct YoloLabelFile {
    pub label: PathBuf,
    pub image: PathBuf,
    pub boxes: Vec<YoloBox>,
}

/// Something skipped while reading, with where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YoloNote(pub String);

impl std::fmt::Display for YoloNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A YOLO detection folder read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct YoloDetections {
    /// The class names, when the folder gives them; class `k` is the k-th.
    pub class_names: Option<Vec<String>>,
    /// Label files with an image, sorted by name.
    pub files: Vec<YoloLabelFile>,
    /// What was skipped, in reading order.
    pub notes: Vec<YoloNote>,
}

impl YoloDetections {
    /// The categories `(class, name)`: every class name, or without names
    /// `class 0 ..= class <largest index seen>`.
    pub fn categories(&self) -> Vec<(usize, String)> {
        match &self.class_names {
            Some(names) => names.iter().cloned().enumerate().collect(),
            None => {
                let max = self
                    .files
                    .iter()
                    .flat_map(|f| f.boxes.iter().map(|b| b.class))
                    .max();
                (0..max.map_or(0, |m| m + 1))
                    .map(|k| (k, format!("class {k}")))
                    .collect()
            }
        }
    }
}

/// Reads the label files of `dir`, pairing each with its image in `images_dir`.
pub fn read_yolo_boxes(dir: &Path, images_dir: &Path) -> Result<YoloDetections, FormatError> {
    let (labels_dir, files) = label_files(dir)?;
    let parent = dir.parent().unwrap_or(dir);
    let class_names = read_class_names(&[dir, &labels_dir, parent]);
    let classes = class_names.as_ref().map(Vec::len);
    let mut out = YoloDetections {
        class_names,
        ..Default::default()
    };
    for label in files {
        let s = stem(&label.to_string_lossy());
        let Some(image) = find_image(images_dir, &s) else {
            out.notes.push(YoloNote(format!(
                "{}: no image named {s}.* in {}: skipped",
                label.display(),
                images_dir.display()
            )));
            continue;
        };
        let text = match read_label_file(&label) {
            Ok(t) => t,
            Err(why) => {
                out.notes
                    .push(YoloNote(format!("{}: {why}: skipped", label.display())));
                continue;
            }
        };
        let mut boxes = Vec::new();
        for (k, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if boxes.len() == MAX_BOXES_PER_FILE {
                out.notes.push(YoloNote(format!(
                    "{}:{}: more than {MAX_BOXES_PER_FILE} boxes in one file: the rest skipped",
                    label.display(),
                    k + 1
                )));
                break;
            }
            match parse_box(line, k + 1, classes) {
                Ok(b) => boxes.push(b),
                Err(why) => out.notes.push(YoloNote(format!(
                    "{}:{}: {why}: skipped",
                    label.display(),
                    k + 1
                ))),
            }
        }
        out.files.push(YoloLabelFile {
            label,
            image,
            boxes,
        });
    }
    Ok(out)
}

/// A label file's text, refused when it is not a regular file or is over the budget
/// (read through a bounded reader, so a file growing meanwhile is still bounded).
fn read_label_file(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let too_big =
        |n: u64| format!("{n} bytes, more than the {MAX_LABEL_FILE_BYTES} a label file may have");
    if meta.len() > MAX_LABEL_FILE_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_LABEL_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_LABEL_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// One `class cx cy w h [conf]` line; `classes` bounds the class index when names are
/// known.
fn parse_box(line: &str, ln: usize, classes: Option<usize>) -> Result<YoloBox, String> {
    let fields: Vec<&str> = line.split_whitespace().take(7).collect();
    if !(5..=6).contains(&fields.len()) {
        let (found, hint) = match fields.len() {
            n if n > 6 => (
                "more than 6".to_string(),
                " (a segmentation label? `samkit convert` reads those)",
            ),
            n => (n.to_string(), ""),
        };
        return Err(format!(
            "expected `class cx cy w h` (5 values, or 6 with the detector's confidence), found {found}{hint}"
        ));
    }
    let class: usize = fields[0]
        .parse()
        .map_err(|_| format!("class {:?} is not a non-negative integer", fields[0]))?;
    match classes {
        Some(n) if class >= n => {
            return Err(format!("class {class} is not one of the {n} class names"))
        }
        None if class >= MAX_UNNAMED_CLASSES => {
            return Err(format!(
                "class {class} is over {MAX_UNNAMED_CLASSES}, the most read without class \
                 names: add a classes.txt or data.yaml"
            ))
        }
        _ => {}
    }
    let mut v = [0.0f64; 4];
    for (slot, text) in v.iter_mut().zip(&fields[1..]) {
        *slot = text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| format!("{text:?} is not a finite number"))?;
    }
    let [cx, cy, w, h] = v;
    let confidence = match fields.get(5) {
        None => None,
        Some(text) => Some(
            text.parse::<f64>()
                .ok()
                .filter(|c| (0.0..=1.0).contains(c))
                .ok_or_else(|| format!("confidence {text:?} is not a number in 0..=1"))?,
        ),
    };
    Ok(YoloBox {
        line: ln,
        class,
        cx,
        cy,
        w,
        h,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_boxes_or_reasons() {
        let b = parse_box("2 0.5 0.25 0.2 0.1", 7, Some(3)).unwrap();
        assert_eq!((b.line, b.class, b.confidence), (7, 2, None));
        let c = parse_box("2 0.5 0.25 0.2 0.1 0.87", 8, Some(3)).unwrap();
        assert_eq!(
            (c.to_xywh(200, 100), c.confidence),
            (b.to_xywh(200, 100), Some(0.87))
        );
        assert_eq!(b.to_xywh(200, 100), [80.0, 20.0, 40.0, 10.0]);
        for (bad, why) in [
            ("3 0.5 0.5 0.1 0.1", "not one of the 3"),
            ("-1 0.5 0.5 0.1 0.1", "not a non-negative integer"),
            ("x 0.5 0.5 0.1 0.1", "not a non-negative integer"),
            ("0 0.5 0.5 0.1", "found 4"),
            ("0 0.5 0.5 0.1 0.1 1.5", "confidence"),
            ("0 0.5 0.5 0.1 0.1 nan", "confidence"),
            ("0 0.1 0.1 0.2 0.1 0.3 0.3 0.1", "segmentation label"),
            ("0 0.5 nan 0.1 0.1", "finite"),
            ("0 0.5 1e999 0.1 0.1", "finite"),
        ] {
            let e = parse_box(bad, 1, Some(3)).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let e = parse_box("20000000 0.5 0.5 0.1 0.1", 1, None).unwrap_err();
        assert!(e.contains("classes.txt"), "{e}");
    }

    #[test]
    fn a_folder_with_hostile_files_is_read_around_them() {
        let d = tempfile::tempdir().unwrap();
        let (labels, images) = (d.path().join("labels"), d.path().join("images"));
        std::fs::create_dir_all(&labels).unwrap();
        std::fs::create_dir_all(&images).unwrap();
        for name in ["a.png", "b.jpg", "big.png"] {
            std::fs::write(images.join(name), b"not read here").unwrap();
        }
        std::fs::write(
            labels.join("a.txt"),
            "0 0.5 0.5 0.2 0.2\n\ngarbage\n1 0.1 0.1 0.1 0.1\n\u{0}\u{ff}\n",
        )
        .unwrap();
        std::fs::write(labels.join("b.txt"), "1 0.5 0.5 1 1").unwrap();
        std::fs::write(labels.join("orphan.txt"), "0 0.5 0.5 0.2 0.2\n").unwrap();
        let big = std::fs::File::create(labels.join("big.txt")).unwrap();
        big.set_len(MAX_LABEL_FILE_BYTES + 1).unwrap();
        let read = read_yolo_boxes(d.path(), &images).unwrap();
        assert_eq!(read.class_names, None);
        let names: Vec<_> = read.files.iter().map(|f| f.image.clone()).collect();
        assert_eq!(names, [images.join("a.png"), images.join("b.jpg")]);
        assert_eq!(
            read.files[0]
                .boxes
                .iter()
                .map(|b| b.line)
                .collect::<Vec<_>>(),
            [1, 4]
        );
        let notes: Vec<String> = read.notes.iter().map(ToString::to_string).collect();
        assert_eq!(notes.len(), 4, "{notes:?}");
        assert!(notes[0].contains("a.txt:3:"), "{notes:?}");
        assert!(notes[1].contains("a.txt:5:"), "{notes:?}");
        assert!(
            notes[2].contains("big.txt") && notes[2].contains("more than"),
            "{notes:?}"
        );
        assert!(
            notes[3].contains("orphan.txt") && notes[3].contains("no image"),
            "{notes:?}"
        );
        assert_eq!(
            read.categories(),
            [(0, "class 0".to_string()), (1, "class 1".to_string())]
        );
        // Names from obj.names bound the classes.
        std::fs::write(d.path().join("obj.names"), "cat\n").unwrap();
        let read = read_yolo_boxes(d.path(), &images).unwrap();
        assert_eq!(read.categories(), [(0, "cat".to_string())]);
        assert_eq!(read.files[0].boxes.len(), 1);
        assert!(read.files[1].boxes.is_empty());
    }
}
