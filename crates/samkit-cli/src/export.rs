//! `samkit export` and `samkit import`: a `samkit serve` project's annotations to and
//! from the exchange formats, without starting the server.

use std::path::{Path, PathBuf};

use anyhow::Context;
use samkit_server::export::{self, ExportFilter, ExportFormat};

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Project folder (as given to `samkit serve`)
    #[arg(value_name = "PROJECT")]
    pub project: PathBuf,
    /// Format: coco, coco-polygons, png, npy, yolo, voc, nifti (label volumes of DICOM/NIfTI/TIFF
    /// stacks, one value per category), nifti-instances (one value per instance)
    #[arg(long, value_name = "FORMAT")]
    pub to: String,
    /// Output: a .json file for COCO, else a folder
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    /// Only images with this status (todo, in_progress, done, needs_review), or
    /// `approved`: images whose work a reviewer approved (the review workflow)
    #[arg(long)]
    pub status: Option<String>,
    /// Database: a path, sqlite:///path or postgres://user:password@host/db (a team server) [default: PROJECT/.samkit/project.db]
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Project folder (as given to `samkit serve`)
    #[arg(value_name = "PROJECT")]
    pub project: PathBuf,
    /// A COCO instances .json file, or a YOLO-seg folder (labels/ + classes.txt)
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Who the imported instances are attributed to
    #[arg(long, default_value = "import")]
    pub author: String,
    /// Database: a path, sqlite:///path or postgres://user:password@host/db (a team server) [default: PROJECT/.samkit/project.db]
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Opens a project's database and brings its image list up to date with the folder.
async fn open_synced(
    project: &Path,
    db: Option<&str>,
) -> anyhow::Result<(samkit_store::Store, i64, PathBuf)> {
    let (store, pid) = samkit_server::open_project_store(project, db)
        .await
        .with_context(|| format!("cannot open the project {}", project.display()))?;
    let root = std::fs::canonicalize(project)?;
    samkit_server::sync_folder(&store, pid, &root)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))
        .context("cannot scan the project folder")?;
    Ok((store, pid, root))
}

pub fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    let format: ExportFormat = args.to.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let filter = ExportFilter::new(args.status.as_deref(), true)?;
    let summary = runtime()?
        .block_on(export::export_project(
            &args.project,
            args.db.as_deref(),
            format,
            &filter,
            &args.out,
        ))
        .with_context(|| format!("cannot export to {}", args.out.display()))?;
    for n in &summary.notes {
        eprintln!("note: {n}");
    }
    let report = format!(
        "exported {} instance(s) of {} image(s) as {} to {} (dataset version: history entry {})\n",
        summary.instances,
        summary.images,
        summary.format,
        args.out.display(),
        summary.history_id
    );
    crate::print_report(&report, [&args.out]);
    Ok(())
}

pub fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let (store, pid, root) = open_synced(&args.project, args.db.as_deref()).await?;
        let (set, skipped) = if args.input.is_dir() {
            export::read_yolo(&export::yolo_root(&args.input), &root)
        } else {
            let bytes = std::fs::read(&args.input)
                .with_context(|| format!("cannot read {}", args.input.display()))?;
            export::read_coco(&bytes)
        }
        .with_context(|| format!("cannot import {}", args.input.display()))?;
        let report = export::import_set(&store, pid, &set, skipped, &args.author)
            .await
            .context("cannot store the imported annotations")?;
        for s in &report.skipped {
            eprintln!("skipped {}: {}", s.item, s.reason);
        }
        println!(
            "imported {} instance(s) into {} image(s); {} new categor{}; {} skipped",
            report.instances_added,
            report.images_matched,
            report.categories_added,
            if report.categories_added == 1 {
                "y"
            } else {
                "ies"
            },
            report.skipped.len()
        );
        store.close().await;
        Ok(())
    })
}
