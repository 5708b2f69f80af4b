//! `samkit serve` and `samkit demo`: open a folder of images as an annotation project and
//! serve the web app (see `docs/API.md`). The model loads in the background, so the page
//! is up at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use samkit_assets::Home;

use crate::model_args::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Project folder: its images (recursively) are the ones annotated [default: .]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Database: a path, sqlite:///path or postgres://user:password@host/db (a team server) [default: DIR/.samkit/project.db]
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(clap::Args, Debug)]
pub struct NetArgs {
    /// Port to listen on (0: any free port)
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on; other machines can connect only if this is not loopback
    /// (see SECURITY.md: give a team accounts with `samkit users add` first)
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Another name this server is reached by (a reverse proxy's or a machine's DNS
    /// name), `NAME` or `NAME:PORT`; requests naming any other host are refused, which
    /// stops DNS-rebinding attacks. Repeatable
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// List and serve images whose symbolic links lead outside the project folder
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Serve without loading the model (annotation review, export; no predictions)
    #[arg(long)]
    pub no_model: bool,
    /// How many images after the one being viewed are encoded ahead
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub prefetch: usize,
    /// Decoder sessions for concurrent prompts (each loads the decoder once more, not
    /// the encoder) [default: 2, or 1 on a single core]
    #[arg(long, value_name = "N")]
    pub decoders: Option<usize>,
    /// Never decode refinement clicks on a zoomed-in crop (by default a click after the
    /// first, on an image larger than the model's 1024-px view, is decoded on a crop
    /// around the mask at full resolution; the web app can also turn it off per user)
    #[arg(long)]
    pub no_zoom: bool,
    #[command(flatten)]
    pub budget: crate::budget_args::BudgetArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub net: NetArgs,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    serve(dir, args.db, args.net, None)
}

pub fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    let home = Home::from_env()?;
    let dir = home.path().join("demo");
    let written = samkit_server::demo::write_samples(&dir)
        .with_context(|| format!("cannot write the demo images into {}", dir.display()))?;
    eprintln!(
        "demo project: {} ({} sample image(s){})",
        dir.display(),
        samkit_server::demo::sample_names().len(),
        if written > 0 { ", copied now" } else { "" }
    );
    serve(dir, None, args.net, Some("demo"))
}

fn serve(
    dir: PathBuf,
    db: Option<String>,
    net: NetArgs,
    label: Option<&str>,
) -> anyhow::Result<()> {
    init_logging();
    samkit_server::tune_allocator();
    let home = Home::from_env()?;
    let mut cfg = samkit_server::Config::new(&dir);
    cfg.db = db;
    cfg.cache_dir = Some(home.path().join("embeddings"));
    cfg.prefetch = net.prefetch;
    cfg.allowed_hosts = net.allow_host.clone();
    if net.host.parse::<std::net::IpAddr>().is_err() {
        // `--host NAME`: the browser will send that name.
        cfg.allowed_hosts.push(net.host.clone());
    }
    cfg.follow_symlinks = net.follow_symlinks;
    cfg.max_pixels = net.budget.budget();
    if net.no_zoom {
        cfg.zoom = None;
    }
    if let Some(k) = net.decoders {
        cfg.decoders = k.clamp(1, 16);
    }
    let loader: Option<samkit_server::ModelLoader> = if net.no_model {
        None
    } else {
        let margs = net.model.clone();
        // The server logs a decoder fallback itself, with its other model messages.
        Some(Arc::new(move || {
            margs
                .load_quietly()
                .map(|m| Arc::new(m.model))
                .map_err(|e| format!("{e:#}"))
        }))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let addr: SocketAddr = format!("{}:{}", net.host, net.port)
            .parse()
            .or_else(|_| {
                std::net::ToSocketAddrs::to_socket_addrs(&(net.host.as_str(), net.port))
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or(())
            })
            .map_err(|_| anyhow::anyhow!("--host {:?} is not an address to listen on", net.host))?;
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (is the port in use? pick another with --port, or --port 0)")
        })?;
        let server = samkit_server::Server::open(cfg, loader)
            .await
            .with_context(|| format!("cannot open the project {}", dir.display()))?;
        let local = listener.local_addr()?;
        let host = if local.ip().is_unspecified() { "127.0.0.1".to_string() } else { local.ip().to_string() };
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let skipped = server.state().store.counts(server.state().project_id).await?;
        eprintln!(
            "samkit {}: {} image(s) in {}",
            label.unwrap_or("serve"),
            skipped.images,
            server.state().root.display()
        );
        let users = server.state().store.user_count().await?;
        if users == 0 {
            // One person's project: the address carries the token that signs the browser
            // in, so pages of other sites cannot use the server.
            println!(
                "open http://{host}:{}/?token={} in your browser (Ctrl-C to stop)",
                local.port(),
                server.local_token()
            );
        } else {
            println!(
                "open http://{host}:{}/ in your browser and sign in ({users} user(s); Ctrl-C to stop)",
                local.port()
            );
        }
        server
            .serve(listener, shutdown_signal())
            .await
            .context("the server stopped with an error")
    })
}

/// Ctrl-C, or SIGTERM on Unix (what service managers and test harnesses send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SAMKIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("samkit_server=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
