//! `samkit setup`: download and verify the default model and ONNX Runtime (once).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use samkit_assets::{Home, Progress, RuntimeSource, Status};

/// Download and verify the default model and the ONNX Runtime library
#[derive(clap::Args, Debug)]
pub struct SetupArgs {
    /// Download again and replace the cached files, even if they verify
    #[arg(long)]
    pub force: bool,
    /// Use this ONNX Runtime library instead of downloading the pinned one
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Print the resolved paths as JSON (for scripts)
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SetupArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let home = Home::from_env()?;
    let report = samkit_assets::setup(
        &home,
        args.force,
        args.ort_lib.as_deref(),
        &Progress::stderr(),
    )
    .context("setup failed")?;
    let status = |s: Status| match s {
        Status::UpToDate => "up to date",
        Status::Downloaded => "downloaded",
    };
    if args.json {
        let v = serde_json::json!({
            "home": home.path(), "model": report.model.id,
            "encoder": report.model.encoder, "decoder": report.model.decoder,
            "ort_lib": report.ort_lib, "up_to_date": report.up_to_date(),
        });
        println!("{v}");
        return Ok(());
    }
    println!("home     {}", home.path().display());
    println!(
        "model    {} ({})\n         encoder {}\n         decoder {}",
        report.model.id,
        status(report.model_status),
        report.model.encoder.display(),
        report.model.decoder.display()
    );
    let runtime = match report.runtime_source {
        RuntimeSource::Flag => "from --ort-lib, not downloaded",
        RuntimeSource::Env => "from ORT_DYLIB_PATH, not downloaded",
        RuntimeSource::Cache(s) => status(s),
    };
    println!("runtime  {} ({runtime})", report.ort_lib.display());
    if report.up_to_date() {
        println!("up to date ({} ms)", start.elapsed().as_millis());
    } else {
        println!("done ({:.1} s)", start.elapsed().as_secs_f64());
    }
    Ok(())
}
