//! `samkit setup`: download and verify the default model, ONNX Runtime and OpenVINO (once),
//! then load the model the way `auto` will and say what runs the encoder.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use samkit_assets::{Home, Progress, RuntimeSource, Status};

/// Download and verify the default model and the ONNX Runtime and OpenVINO libraries
#[derive(clap::Args, Debug)]
pub struct SetupArgs {
    /// Download again and replace the cached files, even if they verify
    #[arg(long)]
    pub force: bool,
    /// Use this ONNX Runtime library instead of downloading the pinned one
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Use this OpenVINO C library (libopenvino_c.so) instead of downloading the pinned one
    #[arg(long, value_name = "PATH")]
    pub openvino_lib: Option<PathBuf>,
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
        args.openvino_lib.as_deref(),
        &Progress::stderr(),
    )
    .context("setup failed")?;
    let encoder = encoder_choice(&report)?;
    let status = |s: Status| match s {
        Status::UpToDate => "up to date",
        Status::Downloaded => "downloaded",
    };
    if args.json {
        let v = serde_json::json!({
            "home": home.path(), "model": report.model.id,
            "encoder": report.model.encoder, "decoder": report.model.decoder,
            "ort_lib": report.ort_lib, "up_to_date": report.up_to_date(),
            "openvino_lib": report.openvino.as_ref().ok().map(|(p, _)| p),
            "openvino_error": report.openvino.as_ref().err(),
            "encoder_backend": encoder,
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
    match &report.openvino {
        Ok((path, source)) => {
            let how = match source {
                RuntimeSource::Flag => "from --openvino-lib, not downloaded",
                RuntimeSource::Env => "from SAMKIT_OPENVINO_LIB, not downloaded",
                RuntimeSource::Cache(s) => status(*s),
            };
            println!("openvino {} ({how})", path.display());
        }
        Err(e) => println!("openvino unavailable: {e}"),
    }
    println!(
        "encoder  {} {} (CPU bf16: {}; {})",
        encoder.backend, encoder.precision, encoder.cpu_bf16, encoder.reason
    );
    if let Some(notice) = &encoder.notice {
        println!("notice   {notice}");
    }
    if report.up_to_date() {
        println!("up to date ({} ms)", start.elapsed().as_millis());
    } else {
        println!("done ({:.1} s)", start.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Loads the default model as a command with `--encoder-backend auto` would, and returns
/// what runs its encoder.
fn encoder_choice(
    report: &samkit_assets::SetupReport,
) -> anyhow::Result<samkit_engine::EncoderInfo> {
    samkit_engine::init_runtime(&report.ort_lib)?;
    samkit_engine::offer_openvino(
        report
            .openvino
            .as_ref()
            .map(|(path, _)| path.as_path())
            .map_err(String::as_str),
    );
    let spec = samkit_engine::ModelSpec {
        id: report.model.id.clone(),
        encoder: report.model.encoder.clone(),
        decoder: report.model.decoder.clone(),
    };
    let opts = samkit_engine::EngineOptions {
        encoder: samkit_engine::EncoderBackend::Auto,
        ..Default::default()
    };
    let model =
        samkit_engine::SamModel::load(&spec, opts).context("the downloaded model does not load")?;
    Ok(model.encoder_info().clone())
}
