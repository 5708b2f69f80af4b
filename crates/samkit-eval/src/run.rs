//! The protocol loop: for every image, one embedding; for every instance and variant, up to
//! `max_clicks` simulated clicks, each followed by one decoder call with all clicks so far.
//!
//! The loop is generic over a [`Segmenter`] so the protocol can be tested with a fake model;
//! [`samkit_engine::SamModel`] implements it (see `sam.rs`).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::clicker::{next_click, Click, Target};
use crate::dataset::{load_labels, Dataset, Sample};
use crate::error::{EvalError, Result};
use crate::metrics::iou;

/// Errors a [`Segmenter`] may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the protocol needs from a model.
pub trait Segmenter {
    /// Per-image state computed once (SAM's image embedding).
    type Embedding;
    /// What a prediction hands back to the next one in the `prev` variant (SAM's
    /// low-resolution logits).
    type State;

    /// Encodes an image.
    fn embed(&self, image: &RgbImage) -> Result<Self::Embedding, BoxError>;

    /// Predicts a mask (row-major, original resolution) from all clicks so far and, in the
    /// `prev` variant from click 2 on, the previous prediction's state.
    fn predict(
        &self,
        embedding: &Self::Embedding,
        clicks: &[Click],
        prev: Option<&Self::State>,
    ) -> Result<Segmentation<Self::State>, BoxError>;
}

/// A prediction: the binary mask and the state to feed back.
#[derive(Debug, Clone)]
pub struct Segmentation<S> {
    pub mask: Vec<bool>,
    pub state: S,
}

/// How previous predictions are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// From click 2 on, the previous low-res logits go back in as the mask input (SAM's own
    /// interactive protocol).
    Prev,
    /// Clicks only, never a mask input.
    Nomask,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::Prev, Variant::Nomask];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Prev => "prev",
            Variant::Nomask => "nomask",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "prev" => Ok(Variant::Prev),
            "nomask" => Ok(Variant::Nomask),
            _ => Err(EvalError::Config(format!(
                "unknown variant '{s}': use prev or nomask"
            ))),
        }
    }
}

/// Protocol settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalConfig {
    /// Clicks per instance (20 in the literature).
    pub max_clicks: usize,
    /// Variants to run; they share each image's embedding.
    pub variants: Vec<Variant>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            max_clicks: 20,
            variants: Variant::ALL.to_vec(),
        }
    }
}

/// The outcome of one instance under one variant (also one line of the progress file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceResult {
    pub variant: Variant,
    pub name: String,
    /// The instance id (its grey value in the mask).
    pub instance: u32,
    #[serde(rename = "H")]
    pub height: u32,
    #[serde(rename = "W")]
    pub width: u32,
    /// `[y, x, positive]` per click, as in the reference files. Fewer than `max_clicks`
    /// when the clicker ran out of error pixels.
    pub clicks: Vec<[u32; 3]>,
    /// IoU after each click, always `max_clicks` long (the last IoU is carried forward after
    /// an early stop), rounded to 6 decimals as in the reference files.
    pub ious: Vec<f64>,
    /// Seconds the image's embedding took (shared by all instances and variants of it).
    pub encoder_s: f64,
    /// Seconds per decoder call.
    pub decoder_s: Vec<f64>,
}

/// Identifies a finished instance run (for `--resume`).
pub type RunKey = (String, u32, Variant);

impl InstanceResult {
    pub fn key(&self) -> RunKey {
        (self.name.clone(), self.instance, self.variant)
    }
}

/// Every run `evaluate` would do on `dataset`, in its order (image, instance, variant).
pub fn planned_runs(dataset: &Dataset, config: &EvalConfig) -> Vec<RunKey> {
    let mut keys = Vec::new();
    for s in &dataset.samples {
        for &id in &s.instances {
            for &v in &config.variants {
                keys.push((s.name.clone(), id, v));
            }
        }
    }
    keys
}

/// Rounds to 6 decimals, the precision of the reference files.
pub fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// What [`run_instance`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRun {
    pub clicks: Vec<Click>,
    /// IoU after each click, padded to `max_clicks`, unrounded.
    pub ious: Vec<f64>,
    /// Each decoder call's duration.
    pub times: Vec<Duration>,
}

/// Runs the protocol for one instance.
pub fn run_instance<S: Segmenter>(
    segmenter: &S,
    embedding: &S::Embedding,
    target: &Target<'_>,
    variant: Variant,
    max_clicks: usize,
) -> Result<InstanceRun, BoxError> {
    let n = target.width * target.height;
    let mut pred = vec![false; n];
    let mut clicks: Vec<Click> = Vec::with_capacity(max_clicks);
    let mut ious = Vec::with_capacity(max_clicks);
    let mut times = Vec::with_capacity(max_clicks);
    let mut state: Option<S::State> = None;
    while clicks.len() < max_clicks {
        let Some(click) = next_click(target, &pred, &clicks) else {
            break;
        };
        clicks.push(click);
        let prev = match variant {
            Variant::Prev => state.as_ref(),
            Variant::Nomask => None,
        };
        let start = Instant::now();
        let out = segmenter.predict(embedding, &clicks, prev)?;
        times.push(start.elapsed());
        if out.mask.len() != n {
            return Err(format!(
                "the segmenter returned a {}-pixel mask for a {}x{} image",
                out.mask.len(),
                target.width,
                target.height
            )
            .into());
        }
        pred = out.mask;
        state = Some(out.state);
        ious.push(iou(target.gt, &pred, target.ignore));
    }
    // Stopped early: nothing left to click, the prediction stays as it is.
    let last = ious.last().copied().unwrap_or(0.0);
    ious.resize(max_clicks, last);
    Ok(InstanceRun {
        clicks,
        ious,
        times,
    })
}

/// An indicatif bar with ETA for `len` instance runs (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} runs  ETA {eta}  {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Evaluates every instance of `dataset` under every variant of `config`, skipping the runs
/// in `done` (resume). Each image is embedded once, and only if some run on it is left.
/// `on_result` sees each result as soon as it exists (to append it to the progress file);
/// the results of this call are returned in order.
pub fn evaluate<S: Segmenter>(
    segmenter: &S,
    dataset: &Dataset,
    config: &EvalConfig,
    done: &HashSet<RunKey>,
    progress: &ProgressBar,
    mut on_result: impl FnMut(&InstanceResult) -> Result<()>,
) -> Result<Vec<InstanceResult>> {
    if config.max_clicks == 0 {
        return Err(EvalError::Config("--max-clicks must be at least 1".into()));
    }
    if config.variants.is_empty() {
        return Err(EvalError::Config("no variant to run".into()));
    }
    let mut results = Vec::new();
    for sample in &dataset.samples {
        let todo: Vec<(u32, Variant)> = sample
            .instances
            .iter()
            .flat_map(|&id| config.variants.iter().map(move |&v| (id, v)))
            .filter(|(id, v)| !done.contains(&(sample.name.clone(), *id, *v)))
            .collect();
        if todo.is_empty() {
            continue;
        }
        progress.set_message(sample.name.clone());
        let seg_err = |stage: &'static str| {
            let name = sample.name.clone();
            move |source: BoxError| EvalError::Segmenter {
                stage,
                name,
                source,
            }
        };
        let image = load_image(sample, dataset.budget)?;
        let labels = load_labels(sample, dataset.budget)?;
        let start = Instant::now();
        let embedding = segmenter.embed(&image).map_err(seg_err("encoder"))?;
        let encoder_s = start.elapsed().as_secs_f64();
        let mut current_id = None;
        let mut gt = Vec::new();
        for (id, variant) in todo {
            if current_id != Some(id) {
                gt = labels.instance(id);
                current_id = Some(id);
            }
            let target = Target {
                width: sample.width as usize,
                height: sample.height as usize,
                gt: &gt,
                ignore: &labels.ignore,
            };
            let InstanceRun {
                clicks,
                ious,
                times,
            } = run_instance(segmenter, &embedding, &target, variant, config.max_clicks)
                .map_err(seg_err("decoder"))?;
            let result = InstanceResult {
                variant,
                name: sample.name.clone(),
                instance: id,
                height: sample.height,
                width: sample.width,
                clicks: clicks
                    .iter()
                    .map(|c| [c.y, c.x, u32::from(c.positive)])
                    .collect(),
                ious: ious.into_iter().map(round6).collect(),
                encoder_s,
                decoder_s: times.iter().map(Duration::as_secs_f64).collect(),
            };
            on_result(&result)?;
            results.push(result);
            progress.inc(1);
        }
    }
    Ok(results)
}

fn load_image(sample: &Sample, budget: samkit_engine::PixelBudget) -> Result<RgbImage> {
    let image = samkit_engine::load_rgb_within(&sample.image, budget).map_err(|e| {
        EvalError::Segmenter {
            stage: "image loading",
            name: sample.name.clone(),
            source: Box::new(e),
        }
    })?;
    if image.dimensions() != (sample.width, sample.height) {
        return Err(EvalError::SizeMismatch {
            what: "mask",
            path: sample.mask.clone(),
            got_w: sample.width,
            got_h: sample.height,
            image: sample.image.clone(),
            want_w: image.width(),
            want_h: image.height(),
        });
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Predicts exactly the disc around each positive click of radius `r`, minus the same
    /// around negatives; counts calls and records whether a previous state came in.
    struct Discs {
        w: usize,
        h: usize,
        r: i64,
        saw_prev: std::cell::RefCell<Vec<bool>>,
    }

    impl Segmenter for Discs {
        type Embedding = ();
        type State = usize;
        fn embed(&self, _: &RgbImage) -> Result<(), BoxError> {
            Ok(())
        }
        fn predict(
            &self,
            _: &(),
            clicks: &[Click],
            prev: Option<&usize>,
        ) -> Result<Segmentation<usize>, BoxError> {
            self.saw_prev.borrow_mut().push(prev.is_some());
            let mut mask = vec![false; self.w * self.h];
            for c in clicks {
                for (i, m) in mask.iter_mut().enumerate() {
                    let (dx, dy) = (
                        (i % self.w) as i64 - c.x as i64,
                        (i / self.w) as i64 - c.y as i64,
                    );
                    if dx * dx + dy * dy <= self.r * self.r {
                        *m = c.positive;
                    }
                }
            }
            Ok(Segmentation {
                mask,
                state: clicks.len(),
            })
        }
    }

    #[test]
    fn prev_variant_feeds_state_from_click_two_and_pads_ious() {
        let (w, h) = (10, 10);
        let gt = vec![true; w * h];
        let ignore = vec![false; w * h];
        let t = Target {
            width: w,
            height: h,
            gt: &gt,
            ignore: &ignore,
        };
        let seg = Discs {
            w,
            h,
            r: 20,
            saw_prev: Default::default(),
        };
        let InstanceRun {
            clicks,
            ious,
            times,
        } = run_instance(&seg, &(), &t, Variant::Prev, 5).unwrap();
        // One click covers everything: IoU 1, nothing left, stop after one call.
        assert_eq!(clicks.len(), 1);
        assert_eq!(times.len(), 1);
        assert_eq!(ious, vec![1.0; 5]);
        assert_eq!(*seg.saw_prev.borrow(), vec![false]);

        let seg = Discs {
            w,
            h,
            r: 2,
            saw_prev: Default::default(),
        };
        let clicks = run_instance(&seg, &(), &t, Variant::Prev, 3)
            .unwrap()
            .clicks;
        assert_eq!(clicks.len(), 3);
        assert_eq!(*seg.saw_prev.borrow(), vec![false, true, true]);
        let seg = Discs {
            w,
            h,
            r: 2,
            saw_prev: Default::default(),
        };
        run_instance(&seg, &(), &t, Variant::Nomask, 3).unwrap();
        assert_eq!(*seg.saw_prev.borrow(), vec![false, false, false]);
    }

    #[test]
    fn variant_names_round_trip() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>().unwrap(), v);
        }
        assert!("both".parse::<Variant>().is_err());
        assert_eq!(round6(0.918_299_4), 0.918299);
    }
}
