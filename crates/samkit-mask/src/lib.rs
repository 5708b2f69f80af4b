//! `samkit-mask`: binary masks and their exchange representations, independent of the
//! SAM engine.
//!
//! * [`Mask`] — a `width × height` binary mask, one byte per pixel (0/1), row-major.
//!   Byte-per-pixel was chosen over bit-packing because every consumer (image I/O,
//!   connected components, RLE, per-pixel IoU) wants random byte access; an
//!   8000×8000 mask is 64 MB, practical in memory, and [`CocoRle`] is the compact form
//!   for storage and transport. Pixel counts are limited to `u32::MAX` (COCO RLE runs
//!   are 32-bit). Contours and region removal use a 4-byte-per-pixel label map
//!   (≈ 0.5 s each on an 8000×8000 mask on a CI core).
//! * [`CocoRle`] — COCO run-length encoding, bit-exact with pycocotools (column-major,
//!   first run background; compressed `counts` strings as `rleToString`).
//! * [`Polygons`] — pixel-exact contours with holes and multiple parts, optional
//!   Douglas–Peucker simplification, rasterisation with COCO `frPoly` semantics.
//! * [`PixelBudget`] — the most pixels an image or mask read from a file may declare;
//!   every reader checks the declared size against it before allocating.
//! * [`stability_score`] and [`remove_small_regions`] — SAM's post-processing, as in
//!   segment-anything's `amg.py`.
//!
//! Nothing here panics on user input: constructors validate and return [`MaskError`].

mod budget;
mod error;
mod mask;
mod polygon;
mod regions;
mod rle;
mod rle_fast;
mod stability;

pub use budget::PixelBudget;
pub use error::MaskError;
pub use mask::{BBox, Mask};
pub use polygon::{polygon_iou_loss, PolygonPart, Polygons, DEFAULT_TOLERANCE};
pub use regions::{remove_small_regions, RegionMode};
pub use rle::CocoRle;
pub use stability::stability_score;
