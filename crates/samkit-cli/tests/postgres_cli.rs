//! A team project on PostgreSQL from the command line (issue 11): `samkit users add`,
//! two `samkit serve` processes on different ports sharing the database, and `samkit
//! export` reading what was made through them.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use samkit_server::client::Client;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_samkit");

/// A server process, killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `samkit serve --no-model --port 0 DIR --db URL`; returns it and its address.
fn serve(
    dir: &Path,
    url: &str,
) -> (
    Serve,
    std::net::SocketAddr,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = Command::new(BIN)
        .args(["serve", "--no-model", "--port", "0", "--db", url])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let server = Serve(child);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // "open http://127.0.0.1:PORT/ in your browser and sign in (…)"
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    assert!(line.contains("sign in"), "{line}");
    // The pipe stays open (returned): a closed one would fail the server's next print.
    (server, addr, out)
}

#[test]
fn two_serve_processes_share_a_postgres_project() {
    let Some(url) = samkit_testdata::postgres_database("samkit-cli on PostgreSQL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    image::RgbImage::from_pixel(40, 30, image::Rgb([20, 20, 90]))
        .save(dir.path().join("a.png"))
        .unwrap();

    let mut add = Command::new(BIN)
        .args([
            "users",
            "add",
            "ada",
            "--role",
            "admin",
            "--password-file",
            "-",
        ])
        .args(["--db", &url, "--project"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "admin password").unwrap();
    let o = add.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !dir.path().join(".samkit/project.db").exists(),
        "nothing is written to a SQLite file"
    );

    let (_one, addr1, _out1) = serve(dir.path(), &url);
    let (_two, addr2, _out2) = serve(dir.path(), &url);
    assert_ne!(addr1, addr2);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = Client::new(addr1)
            .post(
                "/api/login",
                &json!({"name": "ada", "password": "admin password", "token": true}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let token = r.json()["token"].as_str().unwrap().to_string();
        let (one, two) = (
            Client::new(addr1).with_token(&token),
            Client::new(addr2).with_token(&token),
        );
        // 40×30 image, 50 pixels from pixel 100 (column-major RLE).
        let mask = json!({"size": [30, 40], "counts": [100, 50, 1050]});
        let r = one
            .post(
                "/api/images/1/instances",
                &json!({"rle": mask, "prompts": {}}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let id = r.json()["id"].as_i64().unwrap();
        let seen = two.get("/api/images/1/instances").await.unwrap().json();
        assert_eq!(seen["instances"][0]["id"].as_i64(), Some(id), "{seen}");
        let z = |v: i64, z: i64| json!({"version": v, "z": z});
        let path = format!("/api/instances/{id}");
        assert_eq!(two.patch(&path, &z(1, 5)).await.unwrap().status, 200);
        let stale = one.patch(&path, &z(1, 6)).await.unwrap();
        assert_eq!(
            stale.status,
            409,
            "{}",
            String::from_utf8_lossy(&stale.body)
        );
        assert_eq!(stale.json()["conflict"]["current_version"], 2);
    });

    let out = dir.path().join("coco.json");
    let o = Command::new(BIN)
        .args(["export", "--to", "coco", "--db", &url, "--out"])
        .arg(&out)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let coco: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(coco["annotations"].as_array().unwrap().len(), 1, "{coco}");
    assert_eq!(coco["annotations"][0]["area"].as_f64(), Some(50.0));
}
