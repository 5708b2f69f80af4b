//! An acknowledged instance survives `kill -9` of the server process: the test runs a
//! server in a child process (this test binary re-executed), posts instances, kills it
//! with SIGKILL, and checks the database.

mod common;

use std::process::{Command, Stdio};

use samkit_server::client::Client;
use serde_json::json;

/// Kills the child server if the test fails half-way.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const CHILD_ENV: &str = "SAMKIT_DURABILITY_CHILD_ROOT";
/// The child's one-person token, known to the parent.
const TOKEN: &str = "durability-test-token";

/// Not a test on its own: the server process of `kill_9_keeps_acknowledged_instances`.
#[test]
#[ignore = "child process of kill_9_keeps_acknowledged_instances"]
fn child_server() {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let cache = std::path::Path::new(&root).join(".cache");
        let mut cfg = samkit_server::Config::new(&root);
        cfg.cache_dir = Some(cache);
        cfg.local_token = Some(TOKEN.into());
        let server = samkit_server::Server::open(cfg, None).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // The address goes through a file: libtest may capture the child's stdout.
        let addr = listener.local_addr().unwrap().to_string();
        let tmp = std::path::Path::new(&root).join(".addr.tmp");
        std::fs::write(&tmp, addr).unwrap();
        std::fs::rename(&tmp, std::path::Path::new(&root).join(".addr")).unwrap();
        server
            .serve(listener, std::future::pending())
            .await
            .unwrap();
    });
}

#[tokio::test]
async fn kill_9_keeps_acknowledged_instances() {
    let dir = tempfile::tempdir().unwrap();
    common::write_png(&dir.path().join("a.png"), 64, 48);
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "child_server",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr_file = dir.path().join(".addr");
    let t = std::time::Instant::now();
    let addr: std::net::SocketAddr = loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            break a.trim().parse().unwrap();
        }
        if t.elapsed().as_secs() > 60 || child.0.try_wait().unwrap().is_some() {
            let _ = child.0.kill();
            panic!("the child server did not start");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let client = Client::new(addr).with_token(TOKEN).as_user("alice");
    let mut acked = Vec::new();
    for k in 0..30u32 {
        let body = json!({"rle": common::rle(48, 64, k * 10, 7 + k), "client_id": format!("k{k}")});
        let r = client.post("/api/images/1/instances", &body).await.unwrap();
        assert_eq!(r.status, 201);
        acked.push((r.json()["id"].as_i64().unwrap(), 7 + k));
    }
    // SIGKILL, no chance to flush anything.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let db = std::fs::canonicalize(dir.path())
        .unwrap()
        .join(".samkit/project.db");
    let store = samkit_store::Store::open_path(&db).await.unwrap();
    for (id, area) in &acked {
        let i = store
            .instance(*id)
            .await
            .expect("acknowledged instance survived kill -9");
        assert_eq!(i.area, i64::from(*area));
    }
    store.close().await;
    // And a restarted server shows them all.
    let cache = tempfile::tempdir().unwrap();
    let s = common::start(dir.path(), None, cache.path()).await;
    let list = s
        .client
        .get("/api/images/1/instances")
        .await
        .unwrap()
        .json();
    assert_eq!(list["instances"].as_array().unwrap().len(), acked.len());
}

/// A request cut off mid-body stores nothing and leaves the server healthy; a retry
/// with the same `client_id` after a lost answer creates no duplicate.
#[tokio::test]
async fn dropped_connections_neither_lose_nor_duplicate() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    common::write_png(&dir.path().join("a.png"), 64, 48);
    let cache = tempfile::tempdir().unwrap();
    let s = common::start(dir.path(), None, cache.path()).await;
    let body = json!({"rle": common::rle(48, 64, 5, 9), "client_id": "tab-1/42"}).to_string();
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /api/images/1/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body.as_bytes()[..body.len() / 2])
        .await
        .unwrap();
    drop(tcp);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let list = s
        .client
        .get("/api/images/1/instances")
        .await
        .unwrap()
        .json();
    assert!(list["instances"].as_array().unwrap().is_empty());
    // The full request, sent twice as a client does after losing the first answer.
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let a = s.client.post("/api/images/1/instances", &v).await.unwrap();
    let b = s.client.post("/api/images/1/instances", &v).await.unwrap();
    assert_eq!((a.status, b.status), (201, 200));
    assert_eq!(a.json()["id"], b.json()["id"]);
    let list = s
        .client
        .get("/api/images/1/instances")
        .await
        .unwrap()
        .json();
    assert_eq!(list["instances"].as_array().unwrap().len(), 1);
}
