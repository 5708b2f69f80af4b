//! `samkit models`: the model registry (add, list, remove).

use std::path::{Path, PathBuf};

use anyhow::Context;
use samkit_assets::{Home, ModelFiles, Progress, Registry, ValidationError};

/// Manage the models available to --model
#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ModelsCommand {
    /// Register an encoder/decoder pair under a name (checked by loading it)
    Add {
        /// Name to use with --model
        name: String,
        /// Encoder ONNX file
        #[arg(long, value_name = "PATH")]
        encoder: PathBuf,
        /// Decoder ONNX file
        #[arg(long, value_name = "PATH")]
        decoder: PathBuf,
        /// Replace an existing model of that name
        #[arg(long)]
        force: bool,
        /// ONNX Runtime library used to check the model (else $ORT_DYLIB_PATH, else the pinned download)
        #[arg(long, value_name = "PATH")]
        ort_lib: Option<PathBuf>,
    },
    /// List the built-in and registered models
    List,
    /// Unregister a model (its files are not deleted)
    Remove {
        /// Name of the model
        name: String,
    },
}

pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    let mut registry = Registry::load(&home)?;
    match args.command {
        ModelsCommand::Add {
            name,
            encoder,
            decoder,
            force,
            ort_lib,
        } => {
            let model = registry
                .add(&name, &encoder, &decoder, force, |files| {
                    validate_with_engine(&home, ort_lib.as_deref(), files)
                })
                .with_context(|| format!("cannot add model `{name}`"))?;
            println!(
                "added {} (id {})\n  encoder {}\n  decoder {}",
                model.name,
                model.id(),
                model.encoder.path.display(),
                model.decoder.path.display()
            );
        }
        ModelsCommand::List => {
            for row in registry.list() {
                let kind = if row.builtin {
                    "built-in"
                } else {
                    "registered"
                };
                println!("{}\t{}\t{kind}\t{}", row.name, row.id, row.status);
                println!("  encoder {}", row.encoder.display());
                println!("  decoder {}", row.decoder.display());
            }
        }
        ModelsCommand::Remove { name } => {
            let removed = registry
                .remove(&name)
                .with_context(|| format!("cannot remove model `{name}`"))?;
            println!("removed {} (files left in place)", removed.name);
        }
    }
    Ok(())
}

/// Loads the pair with the engine, which checks the graphs' input/output names and shapes.
fn validate_with_engine(
    home: &Home,
    ort_lib: Option<&Path>,
    files: &ModelFiles,
) -> Result<(), ValidationError> {
    // TODO(lead): switch to a dedicated samkit_engine validation entry point if one is added.
    let lib = samkit_assets::ensure_runtime(home, ort_lib, &Progress::stderr())?;
    samkit_engine::init_runtime(&lib)?;
    let spec = samkit_engine::ModelSpec {
        id: files.id.clone(),
        encoder: files.encoder.clone(),
        decoder: files.decoder.clone(),
    };
    let model = samkit_engine::SamModel::load(&spec, samkit_engine::EngineOptions::default())?;
    // Still a valid model; say now that it will decode on ONNX Runtime.
    if let Some(notice) = model.decoder().notice() {
        eprintln!("warning: {notice}");
    }
    Ok(())
}
