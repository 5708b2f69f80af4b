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

mod api;
pub mod client;
pub mod demo;
mod engine;
mod error;
pub mod export;
pub mod loadtest;
mod scan;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use samkit_store::Store;

pub use api::{router, sync_folder};
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
    /// Decoder sessions serving prompts concurrently (each a loaded model copy).
    pub decoders: usize,
}

impl Config {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Config {
            root: root.into(),
            db: None,
            cache_dir: None,
            prefetch: 8,
            decoders: std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
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
}

/// An opened project, ready to serve.
pub struct Server {
    state: Arc<AppState>,
}

/// Opens `db` (URL or path), creating the parent folder of a path.
async fn open_store(root: &Path, db: Option<&str>) -> Result<Store, ServerError> {
    match db {
        Some(url) if url.starts_with("sqlite:") => Ok(Store::open(url).await?),
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
        let engine = engine::Engine::new(
            store.clone(),
            project.id,
            root.clone(),
            cache_dir,
            cfg.prefetch,
            cfg.decoders,
            model.is_some(),
        );
        let state = Arc::new(AppState {
            store,
            project_id: project.id,
            root,
            engine,
            skipped: RwLock::new(Vec::new()),
        });
        api::rescan(&state).await.map_err(|e| ServerError::Root {
            path: cfg.root.clone(),
            source: std::io::Error::other(e.message),
        })?;
        state.engine.start(model);
        Ok(Server { state })
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The HTTP application.
    pub fn router(&self) -> axum::Router {
        api::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
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
