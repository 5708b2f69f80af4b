//! `samkit`: the command-line entry point. Each subcommand lives in its own module and
//! only parses arguments, calls the libraries and reports; no domain logic lives here.
//!
//! Exit codes: 0 success; 2 usage errors (clap's convention: unknown flags, bad or
//! out-of-range values, missing arguments); 1 every other error, printed as one
//! `error: …` line.

mod auto;
mod bench;
mod bench_auto;
mod bench_encoders;
mod budget_args;
mod convert;
mod eval;
mod export;
mod image_args;
mod masks_from_boxes;
mod model_args;
mod models;
mod report;
mod segment;
mod serve;
mod setup;
mod users;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "samkit",
    version,
    about = "Segment Anything masks: click, refine, export"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Annotate a folder of images in the browser (web app on http://127.0.0.1:8000/)
    Serve(serve::ServeArgs),
    /// Try the web app on bundled sample photos
    Demo(serve::DemoArgs),
    /// Export a `samkit serve` project's annotations (COCO, PNG, NumPy, YOLO, VOC)
    Export(export::ExportArgs),
    /// Import COCO or YOLO-seg annotations into a `samkit serve` project
    Import(export::ImportArgs),
    /// Manage the accounts of a team project (add, list, set-role, disable, reset-password)
    Users(users::UsersArgs),
    /// Agreement between annotators (overlapping images) and each annotator's progress
    Report(report::ReportArgs),
    /// Download and verify the default model and ONNX Runtime (done automatically when needed)
    Setup(setup::SetupArgs),
    /// Manage the model registry (add, list, remove)
    Models(models::ModelsArgs),
    /// Segment one object from clicks and/or a box; write the mask (and an overlay)
    Segment(segment::SegmentArgs),
    /// Segment everything: SAM's automatic mask generator on images and folders
    Auto(auto::AutoArgs),
    /// A mask inside every box of a COCO file or a YOLO detection folder (boxes from a detector or an older dataset)
    MasksFromBoxes(masks_from_boxes::MasksFromBoxesArgs),
    /// Measure encoder and decoder latency (median of N runs after warm-up)
    Bench(bench::BenchArgs),
    /// Measure click efficiency (NoC@85/90, mIoU@k) on a labelled image set
    Eval(eval::EvalArgs),
    /// Convert annotation files between formats (COCO, YOLO-seg in; COCO, PNG, NumPy, YOLO, VOC out)
    Convert(convert::ConvertArgs),
}

/// Prints a command's report on stdout, or on stderr when one of its `outputs` is
/// stdout itself (`--out /dev/stdout`), so the report never mixes with the data.
fn print_report<'a>(report: &str, outputs: impl IntoIterator<Item = &'a std::path::PathBuf>) {
    if outputs.into_iter().any(|p| samkit_outfile::is_stdout(p)) {
        eprint!("{report}");
    } else {
        print!("{report}");
    }
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => serve::run_demo(args),
        Command::Export(args) => export::run_export(args),
        Command::Import(args) => export::run_import(args),
        Command::Users(args) => users::run(args),
        Command::Report(args) => report::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Models(args) => models::run(args),
        Command::Segment(args) => segment::run(args),
        Command::Auto(args) => auto::run(args),
        Command::MasksFromBoxes(args) => masks_from_boxes::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Convert(args) => convert::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
