//! Helpers of the HTTP API tests: a project folder, an in-process server on
//! 127.0.0.1:0 with a real SQLite file, and the real model when a test needs it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use samkit_server::client::Client;
use samkit_server::{Config, ModelLoader, Server};

pub struct TestServer {
    pub addr: SocketAddr,
    pub client: Client,
    /// The database URL (`sqlite://…` or `postgres://…`).
    pub db: String,
    pub root: PathBuf,
    /// The one-person access token (the client sends it).
    pub token: String,
    pub task: tokio::task::JoinHandle<()>,
}

/// The default model (installed or fetched like `samkit setup`), as a loader.
pub fn model_loader() -> ModelLoader {
    let home = samkit_assets::Home::from_env().expect("samkit home");
    let assets = samkit_assets::ensure_default(&home, &samkit_assets::Progress::hidden())
        .expect("the default model and ONNX Runtime (run `samkit setup`)");
    let spec = samkit_engine::ModelSpec {
        id: assets.model.id.clone(),
        encoder: assets.model.encoder.clone(),
        decoder: assets.model.decoder.clone(),
    };
    samkit_server::engine_loader(
        assets.ort_lib,
        spec,
        samkit_engine::EngineOptions::default(),
    )
}

/// Writes a `w × h` RGB PNG with a bright square in the middle.
pub fn write_png(path: &Path, w: u32, h: u32) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        if x > w / 4 && x < 3 * w / 4 && y > h / 4 && y < 3 * h / 4 {
            image::Rgb([230, 40, 40])
        } else {
            image::Rgb([20, 20, 90])
        }
    });
    img.save(path).expect("write png");
}

/// Starts a server on `root` (database `root/.samkit/project.db`).
pub async fn start(root: &Path, model: Option<ModelLoader>, cache: &Path) -> TestServer {
    let mut cfg = Config::new(root);
    cfg.cache_dir = Some(cache.to_path_buf());
    start_with(cfg, model).await
}

/// Where a test server keeps its project.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// `root/.samkit/project.db`.
    Sqlite,
    /// A new database on the test PostgreSQL server.
    Postgres,
}

/// Starts a server on `root` with its project on `db`; `None` (the skip recorded) when
/// the PostgreSQL test server is not configured (see `samkit_testdata::postgres_database`).
#[allow(dead_code)]
pub async fn start_on(
    db: Db,
    root: &Path,
    model: Option<ModelLoader>,
    cache: &Path,
) -> Option<TestServer> {
    let mut cfg = Config::new(root);
    cfg.cache_dir = Some(cache.to_path_buf());
    if db == Db::Postgres {
        cfg.db = Some(samkit_testdata::postgres_database(
            "samkit-server API tests",
        )?);
    }
    Some(start_with(cfg, model).await)
}

/// Runs each named `async fn NAME(db: Db)` test on SQLite and on PostgreSQL
/// (`NAME::sqlite`, `NAME::postgres`).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::common::Db::Postgres).await
            }
        }
    )*};
}

/// Starts a server with `cfg` (its `root`, database at `root/.samkit/project.db`).
pub async fn start_with(cfg: Config, model: Option<ModelLoader>) -> TestServer {
    let root = cfg.root.clone();
    let root = root.as_path();
    let db = match &cfg.db {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}",
            std::fs::canonicalize(root)
                .unwrap()
                .join(".samkit/project.db")
                .display()
        ),
    };
    let server = Server::open(cfg, model).await.expect("open project");
    let token = server.local_token().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = server.serve(listener, std::future::pending()).await;
    });
    TestServer {
        addr,
        client: Client::new(addr).with_token(&token),
        token,
        db,
        root: root.to_path_buf(),
        task,
    }
}

/// Signs `name` in on `s` (`POST /api/login` with `"token": true`); the session token.
#[allow(dead_code)]
pub async fn session_token(s: &TestServer, name: &str, password: &str) -> String {
    let r = s
        .client
        .anonymous()
        .post(
            "/api/login",
            &serde_json::json!({"name": name, "password": password, "token": true}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_string()
}

/// Waits until the model is ready and every image is encoded.
pub async fn wait_all_encoded(c: &Client, secs: u64) {
    let t = std::time::Instant::now();
    loop {
        let e = c.get("/api/embeddings").await.unwrap().json();
        if e["model"]["state"] == "failed" {
            panic!("model failed: {e}");
        }
        if e["model"]["state"] == "ready" && e["ready"] == e["total"] {
            return;
        }
        assert!(
            t.elapsed().as_secs() < secs,
            "images not encoded in {secs} s: {e}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A full-image-size RLE (uncompressed) with one foreground run of `n` pixels at `start`.
pub fn rle(h: u32, w: u32, start: u32, n: u32) -> serde_json::Value {
    serde_json::json!({"size": [h, w], "counts": [start, n, h * w - start - n]})
}

/// The id of the image named `name` in a `GET /api/images` answer.
pub fn id_of(imgs: &serde_json::Value, name: &str) -> i64 {
    imgs["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed"))["id"]
        .as_i64()
        .unwrap()
}
