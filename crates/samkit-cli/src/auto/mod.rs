//! `samkit auto`: segment everything in images and folders (segment-anything's
//! `SamAutomaticMaskGenerator`, in `samkit-auto`), one SAM JSON file per image.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use samkit_auto::{AutoParams, OutputMode, SamPointDecoder, Stage};

use crate::budget_args::BudgetArgs;
use crate::model_args::ModelArgs;

/// Image file extensions `auto` picks up in folders (the formats the engine decodes).
const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp"];

#[derive(clap::Args, Debug)]
pub struct AutoArgs {
    /// Images and/or folders (searched recursively for png, jpg, jpeg, tif, tiff, bmp, webp)
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// sam-json: output folder, OUT/<name>.json per image (folder inputs keep their
    /// sub-folders; with a single image, OUT may be the .json file itself).
    /// coco: the COCO file; per-image results are kept in OUT.parts/ for resuming
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    /// Output format: sam-json (SAM's list of records per image) or coco (one COCO
    /// instances file for all images, class-agnostic category, score = predicted IoU)
    #[arg(long, value_enum, default_value_t = Format::SamJson)]
    pub format: Format,
    /// How sam-json writes `segmentation`: coco_rle ({size, counts: string}),
    /// uncompressed_rle ({size, counts: [runs]}) or binary_mask (rows of booleans)
    #[arg(long, default_value = "coco_rle", value_parser = parse_output_mode)]
    pub output_mode: OutputMode,
    /// Also write DIR/<name>.png per image: the photo with every mask in its own colour
    #[arg(long, value_name = "DIR")]
    pub overlay: Option<PathBuf>,
    /// Redo images whose output already exists
    #[arg(long)]
    pub force: bool,
    /// Encode the whole image even when a cached embedding exists (crops are never cached)
    #[arg(long)]
    pub no_cache: bool,
    /// Points sampled along one side of the image (points_per_side**2 in all)
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub points_per_side: u32,
    /// Points decoded together (memory grows with it)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub points_per_batch: u32,
    /// Keep masks whose predicted IoU is above this
    #[arg(long, default_value_t = 0.88, value_parser = parse_finite)]
    pub pred_iou_thresh: f64,
    /// Keep masks whose stability score is at least this
    #[arg(long, default_value_t = 0.95, value_parser = parse_finite)]
    pub stability_score_thresh: f64,
    /// Logit offset of the stability score's two thresholds
    #[arg(long, default_value_t = 1.0, value_parser = parse_finite)]
    pub stability_score_offset: f64,
    /// Box IoU above which a duplicate mask of one crop is dropped
    #[arg(long, default_value_t = 0.7, value_parser = parse_finite)]
    pub box_nms_thresh: f64,
    /// Crop layers (layer i has 2^i × 2^i crops); 0 = the whole image only
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=4))]
    pub crop_n_layers: u32,
    /// Box IoU above which a duplicate mask between crops is dropped
    #[arg(long, default_value_t = 0.7, value_parser = parse_finite)]
    pub crop_nms_thresh: f64,
    /// Crop overlap as a fraction of the short side (default 512/1500 = 0.3413…)
    #[arg(long, default_value_t = 512.0 / 1500.0, value_parser = parse_ratio)]
    pub crop_overlap_ratio: f64,
    /// Points per side shrink by this factor in each crop layer
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub crop_n_points_downscale_factor: u32,
    /// Remove islands and fill holes smaller than this many pixels (0 = off)
    #[arg(long, default_value_t = 0)]
    pub min_mask_region_area: u64,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON list of SAM's records per image
    SamJson,
    /// One COCO instances file for all images
    Coco,
}

fn parse_output_mode(s: &str) -> Result<OutputMode, String> {
    s.parse()
}

fn parse_finite(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a finite number")),
    }
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match parse_finite(s)? {
        v if (0.0..=1.0).contains(&v) => Ok(v),
        v => Err(format!("{v} is outside 0..=1")),
    }
}

impl AutoArgs {
    fn params(&self) -> AutoParams {
        AutoParams {
            points_per_side: Some(self.points_per_side),
            points_per_batch: self.points_per_batch as usize,
            pred_iou_thresh: self.pred_iou_thresh,
            stability_score_thresh: self.stability_score_thresh,
            stability_score_offset: self.stability_score_offset,
            box_nms_thresh: self.box_nms_thresh,
            crop_n_layers: self.crop_n_layers,
            crop_nms_thresh: self.crop_nms_thresh,
            crop_overlap_ratio: self.crop_overlap_ratio,
            crop_n_points_downscale_factor: self.crop_n_points_downscale_factor,
            point_grids: None,
            min_mask_region_area: self.min_mask_region_area,
        }
    }
}

/// One image to do: where it is and where its output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Job {
    image: PathBuf,
    output: PathBuf,
    /// The image's path relative to its input folder (its COCO `file_name`).
    name: String,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Image files under `dir`, recursively, sorted; hidden entries and symlinked folders
/// (which could loop) are skipped.
fn images_under(dir: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read folder {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = e.path();
        let kind = e.file_type()?;
        if kind.is_dir() {
            images_under(&path, found)?;
        } else if is_image(&path) && (kind.is_file() || path.is_file()) {
            found.push(path);
        }
    }
    Ok(())
}

/// The jobs of the inputs: a file goes to OUT/<stem>.json (or OUT itself, for one image
/// and an OUT ending in .json); a folder's images to OUT/<path in the folder>.json.
/// Two images that would share an output are an error before any work.
fn plan(inputs: &[PathBuf], out: &Path) -> anyhow::Result<Vec<Job>> {
    let single_file = inputs.len() == 1 && inputs[0].is_file();
    if single_file
        && out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return Ok(vec![Job {
            image: inputs[0].clone(),
            output: out.to_path_buf(),
            name: inputs[0]
                .file_name()
                .unwrap_or(inputs[0].as_os_str())
                .to_string_lossy()
                .into_owned(),
        }]);
    }
    let mut jobs = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input)
            .with_context(|| format!("cannot read input {}", input.display()))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            images_under(input, &mut found)?;
            for image in found {
                let rel = image.strip_prefix(input).unwrap_or(&image);
                jobs.push(Job {
                    output: out.join(rel).with_extension("json"),
                    name: rel.to_string_lossy().into_owned(),
                    image,
                });
            }
        } else {
            let stem = input.file_stem().unwrap_or(input.as_os_str());
            jobs.push(Job {
                output: out.join(stem).with_extension("json"),
                name: input
                    .file_name()
                    .unwrap_or(input.as_os_str())
                    .to_string_lossy()
                    .into_owned(),
                image: input.clone(),
            });
        }
    }
    let mut seen: HashMap<&Path, &Path> = HashMap::new();
    for job in &jobs {
        if let Some(other) = seen.insert(&job.output, &job.image) {
            anyhow::bail!(
                "{} and {} would both be written to {}: rename one or run them with different --out",
                other.display(),
                job.image.display(),
                job.output.display()
            );
        }
    }
    Ok(jobs)
}

/// An output is complete when it is a JSON list (files are written atomically, so a
/// run cut short leaves none or the old one).
fn is_complete(output: &Path) -> bool {
    std::fs::read(output)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.is_array())
}

pub fn run(args: AutoArgs) -> anyhow::Result<()> {
    let params = args.params();
    params.point_grids().context("invalid parameters")?;
    let output_mode = match args.format {
        Format::SamJson => args.output_mode,
        Format::Coco => {
            anyhow::ensure!(
                args.output_mode == OutputMode::CocoRle,
                "--output-mode is for --format sam-json; COCO files hold RLE"
            );
            if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create folder {}", parent.display()))?;
            }
            samkit_outfile::check_writable(&args.out)
                .with_context(|| format!("cannot write {}", args.out.display()))?;
            OutputMode::CocoRle
        }
    };
    let parts = parts_dir(&args.out);
    let jobs = plan(
        &args.inputs,
        if args.format == Format::Coco {
            &parts
        } else {
            &args.out
        },
    )?;
    anyhow::ensure!(
        !jobs.is_empty(),
        "no images found in {} (looked for {})",
        args.inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        IMAGE_EXTENSIONS.join(", ")
    );
    let (todo, done): (Vec<Job>, Vec<Job>) = jobs
        .into_iter()
        .partition(|j| args.force || !is_complete(&j.output));
    if let Some(dir) = &args.overlay {
        for job in &done {
            let path = overlay_path(dir, job);
            if !path.exists() {
                if let Err(e) = overlay_from_output(job, &path, &args) {
                    eprintln!("warning: no overlay for {}: {e:#}", job.image.display());
                }
            }
        }
    }
    if todo.is_empty() {
        eprintln!(
            "all {} outputs are complete (use --force to redo them)",
            done.len()
        );
        if args.format == Format::Coco {
            write_coco(&done, &args)?;
        }
        return Ok(());
    }
    let loaded = args.model.load()?;
    let cache = (!args.no_cache).then_some(&loaded.cache);
    let decoder = SamPointDecoder::new(&loaded.model, cache);

    let bars = MultiProgress::new();
    let style = |t: &str| {
        ProgressStyle::with_template(t)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    };
    let images_bar = bars.add(ProgressBar::new(todo.len() as u64));
    images_bar.set_style(style("images [{bar:30}] {pos}/{len} ({eta}) {msg}"));
    let points_bar = bars.add(ProgressBar::new(0));
    points_bar.set_style(style("points [{bar:30}] {pos}/{len} {msg}"));

    let started = Instant::now();
    let (mut written, mut masks, mut failed) = (0usize, 0usize, Vec::new());
    for job in &todo {
        images_bar.set_message(job.image.display().to_string());
        points_bar.set_position(0);
        let result = run_one(job, &decoder, &params, &args, output_mode, &points_bar);
        match result {
            Ok(n) => {
                written += 1;
                masks += n;
            }
            Err(e) => {
                bars.suspend(|| eprintln!("warning: skipped {}: {e:#}", job.image.display()));
                failed.push(job.image.clone());
            }
        }
        images_bar.inc(1);
    }
    points_bar.finish_and_clear();
    images_bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let report = format!(
        "wrote {written} of {} images ({masks} masks, {:.2} s per image) to {}{}{}\n",
        todo.len(),
        if written > 0 {
            secs / written as f64
        } else {
            0.0
        },
        args.out.display(),
        if done.is_empty() {
            String::new()
        } else {
            format!("; {} already complete", done.len())
        },
        if failed.is_empty() {
            String::new()
        } else {
            format!("; {} failed", failed.len())
        },
    );
    let outputs: Vec<PathBuf> = match args.format {
        Format::SamJson => todo.iter().map(|j| j.output.clone()).collect(),
        Format::Coco => {
            let mut all: Vec<Job> = done.into_iter().chain(todo.iter().cloned()).collect();
            all.retain(|j| !failed.contains(&j.image));
            write_coco(&all, &args)?;
            vec![args.out.clone()]
        }
    };
    crate::print_report(&report, &outputs);
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {} images could not be segmented (warnings above); rerun to retry only those",
        failed.len(),
        todo.len()
    );
    Ok(())
}

/// Generates one image's masks and writes its file; returns the number of masks.
fn run_one(
    job: &Job,
    decoder: &SamPointDecoder,
    params: &AutoParams,
    args: &AutoArgs,
    output_mode: OutputMode,
    points_bar: &ProgressBar,
) -> anyhow::Result<usize> {
    let image = samkit_engine::load_rgb_within(&job.image, args.budget.budget())?;
    let data = samkit_auto::generate(decoder, &image, params, |stage| match stage {
        Stage::Crop { crop, crops } => {
            points_bar.set_message(format!("crop {}/{crops}", crop + 1));
        }
        Stage::Points { done, total } => {
            points_bar.set_length(total as u64);
            points_bar.set_position(done as u64);
        }
    })?;
    let records: Vec<_> = data
        .records
        .iter()
        .map(|r| r.to_sam_record(output_mode))
        .collect();
    let json = serde_json::to_vec(&records)?;
    if let Some(parent) = job.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    samkit_outfile::write_bytes(&job.output, &json)
        .with_context(|| format!("cannot write {}", job.output.display()))?;
    if let Some(dir) = &args.overlay {
        let masks: Vec<&samkit_mask::CocoRle> = data.records.iter().map(|r| &r.rle).collect();
        write_overlay(&image, &masks, &overlay_path(dir, job))?;
    }
    Ok(records.len())
}

/// DIR/<the image's path in its input, extension png>.
fn overlay_path(dir: &Path, job: &Job) -> PathBuf {
    dir.join(&job.name).with_extension("png")
}

fn write_overlay(
    image: &image::RgbImage,
    masks: &[&samkit_mask::CocoRle],
    path: &Path,
) -> anyhow::Result<()> {
    let picture = samkit_auto::overlay::render(image, masks);
    let mut png = Vec::new();
    picture.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    samkit_outfile::write_bytes(path, &png)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The overlay of an image done in an earlier run, from its output's RLEs.
fn overlay_from_output(job: &Job, path: &Path, args: &AutoArgs) -> anyhow::Result<()> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&job.output)?)?;
    let masks = values
        .into_iter()
        .map(|mut v| serde_json::from_value::<samkit_mask::CocoRle>(v["segmentation"].take()))
        .collect::<Result<Vec<_>, _>>()
        .context("its output holds no RLE (binary_mask output: rerun with --force)")?;
    let image = samkit_engine::load_rgb_within(&job.image, args.budget.budget())?;
    let refs: Vec<&samkit_mask::CocoRle> = masks.iter().collect();
    write_overlay(&image, &refs, path)
}

/// Where `--format coco` keeps each image's records between runs: `OUT.parts/`.
fn parts_dir(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".parts");
    PathBuf::from(name)
}

/// The COCO file of the images whose parts are complete, in plan order: image ids 1..,
/// one class-agnostic category, each record an instance scored by its predicted IoU with
/// its point as prompt.
fn write_coco(jobs: &[Job], args: &AutoArgs) -> anyhow::Result<()> {
    use samkit_formats::{AnnotationSet, Category, ImageInfo, Instance, PromptPoint, Prompts};
    /// One sam-json record's fields that COCO keeps.
    struct Part {
        segmentation: samkit_mask::CocoRle,
        predicted_iou: f32,
        point_coords: Vec<[f64; 2]>,
    }
    fn part(v: serde_json::Value) -> Option<Part> {
        let point_coords = v["point_coords"]
            .as_array()?
            .iter()
            .map(|p| Some([p[0].as_f64()?, p[1].as_f64()?]))
            .collect::<Option<Vec<_>>>()?;
        Some(Part {
            segmentation: serde_json::from_value(v["segmentation"].clone()).ok()?,
            predicted_iou: v["predicted_iou"].as_f64()? as f32,
            point_coords,
        })
    }
    let mut set = AnnotationSet {
        categories: vec![Category {
            id: 1,
            name: "object".into(),
            color: None,
            supercategory: None,
        }],
        ..Default::default()
    };
    for (k, job) in jobs.iter().enumerate() {
        let bytes = std::fs::read(&job.output)
            .with_context(|| format!("cannot read {}", job.output.display()))?;
        let not_records = || {
            format!(
                "{} is not SAM's records with COCO RLE (rerun with --force)",
                job.output.display()
            )
        };
        let values: Vec<serde_json::Value> =
            serde_json::from_slice(&bytes).with_context(not_records)?;
        let records: Vec<Part> = values
            .into_iter()
            .map(part)
            .collect::<Option<_>>()
            .with_context(not_records)?;
        let image_id = k as u64 + 1;
        let (width, height) = match records.first() {
            Some(r) => (r.segmentation.width(), r.segmentation.height()),
            None => {
                let img = samkit_engine::load_rgb_within(&job.image, args.budget.budget())?;
                img.dimensions()
            }
        };
        set.images.push(ImageInfo {
            id: image_id,
            file_name: job.name.clone(),
            width,
            height,
        });
        for r in records {
            set.instances.push(Instance {
                id: set.instances.len() as u64 + 1,
                image_id,
                category_id: 1,
                mask: r.segmentation,
                score: Some(r.predicted_iou),
                prompts: Prompts {
                    points: r
                        .point_coords
                        .iter()
                        .map(|p| PromptPoint {
                            x: p[0] as f32,
                            y: p[1] as f32,
                            label: 1,
                        })
                        .collect(),
                    bbox: None,
                },
                iscrowd: false,
            });
        }
    }
    samkit_formats::coco::export_coco(
        &set,
        &args.out,
        &samkit_formats::coco::CocoExportOptions::default(),
        &mut |_, _| {},
    )
    .with_context(|| format!("cannot write {}", args.out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn folders_keep_their_layout_and_one_image_may_name_its_file() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("in");
        touch(&root.join("b.png"));
        touch(&root.join("sub/a.JPG"));
        touch(&root.join("notes.txt"));
        touch(&root.join(".hidden/c.png"));
        let out = d.path().join("out");
        let jobs = plan(std::slice::from_ref(&root), &out).unwrap();
        assert_eq!(
            jobs,
            vec![
                Job {
                    image: root.join("b.png"),
                    output: out.join("b.json"),
                    name: "b.png".into(),
                },
                Job {
                    image: root.join("sub/a.JPG"),
                    output: out.join("sub/a.json"),
                    name: "sub/a.JPG".into(),
                },
            ]
        );
        let one = plan(&[root.join("b.png")], &d.path().join("x.json")).unwrap();
        assert_eq!(one[0].output, d.path().join("x.json"));
        let one = plan(&[root.join("b.png")], &out).unwrap();
        assert_eq!(one[0].output, out.join("b.json"));
    }

    #[test]
    fn two_images_for_one_output_are_refused_before_any_work() {
        let d = tempfile::tempdir().unwrap();
        touch(&d.path().join("a.png"));
        touch(&d.path().join("a.jpg"));
        let err = plan(&[d.path().to_path_buf()], &d.path().join("out"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("would both be written"), "{err}");
    }

    #[test]
    fn only_a_json_list_counts_as_complete() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("o.json");
        assert!(!is_complete(&p));
        std::fs::write(&p, b"[{\"area\": 1}").unwrap();
        assert!(!is_complete(&p));
        std::fs::write(&p, b"{}").unwrap();
        assert!(!is_complete(&p));
        std::fs::write(&p, b"[]").unwrap();
        assert!(is_complete(&p));
    }

    #[test]
    fn defaults_are_sams() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            auto: AutoArgs,
        }
        use clap::Parser;
        let cli = Cli::try_parse_from(["samkit", "img.png", "--out", "o"]).unwrap();
        assert_eq!(cli.auto.params(), AutoParams::default());
        assert_eq!(cli.auto.output_mode, OutputMode::CocoRle);
        assert!(
            Cli::try_parse_from(["samkit", "i", "--out", "o", "--points-per-side", "0"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["samkit", "i", "--out", "o", "--pred-iou-thresh", "nan"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["samkit", "i", "--out", "o", "--crop-overlap-ratio", "1.5"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from(["samkit", "i", "--out", "o", "--output-mode", "png"]).is_err()
        );
    }
}
