//! `samkit`: the command-line entry point. Each subcommand lives in its own module and
//! only parses arguments, calls the libraries and reports; no domain logic lives here.

mod eval;
mod model_args;
mod models;
mod segment;
mod setup;

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
    /// Download and verify the default model and ONNX Runtime (done automatically when needed)
    Setup(setup::SetupArgs),
    /// Manage the model registry (add, list, remove)
    Models(models::ModelsArgs),
    /// Segment one object from clicks and/or a box; write the mask (and an overlay)
    Segment(segment::SegmentArgs),
    /// Measure click efficiency (NoC@85/90, mIoU@k) on a labelled image set
    Eval(eval::EvalArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup(args) => setup::run(args),
        Command::Models(args) => models::run(args),
        Command::Segment(args) => segment::run(args),
        Command::Eval(args) => eval::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
