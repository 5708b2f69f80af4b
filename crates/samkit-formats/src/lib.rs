//! `samkit-formats`: the [`AnnotationSet`] model (images, categories, instances with
//! COCO RLE masks, scores and the prompts that produced them) and its importers and
//! exporters.
//!
//! | format | export | import |
//! |---|---|---|
//! | COCO instances JSON ([`coco`]) | RLE or polygons | RLE (compressed/uncompressed), polygons, crowd |
//! | PNG ([`png_export`]) | per-instance masks, instance-id map, palette semantic map + legend, RGBA cut-outs | — |
//! | NumPy ([`numpy`]) | `.npy` per instance and instance map, `.npz` stack | — |
//! | YOLO segmentation ([`yolo`]) | `labels/*.txt`, `classes.txt`, `data.yaml` | with image sizes from an images folder |
//! | YOLO detection boxes ([`yolo_boxes`]) | — | `class cx cy w h` per line, for `samkit masks-from-boxes` |
//! | NIfTI label volumes ([`nifti_export`]) | one `uint16` volume per DICOM/NIfTI/TIFF-stack source, its slices' masks by category or instance, on the source's affine | — |
//! | Pascal VOC ([`voc`]) | `SegmentationClass`, `SegmentationObject` palette PNGs | — |
//!
//! [`convert`] ties them together (what `samkit convert` calls). Bad input never
//! panics: it yields a [`FormatError`] naming the file, the annotation and the problem,
//! or, with `skip_invalid`, is skipped and listed in the report. Image sizes declared by
//! the input (COCO `images`, YOLO's image headers) are checked against a
//! [`PixelBudget`] before any mask of that size is built, and every file is written
//! through `samkit-outfile` (atomic, symlinks kept, FIFOs written in place).

pub mod coco;
mod convert;
mod error;
mod maps;
mod model;
pub mod nifti_export;
pub mod numpy;
mod palette;
pub mod png_export;
pub mod voc;
mod write;
pub mod yolo;
pub mod yolo_boxes;

pub use convert::{convert, import, ConvertOptions, ConvertReport, Format, InputFormat, Progress};
pub use error::{FormatError, Problem};
pub use model::{AnnotationSet, Category, ImageInfo, Instance, PromptPoint, Prompts};
pub use palette::voc_colormap;
pub use samkit_mask::{CocoRle, Mask, PixelBudget};

/// How masks are written to formats that offer a choice (COCO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskFormat {
    /// Compressed COCO RLE: exact.
    #[default]
    Rle,
    /// Polygons (with keyhole-joined holes), simplified at a tolerance: lossy.
    Polygon,
}
