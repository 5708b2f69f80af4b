//! `samkit eval`: click efficiency (NoC@85/90, mIoU@k) of a model on a labelled image set,
//! with the standard simulated-click protocol. All the work is in `samkit-eval`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use samkit_eval::{
    evaluate, per_image_table, planned_runs, plot_miou, progress_bar, Curve, Dataset, DatasetPaths,
    EvalConfig, FlipSegmenter, InstanceResult, OutputPaths, ProgressLog, RunHeader, RunKey,
    SamSegmenter, Strategy, Summary, Variant, ZoomConfig, ZoomSegmenter,
};
use serde_json::{json, Map, Value};

use crate::budget_args::BudgetArgs;
use crate::model_args::ModelArgs;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantArg {
    /// Feed the previous low-res logits back as the mask input (SAM's interactive protocol)
    Prev,
    /// Clicks only
    Nomask,
    /// Both, sharing each image's embedding
    Both,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyArg {
    /// The shipped decoder's rule: best of the 3 multimask masks for one click, the
    /// single-mask output after
    Sam,
    /// The highest predicted IoU among all 4 masks at every click (native decoder)
    BestIou,
    /// SAM's rule, decoded with and without the previous logits from click 2 on; the
    /// higher predicted IoU wins (native decoder)
    PrevOrFresh,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Self {
        match s {
            StrategyArg::Sam => Strategy::Sam,
            StrategyArg::BestIou => Strategy::BestIou,
            StrategyArg::PrevOrFresh => Strategy::PrevOrFresh,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Folder of images (png, jpg, jpeg, bmp, tif, tiff, webp), paired with masks by base name
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// Folder of masks NAME.png: 0 = background, each other grey value = one object
    #[arg(long, value_name = "DIR")]
    pub masks: PathBuf,
    /// Folder of ignore maps NAME.png: non-zero pixels count neither for IoU nor for clicks
    #[arg(long, value_name = "DIR")]
    pub ignore: Option<PathBuf>,
    /// Clicks per object
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_clicks: u32,
    /// Protocol variant
    #[arg(long, value_enum, default_value_t = VariantArg::Both)]
    pub variant: VariantArg,
    /// Which candidate mask each click keeps (and feeds back in `prev`)
    #[arg(long, value_enum, default_value_t = StrategyArg::Sam)]
    pub strategy: StrategyArg,
    /// Zoom-in refinement (RITM's ZoomIn): from --zoom-from-click on, decode on a crop
    /// around the mask and the clicks, encoded at the model's full input size (prev
    /// variant only)
    #[arg(long)]
    pub zoom_in: bool,
    /// Zoom-in: the crop's sides are the region's times this
    #[arg(long, value_name = "F", default_value_t = 1.4, requires = "zoom_in",
          value_parser = parse_expand)]
    pub zoom_expand: f64,
    /// Zoom-in: the crop's sides are at least this many pixels
    #[arg(long, value_name = "PX", default_value_t = 200, requires = "zoom_in")]
    pub zoom_min_size: u32,
    /// Zoom-in: the first click decoded on a crop
    #[arg(long, value_name = "K", default_value_t = 2, requires = "zoom_in",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub zoom_from_click: u32,
    /// Zoom-in: decode on the crop only when it shows more than G times the image's pixels
    /// the whole view does (0: always, as RITM; 1: only where the whole view lost pixels)
    #[arg(long, value_name = "G", default_value_t = 1.0, requires = "zoom_in",
          value_parser = parse_min_gain)]
    pub zoom_min_gain: f64,
    /// Horizontal-flip test-time augmentation (RITM's AddHorizontalFlip): every click is
    /// decoded on the image and its mirror image and the logits averaged (one more encoder
    /// pass per image, two decoder passes per click; strategy sam, no zoom-in)
    #[arg(long, conflicts_with = "zoom_in")]
    pub flip: bool,
    /// Write the summary here, and OUT.clicks_<variant>.json and OUT.progress.jsonl beside it
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// Plot mean IoU against clicks to this PNG
    #[arg(long, value_name = "OUT.png")]
    pub plot: Option<PathBuf>,
    /// Add the curves of an earlier run's summary (--json output) to the plot (repeatable)
    #[arg(long, value_name = "SUMMARY.json", requires = "plot")]
    pub compare: Vec<PathBuf>,
    /// Continue an interrupted run from OUT.progress.jsonl (needs --json)
    #[arg(long, requires = "json")]
    pub resume: bool,
    /// Evaluate only the first N images (in name order)
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print only the overall table, not one row per image
    #[arg(long)]
    pub brief: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

fn parse_expand(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (1.0..=10.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a factor between 1 and 10")),
    }
}

fn parse_min_gain(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a gain between 0 and 100")),
    }
}

/// Fails before any model work when `path` cannot be written.
fn check_folder(path: &Path) -> anyhow::Result<()> {
    Ok(samkit_outfile::check_writable(path)?)
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// How a curve label names the candidate strategy: not at all for the default one.
fn strategy_suffix(strategy: &str) -> String {
    if strategy == Strategy::Sam.name() {
        String::new()
    } else {
        format!(" {strategy}")
    }
}

/// Curves of an earlier run's summary, labelled "<model> <variant>" (and its strategy when
/// it was not `sam`, and "zoom-in" when it zoomed in).
fn curves_from(path: &Path) -> anyhow::Result<Vec<Curve>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let model = doc["model"].as_str().unwrap_or("?");
    let mut strategy = strategy_suffix(doc["strategy"].as_str().unwrap_or("sam"));
    if doc["zoom"].is_object() {
        strategy.push_str(" zoom-in");
    }
    if doc["flip"] == true {
        strategy.push_str(" flip");
    }
    let Some(variants) = doc["variants"].as_object() else {
        bail!(
            "{} is not a `samkit eval --json` summary (no variants)",
            path.display()
        );
    };
    let mut curves = Vec::new();
    for (name, v) in variants {
        let Some(curve) = v["mIoU_curve"].as_array() else {
            bail!("{}: variant {name} has no mIoU_curve", path.display());
        };
        let miou = curve.iter().filter_map(Value::as_f64).collect();
        curves.push(Curve {
            label: format!("{model} {name}{strategy}"),
            miou,
        });
    }
    Ok(curves)
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let zoom = args.zoom_in.then_some(ZoomConfig {
        expand: args.zoom_expand,
        min_size: args.zoom_min_size,
        from_click: args.zoom_from_click as usize,
        min_gain: args.zoom_min_gain,
    });
    let variants = match (args.variant, zoom) {
        (VariantArg::Nomask, Some(_)) => bail!(
            "--zoom-in refines the previous prediction on a crop, so it runs the prev variant only: drop --variant nomask"
        ),
        (VariantArg::Prev, _) | (VariantArg::Both, Some(_)) => vec![Variant::Prev],
        (VariantArg::Nomask, None) => vec![Variant::Nomask],
        (VariantArg::Both, None) => Variant::ALL.to_vec(),
    };
    let config = EvalConfig {
        max_clicks: args.max_clicks as usize,
        variants,
    };
    let paths = DatasetPaths {
        images: args.images.clone(),
        masks: args.masks.clone(),
        ignore: args.ignore.clone(),
    };

    // Everything that can fail without the model fails first.
    let mut dataset = Dataset::scan_within(&paths, args.budget.budget())?;
    for s in &dataset.skipped {
        let what = s
            .instance
            .map_or(String::new(), |id| format!(" object {id}"));
        eprintln!(
            "skipped {}{what} ({}): {}",
            s.name,
            s.path.display(),
            s.reason
        );
    }
    if let Some(n) = args.limit {
        dataset.truncate(n);
    }
    if dataset.samples.is_empty() {
        return Err(samkit_eval::EvalError::NothingToEvaluate.into());
    }
    for p in args.json.iter().chain(&args.plot) {
        check_folder(p)?;
    }
    let mut compare = Vec::new();
    for p in &args.compare {
        compare.extend(curves_from(p)?);
    }

    // The eval default is one ONNX Runtime thread per core (the engine's default is 1).
    let mut model_args = args.model.clone();
    model_args.threads.get_or_insert(0);
    let loaded = model_args.load()?;
    let model = &loaded.model;
    let strategy = Strategy::from(args.strategy);
    if args.flip && strategy != Strategy::Sam {
        bail!("--flip averages SAM's own selection on the image and its mirror: use it with --strategy sam");
    }
    let segmenter = SamSegmenter::new(model, strategy)?;

    let header = RunHeader {
        samkit_eval_progress: RunHeader::VERSION,
        model: model.id().to_string(),
        max_clicks: config.max_clicks,
        images: absolute(&paths.images),
        masks: absolute(&paths.masks),
        ignore: paths.ignore.as_deref().map(absolute),
        strategy,
        zoom,
        flip: args.flip,
    };
    let planned: Vec<RunKey> = planned_runs(&dataset, &config);
    let planned_set: HashSet<RunKey> = planned.iter().cloned().collect();
    let outputs = args.json.as_deref().map(OutputPaths::for_json);
    let (mut log, previous) = match &outputs {
        Some(o) => {
            let (log, prev) = ProgressLog::open(&o.progress, &header, args.resume)?;
            (Some(log), prev)
        }
        None => (None, Vec::new()),
    };
    let previous: Vec<InstanceResult> = previous
        .into_iter()
        .filter(|r| planned_set.contains(&r.key()))
        .collect();
    let done: HashSet<RunKey> = previous.iter().map(InstanceResult::key).collect();
    if !done.is_empty() {
        eprintln!(
            "resuming: {} of {} runs already done",
            done.len(),
            planned.len()
        );
    }

    let bar = progress_bar(planned.len() as u64);
    bar.set_position(done.len() as u64);
    bar.reset_eta();
    let mut on_result = |r: &InstanceResult| match log.as_mut() {
        Some(log) => log.append(r),
        None => Ok(()),
    };
    let (fresh, crop_passes) = match zoom {
        Some(z) => {
            let zoomed = ZoomSegmenter::new(segmenter, z);
            let fresh = evaluate(&zoomed, &dataset, &config, &done, &bar, &mut on_result)?;
            (fresh, Some(zoomed.encoder_passes()))
        }
        None if args.flip => (
            evaluate(
                &FlipSegmenter::new(model),
                &dataset,
                &config,
                &done,
                &bar,
                &mut on_result,
            )?,
            None,
        ),
        None => (
            evaluate(&segmenter, &dataset, &config, &done, &bar, &mut on_result)?,
            None,
        ),
    };
    // Crop encoder passes per object of the objects this invocation ran (none when a
    // resumed run had nothing left to do).
    let passes_per_object = crop_passes
        .filter(|_| !fresh.is_empty())
        .map(|n| n as f64 / fresh.len() as f64);
    bar.finish_and_clear();

    // All results in dataset order.
    let order: HashMap<&RunKey, usize> = planned.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let mut results = previous;
    results.extend(fresh);
    results.sort_by_key(|r| order.get(&r.key()).copied().unwrap_or(usize::MAX));

    let summary = Summary::new(&results, config.max_clicks);
    if !args.brief {
        println!("{}", per_image_table(&results, config.max_clicks));
    }
    print!("{}", summary.table());
    let zoom_note = match (zoom, passes_per_object) {
        (Some(z), Some(p)) => format!(
            ", zoom-in (expand {}, min {} px, from click {}, min gain {}; {:.2} encoder passes per object: the image and {p:.2} crops{})",
            z.expand, z.min_size, z.from_click, z.min_gain, 1.0 + p,
            if done.is_empty() { "" } else { ", over the objects run now" }
        ),
        (Some(z), None) => format!(
            ", zoom-in (expand {}, min {} px, from click {}, min gain {}; no object run now, so no encoder passes counted)",
            z.expand, z.min_size, z.from_click, z.min_gain
        ),
        _ => String::new(),
    };
    println!(
        "{} images, {} objects, model {}, {} decoder, strategy {strategy}{zoom_note}{}, {:.1} s",
        summary.images,
        dataset.instance_count(),
        model.id(),
        model.decoder().backend(),
        if args.flip {
            ", flip (2 encoder passes per image)"
        } else {
            ""
        },
        started.elapsed().as_secs_f64()
    );

    if let Some(o) = &outputs {
        let mut extra = Map::new();
        extra.insert("model".into(), json!(model.id()));
        extra.insert(
            "decoder".into(),
            json!(model.decoder().backend().to_string()),
        );
        extra.insert("strategy".into(), json!(strategy));
        if args.flip {
            extra.insert("flip".into(), json!(true));
        }
        if let Some(z) = zoom {
            extra.insert(
                "zoom".into(),
                json!({"expand": z.expand, "min_size": z.min_size, "from_click": z.from_click, "min_gain": z.min_gain,
                       "crop_encoder_passes_per_object": passes_per_object}),
            );
        }
        extra.insert("images_dir".into(), json!(header.images));
        extra.insert("masks_dir".into(), json!(header.masks));
        extra.insert("ignore_dir".into(), json!(header.ignore));
        extra.insert(
            "band".into(),
            json!(if header.ignore.is_some() {
                "ignore"
            } else {
                "none"
            }),
        );
        let threads = match model_args.threads {
            Some(0) | None => std::thread::available_parallelism().map_or(0, |n| n.get()),
            Some(n) => n,
        };
        extra.insert("threads".into(), json!(threads));
        extra.insert(
            "skipped".into(),
            json!(dataset
                .skipped
                .iter()
                .map(|s| json!({"name": s.name, "instance": s.instance, "reason": s.reason}))
                .collect::<Vec<_>>()),
        );
        samkit_eval::output::write_json(&o.summary, &summary.to_json(extra))?;
        for &v in &config.variants {
            samkit_eval::output::write_clicks(&o.clicks(v), &results, v)?;
        }
        println!(
            "wrote {} (+ clicks and progress files beside it)",
            o.summary.display()
        );
    }
    if let Some(path) = &args.plot {
        let mut suffix = strategy_suffix(strategy.name());
        if zoom.is_some() {
            suffix.push_str(" zoom-in");
        }
        if args.flip {
            suffix.push_str(" flip");
        }
        let mut curves: Vec<Curve> = summary
            .variants
            .iter()
            .map(|v| Curve {
                label: if compare.is_empty() {
                    format!("{}{suffix}", v.variant.name())
                } else {
                    format!("{} {}{suffix}", model.id(), v.variant.name())
                },
                miou: v.miou.clone(),
            })
            .collect();
        curves.extend(compare);
        let set = args.masks.parent().and_then(Path::file_name).map_or_else(
            || args.masks.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        plot_miou(
            path,
            &format!("{set}: mean IoU vs clicks ({})", model.id()),
            &curves,
        )?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_curves_come_from_a_summary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"model": "m1", "variants": {"prev": {"mIoU_curve": [0.5, 0.9]}}}"#,
        )
        .unwrap();
        let curves = curves_from(&path).unwrap();
        assert_eq!(curves.len(), 1);
        assert_eq!(curves[0].label, "m1 prev");
        assert_eq!(curves[0].miou, vec![0.5, 0.9]);
        std::fs::write(
            &path,
            r#"{"model": "m1", "strategy": "best-iou", "variants": {"prev": {"mIoU_curve": [0.5]}}}"#,
        )
        .unwrap();
        assert_eq!(curves_from(&path).unwrap()[0].label, "m1 prev best-iou");
        std::fs::write(
            &path,
            r#"{"model": "m1", "zoom": {"expand": 1.4}, "variants": {"prev": {"mIoU_curve": [0.5]}}}"#,
        )
        .unwrap();
        assert_eq!(curves_from(&path).unwrap()[0].label, "m1 prev zoom-in");
        std::fs::write(&path, r#"{"model": "m1"}"#).unwrap();
        assert!(curves_from(&path)
            .unwrap_err()
            .to_string()
            .contains("not a `samkit eval"));
        assert!(curves_from(&dir.path().join("none.json")).is_err());
    }

    #[test]
    fn output_folders_are_checked_first() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_folder(&dir.path().join("out.json")).is_ok());
        assert!(check_folder(&dir.path().join("no/out.json")).is_err());
        assert!(check_folder(dir.path()).is_err());
    }
}
