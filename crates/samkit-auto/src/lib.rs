//! Segment everything: segment-anything v1.0's `SamAutomaticMaskGenerator`
//! (`automatic_mask_generator.py`) and its helpers (`utils/amg.py`), ported stage by
//! stage, one module per concern as the original:
//!
//! * [`grid`] — the point grids of each crop layer (`build_point_grid`,
//!   `build_all_layer_point_grids`);
//! * [`crops`] — crop boxes, uncropping and the crop-edge filter; full-resolution tiles
//!   of a large image used as crops (samkit's addition, off by default: [`TileMode`]);
//! * [`mask_data`] — the batch of mask records (`MaskData`), masks kept as COCO RLE
//!   once filtered, plus `batched_mask_to_box`, the stability score and the records;
//! * [`nms`] — torchvision's `nms` / `batched_nms` on the CPU, tie order included;
//! * [`boxes`] — masks for boxes (`samkit masks-from-boxes`);
//! * [`overlay`] — a picture of every mask in its own colour;
//! * [`instance_map`] — every mask of an image in one 16-bit map, painted in the
//!   overlay's order (largest first);
//! * [`generator`] — the pipeline ([`generate`]) over any [`PointDecoder`]; the real
//!   one is [`SamPointDecoder`] (the native batched decoder of `samkit-engine`).
//!
//! Where the original is ambiguous or depends on its platform, the choice is written
//! at the place it is made (module docs of [`nms`] and [`generator`]).

pub mod boxes;
pub mod crops;
pub mod generator;
pub mod grid;
pub mod instance_map;
pub mod mask_data;
pub mod nms;
pub mod overlay;

pub use crops::{CropBox, TileMode, Tiling, LARGE_IMAGE_SIDE};
pub use generator::{
    generate, multimask_outputs, postprocess_small_regions, AutoParams, PointDecoder, Proposal,
    SamPointDecoder, Stage,
};
pub use mask_data::{MaskData, MaskRecord, OutputMode, SamRecord, Segmentation};

/// What can go wrong generating masks.
#[derive(Debug, thiserror::Error)]
pub enum AutoError {
    /// A parameter SAM would reject (an assertion, a division by zero) or that makes
    /// no sense; the message names it and the accepted range.
    #[error("invalid parameter: {0}")]
    Param(String),
    #[error(transparent)]
    Engine(#[from] samkit_engine::EngineError),
    #[error(transparent)]
    Mask(#[from] samkit_mask::MaskError),
    /// The decoder did not give the three multimask outputs of a point.
    #[error("{0}")]
    Decoder(String),
    /// Masks that do not fit an instance map (too many, or not the image's size).
    #[error("{0}")]
    InstanceMap(String),
    /// The caller asked to stop (the web app's job was cancelled or replaced).
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T> = std::result::Result<T, AutoError>;
