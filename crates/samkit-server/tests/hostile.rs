//! The server under attack (issue 16): oversized and amplifying bodies, cross-site
//! requests, DNS rebinding, slow connections, links leaving the project folder,
//! undecodable or misnamed files, control characters in names, security headers.
//! Each test reproduces an attack that used to work.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{rle, start, start_with, write_png, TestServer};
use samkit_server::client::{Client, Reply};
use samkit_server::Config;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("a.png"), 40, 30);
    dir
}

async fn serve(dir: &tempfile::TempDir, cache: &tempfile::TempDir) -> TestServer {
    start(dir.path(), None, cache.path()).await
}

/// A request with the given extra header lines and body, `Connection: close`.
fn request(s: &TestServer, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        r.push_str(&format!("Host: {}\r\n", s.addr));
    }
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("authorization:"))
    {
        r.push_str(&format!("Authorization: Bearer {}\r\n", s.token));
    }
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

async fn send(s: &TestServer, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Reply {
    s.client
        .send_raw(request(s, method, path, headers, body))
        .await
        .unwrap()
}

async fn category_names(c: &Client) -> Vec<String> {
    c.get("/api/categories").await.unwrap().json()["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

async fn assert_healthy(c: &Client) {
    let h = c.get("/api/health").await.unwrap();
    assert_eq!((h.status, h.json()["ok"].as_bool()), (200, Some(true)));
}

// ------------------------------------------------------------------ item 2: bodies

#[tokio::test]
async fn import_bomb_is_refused_quickly_and_the_server_stays_healthy() {
    let (dir, cache) = (project(), tempfile::tempdir().unwrap());
    let s = serve(&dir, &cache).await;
    // 3 M entries in 6 MB: this took the server to 3.95 GB and a 315 MB answer.
    let mut bomb = String::with_capacity(6 << 20);
    bomb.push_str(r#"{"images":["#);
    for i in 0..3_000_000 {
        bomb.push_str(if i == 0 { "1" } else { ",1" });
    }
    bomb.push_str("]}");
    let during = json!({"name": "during"});
    let t = Instant::now();
    let (r, w) = tokio::join!(
        send(
            &s,
            "POST",
            "/api/import?format=coco",
            &["Content-Type: application/json"],
            bomb.as_bytes()
        ),
        // A write at the same time still succeeds.
        s.client.post("/api/categories", &during)
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "invalid_upload");
    assert!(r.json()["error"].as_str().unwrap().contains("images[0]"));
    assert!(r.body.len() < 1000, "{} byte answer", r.body.len());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(w.unwrap().status, 201);
    // Many valid-looking but empty entries: over the count budget, refused as such.
    let mut many = String::from(r#"{"annotations":["#);
    for i in 0..=samkit_server::upload::MAX_COCO_ANNOTATIONS {
        many.push_str(if i == 0 { "{}" } else { ",{}" });
    }
    many.push_str("]}");
    let r = send(
        &s,
        "POST",
        "/api/import",
        &["Content-Type: application/json"],
        many.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "upload_too_large");
    // Over the import body limit (64 MiB): refused from Content-Length, without reading.
    let mut req = format!(
        "POST /api/import HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        s.addr,
        s.token,
        100u64 << 20
    )
    .into_bytes();
    req.extend_from_slice(&[b' '; 1 << 16]);
    let r = s.client.send_raw(req).await.unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    // Small endpoints take small bodies.
    let big_name = "x".repeat(100 << 10);
    let r = s
        .client
        .post("/api/categories", &json!({"name": big_name}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    assert!(r.json()["error"].as_str().unwrap().contains("0.0625 MiB"));
    assert_healthy(&s.client).await;
    assert_eq!(category_names(&s.client).await, ["object", "during"]);
}

#[tokio::test]
async fn an_import_answer_lists_a_bounded_number_of_skips() {
    let (dir, cache) = (project(), tempfile::tempdir().unwrap());
    let s = serve(&dir, &cache).await;
    let images: Vec<Value> = (0..500)
        .map(|i| json!({"id": i, "file_name": format!("nope{i}.png"), "width": 4, "height": 4}))
        .collect();
    let r = s
        .client
        .post(
            "/api/import?format=coco",
            &json!({"images": images, "annotations": [], "categories": []}),
        )
        .await
        .unwrap();
    let j = r.json();
    assert_eq!(r.status, 200, "{j}");
    assert_eq!(j["skipped_total"], 500);
    assert_eq!(j["skipped"].as_array().unwrap().len(), 100);
}

// ------------------------------------------------------------------ item 3: cross-site

#[tokio::test]
async fn cross_site_forms_and_foreign_origins_cannot_change_anything() {
    let (dir, cache) = (project(), tempfile::tempdir().unwrap());
    let s = serve(&dir, &cache).await;
    let body = br#"{"name":"pwned"}"#;
    // What an HTML form or a no-cors fetch on another site can send.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        for path in ["/api/categories", "/api/import?format=coco", "/api/rescan"] {
            let r = send(&s, "POST", path, &[&format!("Content-Type: {ct}")], body).await;
            assert_eq!(r.status, 415, "{path} {ct}: {}", r.json());
            assert_eq!(r.json()["code"], "unsupported_media_type");
        }
    }
    let r = send(&s, "POST", "/api/images/1/embed", &[], b"").await;
    assert_eq!(r.status, 415, "no content type: {}", r.json());
    // A JSON post carrying a foreign origin (a page of evil.example, through CORS).
    let json_ct = "Content-Type: application/json";
    for hdr in [
        "Origin: http://evil.example",
        "Origin: null",
        &format!("Origin: http://localhost:{}", s.addr.port() + 1),
        "Sec-Fetch-Site: cross-site",
        "Sec-Fetch-Site: same-site",
    ] {
        let r = send(&s, "POST", "/api/categories", &[json_ct, hdr], body).await;
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (403, Some("cross_site")),
            "{hdr}"
        );
    }
    assert_eq!(category_names(&s.client).await, ["object"]);
    // The UI's own requests pass: same origin, JSON.
    let origin = format!("Origin: http://{}", s.addr);
    let r = send(
        &s,
        "POST",
        "/api/categories",
        &[json_ct, &origin, "Sec-Fetch-Site: same-origin"],
        body,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json());
    // A zip upload is an explicit upload type.
    let r = send(
        &s,
        "POST",
        "/api/import?format=yolo",
        &["Content-Type: application/zip"],
        b"PK",
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.json());
    // Reads stay open to plain GETs.
    assert_eq!(send(&s, "GET", "/api/project", &[], b"").await.status, 200);
}

#[tokio::test]
async fn history_restore_requires_the_version_it_read() {
    let (dir, cache) = (project(), tempfile::tempdir().unwrap());
    let s = serve(&dir, &cache).await;
    let c = &s.client;
    let i = c
        .post(
            "/api/images/1/instances",
            &json!({"rle": rle(30, 40, 0, 5)}),
        )
        .await
        .unwrap()
        .json();
    let create_entry = c.get("/api/history").await.unwrap().json()["entries"][0]["id"]
        .as_i64()
        .unwrap();
    let newer = c
        .patch(
            &format!("/api/instances/{}", i["id"]),
            &json!({"version": 1, "rle": rle(30, 40, 10, 20)}),
        )
        .await
        .unwrap();
    assert_eq!(newer.status, 200);
    let path = format!("/api/history/{create_entry}/restore");
    for body in [&b""[..], b"{}", b"{\"version\": null}"] {
        let r = send(&s, "POST", &path, &["Content-Type: application/json"], body).await;
        assert_eq!(r.status, 400, "{:?}: {}", body, r.json());
        assert!(r.json()["error"].as_str().unwrap().contains("version"));
    }
    let stale = c.post(&path, &json!({"version": 1})).await.unwrap();
    assert_eq!(stale.status, 409, "{}", stale.json());
    let cur = c
        .get(&format!("/api/instances/{}", i["id"]))
        .await
        .unwrap()
        .json();
    assert_eq!(cur["rle"], rle(30, 40, 10, 20), "the newer change survives");
    let ok = c.post(&path, &json!({"version": 2})).await.unwrap();
    assert_eq!(ok.status, 200, "{}", ok.json());
    assert_eq!(ok.json()["current"]["rle"], rle(30, 40, 0, 5));
}

// ------------------------------------------------------------------ item 4: rebinding

#[tokio::test]
async fn requests_naming_another_host_are_refused() {
    let (dir, cache) = (project(), tempfile::tempdir().unwrap());
    let mut cfg = Config::new(dir.path());
    cfg.cache_dir = Some(cache.path().to_path_buf());
    cfg.allowed_hosts = vec!["annotate.example.org".into()];
    let s = start_with(cfg, None).await;
    let port = s.addr.port();
    let json_ct = "Content-Type: application/json";
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
    ] {
        let h = format!("Host: {host}");
        let r = send(&s, "GET", "/api/export", &[&h], b"").await;
        assert_eq!(r.status, 421, "{host}");
        assert_eq!(r.json()["code"], "host_not_allowed");
        assert!(r.json()["error"].as_str().unwrap().contains("--allow-host"));
        let r = send(
            &s,
            "POST",
            "/api/categories",
            &[&h, json_ct],
            br#"{"name":"x"}"#,
        )
        .await;
        assert_eq!(r.status, 421, "{host}");
        assert_eq!(send(&s, "GET", "/", &[&h], b"").await.status, 421);
    }
    assert_eq!(category_names(&s.client).await, ["object"]);
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "annotate.example.org".to_string(),
    ] {
        let h = format!("Host: {host}");
        assert_eq!(send(&s, "GET", "/api/export", &[&h], b"").await.status, 200);
    }
}

// ------------------------------------------------------------------ item 5: zip

#[tokio::test]
async fn a_zip_bomb_upload_is_refused() {
    let (dir, cache) = (project(), tempfile::tempdir().unwrap());
    let s = serve(&dir, &cache).await;
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zw.start_file("labels/a.txt", opts).unwrap();
    let mib = vec![b'0'; 1 << 20];
    for _ in 0..=(samkit_server::upload::MAX_UNPACKED_BYTES >> 20) {
        zw.write_all(&mib).unwrap();
    }
    let zip = zw.finish().unwrap().into_inner();
    let r = send(
        &s,
        "POST",
        "/api/import?format=yolo",
        &["Content-Type: application/zip"],
        &zip,
    )
    .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (413, Some("upload_too_large")),
        "{}",
        r.json()
    );
    assert_healthy(&s.client).await;
}

// ------------------------------------------------------------------ item 7: files

#[tokio::test]
async fn image_files_are_sniffed_and_undecodable_ones_get_422() {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("a.png"), 40, 30);
    // A JPEG named .png: served as what it is.
    let jpeg = image::RgbImage::from_pixel(16, 8, image::Rgb([10, 200, 10]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    jpeg.write_to(&mut bytes, image::ImageFormat::Jpeg).unwrap();
    std::fs::write(dir.path().join("b.png"), bytes.into_inner()).unwrap();
    // A TIFF (sent re-encoded as PNG) whose pixel data is cut off after the scan.
    let tiff = image::RgbImage::from_pixel(64, 64, image::Rgb([1, 2, 3]));
    tiff.save(dir.path().join("c.tif")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let s = serve(&dir, &cache).await;
    let f = s.client.get("/api/images/2/file").await.unwrap();
    assert_eq!(
        (f.status, f.header("content-type")),
        (200, Some("image/jpeg"))
    );
    let full = std::fs::read(dir.path().join("c.tif")).unwrap();
    std::fs::write(dir.path().join("c.tif"), &full[..full.len() / 3]).unwrap();
    let f = s.client.get("/api/images/3/file").await.unwrap();
    assert_eq!(
        (f.status, f.json()["code"].as_str()),
        (422, Some("undecodable_image")),
        "{}",
        f.json()
    );
    assert!(f.json()["error"].as_str().unwrap().contains("c.tif"));
    // Replaced by something that is no image at all.
    std::fs::write(dir.path().join("a.png"), b"<html>not an image</html>").unwrap();
    let f = s.client.get("/api/images/1/file").await.unwrap();
    assert_eq!(
        (f.status, f.json()["code"].as_str()),
        (422, Some("undecodable_image"))
    );
    assert_eq!(f.header("x-content-type-options"), Some("nosniff"));
}

#[cfg(unix)]
#[tokio::test]
async fn links_to_images_outside_the_project_are_not_listed_or_served() {
    let outside = tempfile::tempdir().unwrap();
    write_png(&outside.path().join("secret.png"), 12, 12);
    let dir = project();
    std::os::unix::fs::symlink(outside.path().join("secret.png"), dir.path().join("s.png"))
        .unwrap();
    // A link inside the project is fine.
    std::os::unix::fs::symlink(dir.path().join("a.png"), dir.path().join("same.png")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let s = serve(&dir, &cache).await;
    let names: Vec<String> = s.client.get("/api/images").await.unwrap().json()["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a.png", "same.png"]);
    let p = s.client.get("/api/project").await.unwrap().json();
    assert_eq!(p["skipped"][0]["path"], "s.png");
    assert!(p["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("--follow-symlinks"));
    // A listed image swapped for a link to an outside file is not served either.
    std::fs::remove_file(dir.path().join("a.png")).unwrap();
    write_png(&outside.path().join("a.png"), 40, 30);
    std::os::unix::fs::symlink(outside.path().join("a.png"), dir.path().join("a.png")).unwrap();
    let f = s.client.get("/api/images/1/file").await.unwrap();
    assert_eq!(
        (f.status, f.json()["code"].as_str()),
        (403, Some("outside_project"))
    );
    s.task.abort();

    // With --follow-symlinks both are listed and served.
    let mut cfg = Config::new(dir.path());
    cfg.cache_dir = Some(cache.path().to_path_buf());
    cfg.follow_symlinks = true;
    let s = start_with(cfg, None).await;
    let imgs = s.client.get("/api/images").await.unwrap().json();
    assert_eq!(imgs["images"].as_array().unwrap().len(), 3, "{imgs}");
    let f = s.client.get("/api/images/1/file").await.unwrap();
    assert_eq!(f.status, 200);
}

#[tokio::test]
async fn control_characters_in_user_names_are_refused() {
    let (dir, cache) = (project(), tempfile::tempdir().unwrap());
    let s = serve(&dir, &cache).await;
    for name in ["eve%0Aadmin", "eve%1B%5B2J", "eve%00", "eve\tx"] {
        let r = s
            .client
            .as_user(name)
            .post("/api/categories", &json!({"name": "x"}))
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{name}: {}", r.json());
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("control characters"));
    }
    let r = s
        .client
        .as_user("Jos%C3%A9")
        .post("/api/categories", &json!({"name": "x"}))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["updated_by"].as_str()),
        (201, Some("José"))
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let (dir, cache) = (project(), tempfile::tempdir().unwrap());
    let s = serve(&dir, &cache).await;
    let evil = "Host: evil.example".to_string();
    let answers = [
        send(&s, "GET", "/", &[], b"").await,
        send(&s, "GET", "/app.js", &[], b"").await,
        send(&s, "GET", "/api/health", &[], b"").await,
        send(&s, "GET", "/api/nothing", &[], b"").await,
        send(&s, "GET", "/api/images/1/file", &[], b"").await,
        send(
            &s,
            "POST",
            "/api/rescan",
            &["Content-Type: text/plain"],
            b"",
        )
        .await,
        send(&s, "GET", "/", &[&evil], b"").await,
    ];
    for r in &answers {
        let csp = r.header("content-security-policy").unwrap_or("");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
    // The page itself has no inline script or style for the policy to block.
    let html = String::from_utf8_lossy(&answers[0].body).to_string();
    assert!(!html.contains("<style"), "inline style in index.html");
    for tag in html.split("<script").skip(1) {
        assert!(
            tag.split('>').next().unwrap().contains("src="),
            "inline script"
        );
    }
    assert!(!html.contains(" style="), "style attribute in index.html");
}

// ------------------------------------------------------------------ item 7: timeouts

async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = vec![0u8; 4096];
    let t = Instant::now();
    loop {
        match tokio::time::timeout(limit.saturating_sub(t.elapsed()), stream.read(&mut buf)).await {
            Err(_) => return false, // still open at the limit
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an answer (e.g. 408), then the close
        }
    }
}

#[tokio::test]
async fn idle_and_half_sent_connections_are_closed() {
    let (dir, cache) = (project(), tempfile::tempdir().unwrap());
    let mut cfg = Config::new(dir.path());
    cfg.cache_dir = Some(cache.path().to_path_buf());
    cfg.header_read_timeout = Duration::from_secs(1);
    cfg.body_read_timeout = Duration::from_secs(1);
    let s = start_with(cfg, None).await;
    let limit = Duration::from_secs(5);
    // Connects and says nothing.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    // Half a request header.
    let mut half = TcpStream::connect(s.addr).await.unwrap();
    half.write_all(format!("GET /api/health HTTP/1.1\r\nHost: {}\r\nX-A: ", s.addr).as_bytes())
        .await
        .unwrap();
    // A header, then a body that stops after 10 of 100 bytes.
    let mut body = TcpStream::connect(s.addr).await.unwrap();
    body.write_all(
        format!(
            "POST /api/categories HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Authorization: Bearer {}\r\nContent-Length: 100\r\n\r\n{{\"name\": \"",
            s.addr, s.token
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // One complete request on a kept-alive connection, then silence.
    let mut kept = TcpStream::connect(s.addr).await.unwrap();
    kept.write_all(format!("GET /api/health HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr).as_bytes())
        .await
        .unwrap();
    let (a, b, c, d) = tokio::join!(
        closed_within(&mut idle, limit),
        closed_within(&mut half, limit),
        closed_within(&mut body, limit),
        closed_within(&mut kept, limit),
    );
    assert_eq!(
        (a, b, c, d),
        (true, true, true, true),
        "idle, half header, half body, kept-alive"
    );
    assert_healthy(&s.client).await;
}
