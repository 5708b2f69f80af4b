//! `samkit-server`: the web annotation app behind `samkit serve`.
//!
//! An [`axum`] server over one project (a folder of images, its database in
//! `samkit-store`): the JSON API documented in `docs/API.md` under `/api/`, and the
//! browser UI (every file of `ui/`, embedded at build time) at `/`.
//!
//! * Startup is immediate: the folder is scanned (headers and hashes only), the server
//!   listens, and the model loads in the background ([`ModelLoader`]).
//! * A background worker encodes images ahead of the annotator (the image being viewed,
//!   then the next ones in list order) into the on-disk embedding cache, so prompts only
//!   pay the decoder (≈60 ms) and a reopened project never re-encodes.
//! * Every write is committed before it is acknowledged; updates carry the version
//!   they read and stale ones get HTTP 409 with who changed the row and when.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = samkit_server::Config::new("photos");
//! let server = samkit_server::Server::open(cfg, None).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! server.serve(listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod access;
mod api;
pub mod auth;
mod auto_jobs;
pub mod client;
mod crops;
pub mod demo;
mod encode_queue;
mod engine;
mod error;
pub mod export;
pub mod guard;
pub mod loadtest;
pub mod report;
mod scan;
pub mod scope;
mod source;
pub mod upload;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use samkit_store::Store;

pub use api::{check_request_body, check_yolo_upload, router, sync_folder};
pub use engine::{EmbedState, ModelLoader, ModelState};
pub use error::ApiError;
pub use export::{ExportFilter, ExportFormat, ImportReport};
pub use scan::{Skipped, IMAGE_EXTENSIONS};

/// How to open a project.
#[derive(Debug, Clone)]
pub struct Config {
    /// The project folder (its images, recursively).
    pub root: PathBuf,
    /// Database: a `sqlite:` URL or a file path. Default: `<root>/.samkit/project.db`.
    pub db: Option<String>,
    /// Embedding cache folder (the samkit home's `embeddings/`). Default:
    /// `<root>/.samkit/embeddings`.
    pub cache_dir: Option<PathBuf>,
    /// How many images after the one being viewed are encoded ahead.
    pub prefetch: usize,
    /// Decoder sessions serving prompts concurrently (decoder-only sessions; the
    /// encoder is loaded once).
    pub decoders: usize,
    /// Extra names the `Host` header may carry (`--allow-host`), besides the loopback
    /// names and the listening address: `name` or `name:port`.
    pub allowed_hosts: Vec<String>,
    /// List and serve images whose symbolic links lead outside the project folder.
    pub follow_symlinks: bool,
    /// Images declaring more pixels are skipped by the scan (with the reason) and never
    /// decoded (`--max-pixels`).
    pub max_pixels: samkit_engine::PixelBudget,
    /// A connection must send a request's whole header within this time, including the
    /// next request on an idle keep-alive connection; else it is closed.
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long is refused (connection closed).
    pub body_read_timeout: Duration,
    /// Zoom-in refinement on images larger than the model's view (`--no-zoom`: `None`).
    pub zoom: Option<samkit_engine::zoom::ZoomConfig>,
    /// The one-person access token (valid while the project has no users); `None`: a
    /// random one, made at start ([`Server::local_token`]).
    pub local_token: Option<String>,
    /// How long a log-in lasts.
    pub session_ttl: Duration,
}

impl Config {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Config {
            root: root.into(),
            db: None,
            cache_dir: None,
            prefetch: 8,
            decoders: std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
            allowed_hosts: Vec::new(),
            follow_symlinks: false,
            max_pixels: samkit_engine::PixelBudget::DEFAULT,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            zoom: Some(samkit_engine::zoom::ZoomConfig::default()),
            local_token: None,
            session_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("the project folder {path} cannot be used")]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] samkit_store::StoreError),
    #[error("cannot create {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Shared state of the request handlers.
pub struct AppState {
    pub store: Store,
    pub project_id: i64,
    pub root: PathBuf,
    pub(crate) engine: Arc<engine::Engine>,
    pub(crate) skipped: RwLock<Vec<Skipped>>,
    pub follow_symlinks: bool,
    pub budget: samkit_engine::PixelBudget,
    pub(crate) auto_jobs: auto_jobs::AutoJobs,
    /// The window chosen per volume file (DICOM, NIfTI, TIFF stack).
    pub(crate) windows: source::Windows,
    /// Zoom-in refinement on images larger than the model's view; `None`: off.
    pub(crate) zoom: Option<samkit_engine::zoom::ZoomConfig>,
    /// Sessions and the one-person token (log-in failures are counted in the store).
    pub(crate) auth: auth::Auth,
}

/// An opened project, ready to serve.
pub struct Server {
    state: Arc<AppState>,
    allowed_hosts: Vec<String>,
    header_read_timeout: Duration,
    body_read_timeout: Duration,
}

/// Opens `db` (a path, a `sqlite:` URL or a `postgres://` URL), creating the parent
/// folder of a path.
async fn open_store(root: &Path, db: Option<&str>) -> Result<Store, ServerError> {
    match db {
        Some(url) if url.starts_with("sqlite:") || samkit_store::is_postgres_url(url) => {
            Ok(Store::open(url).await?)
        }
        other => {
            let path = other
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(".samkit").join("project.db"));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| ServerError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            Ok(Store::open_path(&path).await?)
        }
    }
}

impl Server {
    /// Opens or creates the project of `cfg.root`, scans the folder and starts loading
    /// the model (`None`: no model; predictions answer 503). Must run inside a Tokio
    /// runtime.
    pub async fn open(cfg: Config, model: Option<ModelLoader>) -> Result<Server, ServerError> {
        let root = std::fs::canonicalize(&cfg.root).map_err(|source| ServerError::Root {
            path: cfg.root.clone(),
            source,
        })?;
        if !root.is_dir() {
            return Err(ServerError::Root {
                path: cfg.root.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
            });
        }
        let store = open_store(&root, cfg.db.as_deref()).await?;
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".into());
        let project = store
            .ensure_project(&name, &root.to_string_lossy(), "samkit")
            .await?;
        let cache_dir = cfg
            .cache_dir
            .clone()
            .unwrap_or_else(|| root.join(".samkit").join("embeddings"));
        let windows = source::Windows::from_rows(&store.volume_windows(project.id).await?);
        let engine = engine::Engine::new(
            store.clone(),
            project.id,
            root.clone(),
            windows.clone(),
            cache_dir,
            cfg.prefetch,
            cfg.decoders,
            cfg.max_pixels,
            model.is_some(),
        );
        let state = Arc::new(AppState {
            store,
            project_id: project.id,
            root,
            engine,
            skipped: RwLock::new(Vec::new()),
            follow_symlinks: cfg.follow_symlinks,
            budget: cfg.max_pixels,
            auto_jobs: auto_jobs::AutoJobs::default(),
            windows,
            zoom: cfg.zoom,
            auth: auth::Auth::new(cfg.local_token.clone(), cfg.session_ttl),
        });
        api::rescan(&state).await.map_err(|e| ServerError::Root {
            path: cfg.root.clone(),
            source: std::io::Error::other(e.message),
        })?;
        state.engine.start(model);
        Ok(Server {
            state,
            allowed_hosts: cfg.allowed_hosts,
            header_read_timeout: cfg.header_read_timeout,
            body_read_timeout: cfg.body_read_timeout,
        })
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The one-person access token: `samkit serve` prints the address that carries it
    /// (`/?token=…`); it signs in only while the project has no users.
    pub fn local_token(&self) -> &str {
        &self.state.auth.local_token
    }

    /// The HTTP application as served on `local`: the routes behind the request checks
    /// of [`guard`] (Host, origin, content type), the body read timeout and the security
    /// headers.
    pub fn router(&self, local: SocketAddr) -> axum::Router {
        let policy = Arc::new(guard::HostPolicy::new(local, &self.allowed_hosts));
        let mut app = api::router(self.state.clone())
            .layer(axum::Extension(auth::CookieName::for_port(local.port())))
            .layer(axum::middleware::from_fn_with_state(policy, guard::check))
            .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
                self.body_read_timeout,
            ));
        for (name, value) in guard::security_headers() {
            app = app.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
                name, value,
            ));
        }
        app
    }

    /// Serves on `listener` until `shutdown` completes, then lets open requests finish.
    /// Each connection must send a request header within the header timeout (also
    /// between requests on a kept-alive connection), so idle or half-sent connections
    /// do not hold the server's resources.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use hyper_util::rt::{TokioIo, TokioTimer};
        let app = self.router(listener.local_addr()?);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            // The client's address, for the log-in limiter.
            let app = tower::ServiceExt::map_request(
                app.clone(),
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req
                },
            );
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn = http.serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("connection ended: {e}");
                }
            });
        }
        drop(listener);
        // A segment-everything job holds a blocking thread for up to a minute: stop it at
        // its next batch so the runtime's shutdown does not wait for it.
        self.state.auto_jobs.cancel_all();
        let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
        Ok(())
    }
}

/// Makes the process's allocator give large blocks back to the system when they are
/// freed. Call it at startup, before threads are spawned (`samkit serve` does).
///
/// glibc raises its mmap threshold after the first large free (up to 32 MiB), so the
/// encoder's working tensors (hundreds of MB per image, allocated on whichever blocking
/// thread encodes) then come from per-thread heaps that keep them after every run: the
/// server sat at ~470 MB before its first prompt. A fixed 1 MiB threshold keeps such
/// blocks in their own mappings, returned on free (measured: 147 MB; same decode time).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before the
    // server's threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// A [`ModelLoader`] that initialises ONNX Runtime from `ort_lib` and loads `spec`.
pub fn engine_loader(
    ort_lib: PathBuf,
    spec: samkit_engine::ModelSpec,
    opts: samkit_engine::EngineOptions,
) -> ModelLoader {
    Arc::new(move || {
        samkit_engine::init_runtime(&ort_lib).map_err(|e| e.to_string())?;
        samkit_engine::SamModel::load(&spec, opts)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    })
}

/// Opens the database of the project at `root` (default location unless `db`) without
/// serving: for `samkit export` / `samkit import`.
pub async fn open_project_store(
    root: &Path,
    db: Option<&str>,
) -> Result<(Store, i64), ServerError> {
    let root = std::fs::canonicalize(root).map_err(|source| ServerError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    let store = open_store(&root, db).await?;
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".into());
    let project = store
        .ensure_project(&name, &root.to_string_lossy(), "samkit")
        .await?;
    Ok((store, project.id))
}
