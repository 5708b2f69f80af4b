//! `samkit auto`: segment everything in images and folders (segment-anything's
//! `SamAutomaticMaskGenerator`, in `samkit-auto`), one output per image: the job plan
//! ([`plan`]), the writers and completeness checks of each format ([`outputs`]), the
//! COCO file assembled from per-image parts ([`coco`]); here the flags and the loop.

mod coco;
mod outputs;
mod plan;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use samkit_auto::{AutoParams, OutputMode, SamPointDecoder, Stage};

use crate::budget_args::BudgetArgs;
use crate::model_args::ModelArgs;
use plan::{Job, IMAGE_EXTENSIONS};

#[derive(clap::Args, Debug)]
pub struct AutoArgs {
    /// Images and/or folders (searched recursively for png, jpg, jpeg, tif, tiff, bmp, webp)
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// sam-json, png, npz: output folder, OUT/<name>.json|.png|.npz per image (folder
    /// inputs keep their sub-folders; with a single image, OUT may be the output file
    /// itself). coco: the COCO file; per-image results are kept in OUT.parts/ for resuming
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    /// Output format: sam-json (SAM's list of records per image), coco (one COCO
    /// instances file for all images, class-agnostic category, score = predicted IoU),
    /// png (per image a 16-bit instance map, value k = the k-th record, 0 = background,
    /// where masks overlap the largest is painted first so smaller ones stay visible;
    /// plus <name>.csv with amg.py's metadata.csv columns, id = the pixel value; at most
    /// 65535 masks) or npz (per image masks bool (N,H,W), area, bbox XYWH,
    /// predicted_iou, point_coords, stability_score, crop_box XYWH)
    #[arg(long, value_enum, default_value_t = Format::SamJson)]
    pub format: Format,
    /// How sam-json writes `segmentation`: coco_rle ({size, counts: string}),
    /// uncompressed_rle ({size, counts: [runs]}) or binary_mask (rows of booleans)
    /// [default: coco_rle]; only with --format sam-json
    #[arg(long, value_parser = parse_output_mode)]
    pub output_mode: Option<OutputMode>,
    /// Also write DIR/<name>.png per image: the photo with every mask in its own colour
    /// (largest first). For an image already complete it is drawn from the output (for
    /// png, from the instance map: each mask's visible part)
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
    /// Full-resolution tiles as crops, so small objects of a large image are not shrunk
    /// away: auto = images whose longest side exceeds 2048 (unless --crop-n-layers is
    /// given), on, off (SAM's generator exactly)
    #[arg(long, value_enum, default_value_t = Tiles::Auto)]
    pub tiles: Tiles,
    /// Tile side in pixels
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(64..=4096))]
    pub tile_size: u32,
    /// Least overlap between neighbouring tiles, in pixels (less than the tile side)
    #[arg(long, default_value_t = 256)]
    pub tile_overlap: u32,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
    #[command(flatten)]
    pub read: crate::image_args::ImageReadArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tiles {
    Auto,
    On,
    Off,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON list of SAM's records per image
    SamJson,
    /// One COCO instances file for all images
    Coco,
    /// A 16-bit instance map and a CSV table per image
    Png,
    /// A NumPy .npz of masks and record fields per image
    Npz,
}

impl Format {
    /// The name `--format` takes.
    fn name(self) -> &'static str {
        match self {
            Format::SamJson => "sam-json",
            Format::Coco => "coco",
            Format::Png => "png",
            Format::Npz => "npz",
        }
    }

    /// The extension of a job's output file (coco's parts are sam-json).
    fn extension(self) -> &'static str {
        match self {
            Format::SamJson | Format::Coco => "json",
            Format::Png => "png",
            Format::Npz => "npz",
        }
    }
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
            tiles: match self.tiles {
                // Crop layers asked for: SAM's crops, not tiles.
                Tiles::Auto if self.crop_n_layers > 0 => samkit_auto::TileMode::Off,
                Tiles::Auto => samkit_auto::TileMode::Auto,
                Tiles::On => samkit_auto::TileMode::On,
                Tiles::Off => samkit_auto::TileMode::Off,
            },
            tiling: samkit_auto::Tiling {
                tile: self.tile_size,
                overlap: self.tile_overlap,
            },
        }
    }
}

pub fn run(args: AutoArgs) -> anyhow::Result<()> {
    let params = args.params();
    params.point_grids().context("invalid parameters")?;
    if args.tile_overlap >= args.tile_size {
        anyhow::bail!(
            "--tile-overlap {} is not smaller than --tile-size {}: give a smaller overlap",
            args.tile_overlap,
            args.tile_size
        );
    }
    let output_mode = match (args.format, args.output_mode) {
        (Format::SamJson, mode) => mode.unwrap_or_default(),
        (_, Some(_)) => anyhow::bail!(
            "--output-mode is for --format sam-json; {} files hold their masks their own way",
            args.format.name()
        ),
        (_, None) => OutputMode::CocoRle,
    };
    if args.format == Format::Coco {
        if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create folder {}", parent.display()))?;
        }
        samkit_outfile::check_writable(&args.out)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
    }
    let root = match args.format {
        Format::Coco => plan::parts_dir(&args.out),
        _ => args.out.clone(),
    };
    let jobs = plan::plan(&args.inputs, &root, args.format.extension())?;
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
    if let Some(dir) = &args.overlay {
        if let Some(job) = jobs.iter().find(|j| overlay_path(dir, j) == j.output) {
            anyhow::bail!(
                "--overlay {} would replace the output {}: give the overlays another folder",
                dir.display(),
                job.output.display()
            );
        }
    }
    let (todo, done): (Vec<Job>, Vec<Job>) = jobs
        .into_iter()
        .partition(|j| args.force || !outputs::is_complete(args.format, &j.output));
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
            coco::write_coco(&done, &args)?;
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
    let written_files: Vec<PathBuf> = match args.format {
        Format::Coco => {
            let mut all: Vec<Job> = done.into_iter().chain(todo.iter().cloned()).collect();
            all.retain(|j| !failed.contains(&j.image));
            coco::write_coco(&all, &args)?;
            vec![args.out.clone()]
        }
        format => todo
            .iter()
            .flat_map(|j| outputs::files(format, &j.output))
            .collect(),
    };
    crate::print_report(&report, &written_files);
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {} images could not be segmented (warnings above); rerun to retry only those",
        failed.len(),
        todo.len()
    );
    Ok(())
}

/// Generates one image's masks and writes its output; returns the number of masks.
fn run_one(
    job: &Job,
    decoder: &SamPointDecoder,
    params: &AutoParams,
    args: &AutoArgs,
    output_mode: OutputMode,
    points_bar: &ProgressBar,
) -> anyhow::Result<usize> {
    let image =
        samkit_engine::load_rgb_with(&job.image, args.budget.budget(), &args.read.options())?;
    let data = samkit_auto::generate(decoder, &image, params, |stage| match stage {
        Stage::Crop { crop, crops } => {
            points_bar.set_message(format!("crop {}/{crops}", crop + 1));
        }
        Stage::Points { done, total } => {
            points_bar.set_length(total as u64);
            points_bar.set_position(done as u64);
        }
    })?;
    outputs::write(
        args.format,
        &job.output,
        &data.records,
        image.dimensions(),
        output_mode,
    )?;
    if let Some(dir) = &args.overlay {
        let masks: Vec<&samkit_mask::CocoRle> = data.records.iter().map(|r| &r.rle).collect();
        write_overlay(&image, &masks, &overlay_path(dir, job))?;
    }
    Ok(data.records.len())
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

/// The overlay of an image done in an earlier run, from its output's masks.
fn overlay_from_output(job: &Job, path: &Path, args: &AutoArgs) -> anyhow::Result<()> {
    let masks = outputs::masks_of(args.format, &job.output, args.budget.budget())?;
    let image =
        samkit_engine::load_rgb_with(&job.image, args.budget.budget(), &args.read.options())?;
    let refs: Vec<&samkit_mask::CocoRle> = masks.iter().collect();
    write_overlay(&image, &refs, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sams() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            auto: AutoArgs,
        }
        use clap::Parser;
        let cli = Cli::try_parse_from(["samkit", "img.png", "--out", "o"]).unwrap();
        // SAM's, plus full-resolution tiles for images larger than 2048 px.
        assert_eq!(
            cli.auto.params(),
            AutoParams {
                tiles: samkit_auto::TileMode::Auto,
                ..AutoParams::default()
            }
        );
        let off = Cli::try_parse_from(["samkit", "i.png", "--out", "o", "--tiles", "off"]).unwrap();
        assert_eq!(off.auto.params(), AutoParams::default());
        let layers =
            Cli::try_parse_from(["samkit", "i.png", "--out", "o", "--crop-n-layers", "1"]).unwrap();
        assert_eq!(layers.auto.params().tiles, samkit_auto::TileMode::Off);
        assert_eq!(cli.auto.output_mode, None);
        assert_eq!(cli.auto.format, Format::SamJson);
        for format in [Format::SamJson, Format::Coco, Format::Png, Format::Npz] {
            use clap::ValueEnum;
            let value = format.to_possible_value().unwrap();
            assert_eq!(value.get_name(), format.name());
        }
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
