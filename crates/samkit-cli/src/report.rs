//! `samkit report`: agreement between annotators on the images given to several of them,
//! and each annotator's progress (a team project; see `samkit_server::report`).

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Project folder (as given to `samkit serve`)
    #[arg(value_name = "PROJECT")]
    pub project: PathBuf,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Database: a path, sqlite:///path or postgres://user:password@host/db (a team server) [default: PROJECT/.samkit/project.db]
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(async {
        let (store, pid) = samkit_server::open_project_store(&args.project, args.db.as_deref())
            .await
            .with_context(|| format!("cannot open the project {}", args.project.display()))?;
        let r = samkit_server::report::report(&store, pid)
            .await
            .map_err(|e| anyhow::anyhow!(e))
            .context("cannot build the report")?;
        store.close().await;
        anyhow::Ok(r)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", samkit_server::report::render_text(&report));
    }
    Ok(())
}
