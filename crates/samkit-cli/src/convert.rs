//! `samkit convert`: convert annotation files between formats (COCO, PNG, NumPy, YOLO, VOC).

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use samkit_formats::{ConvertOptions, Format, MaskFormat};
use std::path::PathBuf;

use crate::budget_args::BudgetArgs;

/// Convert annotations: COCO JSON or a YOLO-seg folder in; COCO, PNG, NumPy, YOLO or VOC out
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// COCO instances JSON file, or a YOLO-seg folder (labels/ + classes.txt or data.yaml)
    pub input: PathBuf,
    /// Output format: coco, png, numpy (npy), yolo, voc
    #[arg(long, value_parser = parse_format)]
    pub to: Format,
    /// Output file (COCO: a .json path, or a folder that receives annotations.json) or folder
    #[arg(long)]
    pub out: PathBuf,
    /// Images folder: image sizes for YOLO input, source pixels for PNG cut-outs
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Skip invalid annotations (and report them) instead of stopping at the first
    #[arg(long)]
    pub skip_invalid: bool,
    /// How COCO output stores masks: rle (exact) or polygon (simplified)
    #[arg(long, value_enum, default_value_t = MaskFormatArg::Rle)]
    pub mask_format: MaskFormatArg,
    /// Polygon simplification tolerance in pixels (COCO polygons, YOLO)
    #[arg(long, default_value_t = samkit_mask::DEFAULT_TOLERANCE)]
    pub tolerance: f64,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum MaskFormatArg {
    Rle,
    Polygon,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.tolerance.is_finite() && args.tolerance >= 0.0,
        "--tolerance must be a non-negative number of pixels"
    );
    let opts = ConvertOptions {
        skip_invalid: args.skip_invalid,
        mask_format: match args.mask_format {
            MaskFormatArg::Rle => MaskFormat::Rle,
            MaskFormatArg::Polygon => MaskFormat::Polygon,
        },
        tolerance: args.tolerance,
        budget: args.budget.budget(),
        ..ConvertOptions::default()
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report = samkit_formats::convert(
        &args.input,
        args.to,
        &args.out,
        args.images.as_deref(),
        &opts,
        &mut |p| {
            bar.set_message(p.stage.to_string());
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
        },
    );
    bar.finish_and_clear();
    let report = report.with_context(|| {
        format!(
            "converting {} to {} in {}",
            args.input.display(),
            args.to,
            args.out.display()
        )
    })?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    for skipped in &report.skipped {
        eprintln!("skipped: {skipped}");
    }
    let report_line = format!(
        "wrote {} instances of {} images to {}{}\n",
        report.instances,
        report.images,
        report.output.display(),
        if report.skipped.is_empty() {
            String::new()
        } else {
            format!(" ({} invalid items skipped)", report.skipped.len())
        }
    );
    crate::print_report(&report_line, [&args.out]);
    Ok(())
}
