//! samkit-eval: measures the click efficiency of a SAM model on any labelled image set, with
//! the standard simulated-click protocol of RITM, FocalClick, SimpleClick and the SAM
//! evaluations (`samkit eval`).
//!
//! - [`dataset`]: pairs `--images` with `--masks` (and optional `--ignore` maps) by base
//!   name; one instance per non-zero mask value; checks everything before the model runs.
//! - [`clicker`]: the next click, from the exact EDT ([`edt`]) of the error maps.
//! - [`run`]: the protocol loop over a [`Segmenter`] (SAM via [`samkit_engine::SamModel`], or a
//!   fake in tests), variants `prev` (previous low-res logits fed back) and `nomask`.
//! - [`sam`]: the model as a segmenter, keeping at each click the candidate a [`Strategy`]
//!   chooses (`sam`: the shipped decoder's rule; `best-iou`: the highest predicted IoU of
//!   all four outputs, [`SamSegmenter`]).
//! - [`metrics`] and [`report`]: IoU over non-ignored pixels, NoC@85/90, mIoU@k, never-reach
//!   counts, timings; text tables and a `summary.json`-like document.
//! - [`output`]: the JSON files and the append-only progress file behind `--resume`.
//! - [`plot`]: mean IoU against clicks as a PNG.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use samkit_eval::*;
//! # let model: samkit_engine::SamModel = unimplemented!();
//! let dataset = Dataset::scan(&DatasetPaths {
//!     images: "grabcut/images".into(),
//!     masks: "grabcut/masks".into(),
//!     ignore: Some("grabcut/ignore".into()),
//! })?;
//! let config = EvalConfig::default(); // 20 clicks, both variants
//! let bar = indicatif::ProgressBar::hidden();
//! let results = evaluate(&model, &dataset, &config, &Default::default(), &bar, |_| Ok(()))?;
//! print!("{}", Summary::new(&results, config.max_clicks).table());
//! # Ok(()) }
//! ```
//!
//! This crate must not fetch models or runtimes (that is `samkit-assets`), nor parse command
//! lines (that is `samkit-cli`).

pub mod clicker;
pub mod dataset;
pub mod edt;
mod error;
pub mod flip;
pub mod metrics;
pub mod output;
pub mod plot;
pub mod report;
pub mod run;
pub mod sam;
pub mod zoom;

pub use clicker::{next_click, Click, Target};
pub use dataset::{Dataset, DatasetPaths, Sample, Skipped};
pub use error::{EvalError, Result};
pub use flip::FlipSegmenter;
pub use output::{OutputPaths, ProgressLog, RunHeader};
pub use plot::{plot_miou, Curve};
pub use report::{per_image_table, Summary, VariantSummary};
pub use run::{
    evaluate, planned_runs, progress_bar, BoxError, EvalConfig, InstanceResult, RunKey,
    Segmentation, Segmenter, Variant,
};
pub use sam::{point, SamSegmenter, Strategy};
pub use zoom::{ZoomConfig, ZoomSegmenter};
