//! `convert`: import any supported input, export to any supported format.

use crate::coco::{export_coco, import_coco_within, CocoExportOptions};
use crate::{numpy, png_export, voc, yolo, AnnotationSet, FormatError, MaskFormat};
use samkit_mask::{PixelBudget, DEFAULT_TOLERANCE};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Coco,
    Png,
    Numpy,
    Yolo,
    Voc,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "coco" | "json" => Ok(Format::Coco),
            "png" => Ok(Format::Png),
            "numpy" | "npy" | "npz" => Ok(Format::Numpy),
            "yolo" | "yolo-seg" => Ok(Format::Yolo),
            "voc" | "pascal-voc" => Ok(Format::Voc),
            _ => Err(format!(
                "unknown format `{s}` (coco, png, numpy, yolo, voc)"
            )),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Coco => "coco",
            Format::Png => "png",
            Format::Numpy => "numpy",
            Format::Yolo => "yolo",
            Format::Voc => "voc",
        })
    }
}

/// Input formats; `Auto` picks COCO for a `.json` file and YOLO for a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    #[default]
    Auto,
    Coco,
    Yolo,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvertOptions {
    /// Skip invalid items (reported in [`ConvertReport::skipped`]) instead of failing.
    pub skip_invalid: bool,
    pub mask_format: MaskFormat,
    /// Polygon simplification tolerance in pixels (COCO polygons, YOLO).
    pub tolerance: f64,
    pub input_format: InputFormat,
    /// The most pixels an input image may declare (COCO `images`, YOLO image headers).
    pub budget: PixelBudget,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            skip_invalid: false,
            mask_format: MaskFormat::Rle,
            tolerance: DEFAULT_TOLERANCE,
            input_format: InputFormat::Auto,
            budget: PixelBudget::DEFAULT,
        }
    }
}

/// A progress event: `done` of `total` items of `stage` ("import", "export").
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub stage: &'a str,
    pub done: usize,
    pub total: usize,
}

#[derive(Debug)]
pub struct ConvertReport {
    pub images: usize,
    pub instances: usize,
    /// Items left out under `skip_invalid`, each naming file, annotation and problem.
    pub skipped: Vec<FormatError>,
    pub notes: Vec<String>,
    /// Written file (COCO) or folder.
    pub output: PathBuf,
}

/// Reads `input` (COCO JSON file or YOLO folder), returning the set and skipped items.
pub fn import(
    input: &Path,
    images_dir: Option<&Path>,
    opts: &ConvertOptions,
) -> Result<(AnnotationSet, Vec<FormatError>), FormatError> {
    if !input.exists() {
        return Err(FormatError::io(
            input,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    }
    let kind = match opts.input_format {
        InputFormat::Auto if input.is_dir() => InputFormat::Yolo,
        InputFormat::Auto
            if input
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json")) =>
        {
            InputFormat::Coco
        }
        InputFormat::Auto => {
            return Err(FormatError::UnknownInput {
                path: input.to_path_buf(),
                message: "expected a COCO .json file or a YOLO folder".into(),
            })
        }
        k => k,
    };
    match kind {
        InputFormat::Yolo => {
            let images = images_dir.ok_or_else(|| FormatError::UnknownInput {
                path: input.to_path_buf(),
                message: "YOLO labels need the images folder (--images DIR) for the image sizes"
                    .into(),
            })?;
            yolo::import_yolo_within(input, images, opts.skip_invalid, opts.budget)
        }
        _ => import_coco_within(input, opts.skip_invalid, opts.budget),
    }
}

/// Converts `input` to `to` under `out` (for COCO a `.json` path or an existing
/// non-folder such as `/dev/stdout`, else a folder that receives `annotations.json`). `images_dir` gives image
/// sizes for YOLO input and source pixels for PNG cut-outs.
pub fn convert(
    input: &Path,
    to: Format,
    out: &Path,
    images_dir: Option<&Path>,
    opts: &ConvertOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ConvertReport, FormatError> {
    progress(Progress {
        stage: "import",
        done: 0,
        total: 1,
    });
    let (set, skipped) = import(input, images_dir, opts)?;
    progress(Progress {
        stage: "import",
        done: 1,
        total: 1,
    });
    let mut notes = Vec::new();
    let mut cb = |done: usize, total: usize| {
        progress(Progress {
            stage: "export",
            done,
            total,
        })
    };
    let output = match to {
        Format::Coco => {
            // A `.json` path, or anything that exists and is not a folder (a file, a
            // FIFO, `/dev/stdout`), is the file itself.
            let is_file = out
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
                || out.exists() && !out.is_dir();
            let file = if is_file {
                out.to_path_buf()
            } else {
                out.join("annotations.json")
            };
            let o = CocoExportOptions {
                mask_format: opts.mask_format,
                tolerance: opts.tolerance,
            };
            export_coco(&set, &file, &o, &mut cb)?;
            file
        }
        Format::Png => {
            notes = png_export::export_png(&set, out, images_dir, &mut cb)?;
            out.to_path_buf()
        }
        Format::Numpy => {
            numpy::export_numpy(&set, out, &mut cb)?;
            out.to_path_buf()
        }
        Format::Yolo => {
            yolo::export_yolo(&set, out, opts.tolerance, &mut cb)?;
            out.to_path_buf()
        }
        Format::Voc => {
            voc::export_voc(&set, out, &mut cb)?;
            out.to_path_buf()
        }
    };
    Ok(ConvertReport {
        images: set.images.len(),
        instances: set.instances.len(),
        skipped,
        notes,
        output,
    })
}
