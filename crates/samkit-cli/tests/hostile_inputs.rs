//! Hostile and careless inputs to the CLI (issue 16): decompression bombs run under a
//! 2 GiB address-space limit (`prlimit --as`) and must end in one clear error with exit
//! code 1, never an abort or a panic; truncated and too-thin images are errors; outputs
//! keep symlinks, FIFOs and devices and follow the umask; usage errors exit with 2.
//! Every input is drawn by the test itself.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_samkit");
/// The address-space limit the bombs run under: far below what any of them claims.
const MEMORY_LIMIT: &str = "--as=2147483648";

fn samkit(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run samkit")
}

/// `samkit ARGS` under `prlimit --as=2 GiB`.
fn samkit_limited(args: &[&str]) -> Output {
    Command::new("prlimit")
        .arg(MEMORY_LIMIT)
        .arg(BIN)
        .args(args)
        .output()
        .expect("run prlimit (util-linux)")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code 1 and one `error:` line holding every needle; no panic, no abort.
fn assert_clear_error(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{err}"
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {err}"));
    for needle in needles {
        assert!(line.contains(needle), "expected '{needle}' in: {line}");
    }
}

use samkit_testdata::hostile::{jpeg_claiming, png_claiming as png_bomb, small_jpeg};

/// A JPEG whose SOF0 claims 65000×65000.
fn jpeg_bomb() -> Vec<u8> {
    jpeg_claiming(65_000, 65_000)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn image_bombs_are_refused_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mask.png");
    let png = png_bomb(50_000, 50_000);
    assert!(png.len() <= 74, "{} bytes", png.len());
    let png = write(dir.path(), "bomb.png", &png);
    let jpg = write(dir.path(), "bomb.jpg", &jpeg_bomb());
    for (bomb, size) in [(&png, "50000×50000"), (&jpg, "65000×65000")] {
        for cmd in [
            vec!["segment", s(bomb), "--point", "1,1", "--out", s(&out)],
            vec!["bench", "--image", s(bomb)],
        ] {
            let o = samkit_limited(&cmd);
            assert_clear_error(&o, &[s(bomb), size, "--max-pixels"]);
        }
    }
    assert!(!out.exists());
    // The budget is the flag's: a small one refuses a small image.
    let img = dir.path().join("small.png");
    image::RgbImage::new(300, 200).save(&img).unwrap();
    let o = samkit(&[
        "segment",
        s(&img),
        "--point",
        "1,1",
        "--out",
        s(&out),
        "--max-pixels",
        "59999",
    ]);
    assert_clear_error(&o, &["300×200", "59999"]);
}

#[test]
fn convert_refuses_a_huge_coco_image_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let json = write(
        dir.path(),
        "bomb.json",
        br#"{"images":[{"id":1,"file_name":"huge.jpg","width":60000,"height":60000}],
            "categories":[{"id":1,"name":"thing"}],
            "annotations":[{"id":1,"image_id":1,"category_id":1,
                            "segmentation":[[0,0,59999,0,59999,59999,0,59999]]}]}"#,
    );
    let out = dir.path().join("out");
    for to in ["coco", "png"] {
        let o = samkit_limited(&["convert", s(&json), "--to", to, "--out", s(&out)]);
        assert_clear_error(&o, &["bomb.json", "60000×60000", "--max-pixels"]);
    }
}

#[test]
fn eval_refuses_a_mask_bomb_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (images, masks) = (dir.path().join("images"), dir.path().join("masks"));
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&masks).unwrap();
    image::RgbImage::new(64, 48)
        .save(images.join("a.png"))
        .unwrap();
    write(&masks, "a.png", &png_bomb(50_000, 50_000));
    let o = samkit_limited(&["eval", "--images", s(&images), "--masks", s(&masks)]);
    assert_clear_error(&o, &["a.png", "50000×50000", "--max-pixels"]);
}

#[test]
fn truncated_and_too_thin_images_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mask.png");
    let jpeg = small_jpeg(96, 64);
    let cut = write(dir.path(), "cut.jpg", &jpeg[..jpeg.len() / 2]);
    let o = samkit(&["segment", s(&cut), "--point", "5,5", "--out", s(&out)]);
    assert_clear_error(&o, &["cut.jpg", "truncated"]);

    let mut png = Vec::new();
    image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 7]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let cut = write(dir.path(), "cut.png", &png[..png.len() / 2]);
    let o = samkit(&["segment", s(&cut), "--point", "5,5", "--out", s(&out)]);
    assert_clear_error(&o, &["cut.png"]);

    // ONNX Runtime's decoder fails in a Resize node past 2048:1; refused first.
    let thin = dir.path().join("thin.png");
    image::RgbImage::new(20_000, 1).save(&thin).unwrap();
    let o = samkit(&["segment", s(&thin), "--point", "5,0", "--out", s(&out)]);
    assert_clear_error(&o, &["thin.png", "20000×1", "2048"]);
    assert!(!out.exists());
}

#[test]
fn usage_errors_exit_2_other_errors_exit_1() {
    let usage = [
        vec![
            "segment",
            "x.png",
            "--point",
            "1,1",
            "--out",
            "o.png",
            "--threads",
            "100000",
        ],
        vec![
            "segment",
            "x.png",
            "--point",
            "1,1",
            "--out",
            "o.png",
            "--threads",
            "-1",
        ],
        vec![
            "segment",
            "x.png",
            "--point",
            "1,1",
            "--out",
            "o.png",
            "--max-pixels",
            "0",
        ],
        vec!["segment", "x.png", "--point", "1", "--out", "o.png"],
        vec!["segment", "x.png", "--no-such-flag"],
        vec!["no-such-command"],
        vec!["convert", "in.json", "--to", "bmp", "--out", "o"],
    ];
    for args in usage {
        let o = samkit(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("error:"), "{}", stderr(&o));
    }
    let o = samkit(&[
        "segment",
        "x.png",
        "--point",
        "1,1",
        "--out",
        "o.png",
        "--threads",
        "100000",
    ]);
    assert!(
        stderr(&o).contains("0 (one per core) to 256"),
        "{}",
        stderr(&o)
    );

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let o = samkit(&["segment", s(&missing), "--point", "1,1", "--out", "o.png"]);
    assert_clear_error(&o, &["missing.png"]);
    let o = samkit(&["convert", s(&missing), "--to", "coco", "--out", "o.json"]);
    assert_clear_error(&o, &["missing.png"]);
}

const TINY_COCO: &[u8] = br#"{"images":[{"id":1,"file_name":"a.jpg","width":4,"height":3}],
    "categories":[{"id":1,"name":"thing"}],
    "annotations":[{"id":1,"image_id":1,"category_id":1,"segmentation":[[0,0,2,0,2,2,0,2]]}]}"#;

fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}

#[test]
fn outputs_keep_symlinks_fifos_and_devices_and_follow_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.json", TINY_COCO);
    let convert = |out: &Path| samkit(&["convert", s(&input), "--to", "coco", "--out", s(out)]);

    // A symlink stays a link; its target gets the output.
    let real = write(dir.path(), "real.json", b"old");
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink("real.json", &link).unwrap();
    let o = convert(&link);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&real).unwrap()).unwrap();
    assert_eq!(written["annotations"][0]["area"], 4.0);

    // A new file's mode follows the umask (tempfile's 0600 does not leak).
    let fresh = dir.path().join("fresh.json");
    let o = convert(&fresh);
    assert!(o.status.success(), "{}", stderr(&o));
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask());

    // A FIFO is written through, not replaced by a regular file.
    let fifo = dir.path().join("pipe.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let o = convert(&fifo);
    assert!(o.status.success(), "{}", stderr(&o));
    let through: serde_json::Value = serde_json::from_slice(&reader.join().unwrap()).unwrap();
    assert_eq!(through["images"][0]["width"], 4);
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());

    // `--out /dev/stdout` with stdout appended to a file (`>> log`): the data is
    // appended after what the file held, and the report goes to stderr.
    let log = write(dir.path(), "log.txt", b"kept\n");
    let appending = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let o = Command::new(BIN)
        .args(["convert", s(&input), "--to", "coco", "--out", "/dev/stdout"])
        .stdout(appending)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote 1 instances"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    let json = text
        .strip_prefix("kept\n")
        .expect("the earlier content is kept");
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(doc["images"][0]["width"], 4);

    // A character device is written in place.
    let o = convert(Path::new("/dev/null"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
}

/// The real model (bundled photo): `--out` through a symlink, `--overlay` into a FIFO,
/// and a failed run that leaves the earlier mask as it was.
#[test]
fn segment_writes_through_links_and_fifos_and_keeps_outputs_on_failure() {
    let photo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/chelsea.png");
    let dir = tempfile::tempdir().unwrap();
    let masks = dir.path().join("masks");
    std::fs::create_dir(&masks).unwrap();
    let link = dir.path().join("link.png");
    std::os::unix::fs::symlink(masks.join("cat.png"), &link).unwrap();
    let fifo = dir.path().join("overlay.png");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let o = samkit(&[
        "segment",
        s(&photo),
        "--point",
        "230,210",
        "--out",
        s(&link),
        "--overlay",
        s(&fifo),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let mask = image::open(masks.join("cat.png")).unwrap();
    let overlay = image::load_from_memory(&reader.join().unwrap()).unwrap();
    assert_eq!(
        (mask.width(), mask.height()),
        (overlay.width(), overlay.height())
    );
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());

    let before = std::fs::read(masks.join("cat.png")).unwrap();
    let o = samkit(&[
        "segment",
        s(&photo),
        "--point",
        "99999,5",
        "--out",
        s(&link),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read(masks.join("cat.png")).unwrap(), before);
    let files = std::fs::read_dir(&masks).unwrap().count();
    assert_eq!(files, 1, "no temporary file is left behind");
}

/// `GET path` on the loopback server at `port` with its start-up `token`; the body, or
/// `None` while it is not up.
fn http_get(port: u16, token: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Kills the server when the test ends, pass or fail.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Bombs in a project folder: listed as skipped with the reason, never decoded by the
/// background encoder, while the server (real model, 3 GiB address-space limit) keeps
/// encoding the real photo beside them.
#[test]
fn serve_skips_bombs_in_the_project_folder_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bomb.png", &png_bomb(50_000, 50_000));
    write(dir.path(), "bomb.jpg", &jpeg_bomb());
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/chelsea.png"),
        dir.path().join("chelsea.png"),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("prlimit")
        .arg("--as=3221225472")
        .arg(BIN)
        .args(["serve", s(dir.path()), "--port", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run prlimit (util-linux)");
    let mut server = Server(child);
    // The address it prints carries the one-person token (`…/?token=T in your browser`).
    // (The pipe stays open to the end: a closed one would fail the server's next print.)
    let mut stdout = std::io::BufReader::new(server.0.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let token = line
        .split("?token=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no token in {line:?}"))
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let images = loop {
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "the server exited while bombs were in its folder"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no embedding in 120 s"
        );
        if let Some(body) = http_get(port, &token, "/api/images") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if v["images"][0]["embedding"] == "ready" {
                break v;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let names: Vec<_> = images["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["chelsea.png"]);
    let project: serde_json::Value =
        serde_json::from_str(&http_get(port, &token, "/api/project").unwrap()).unwrap();
    let skipped = project["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    for (entry, size) in skipped.iter().zip(["65000×65000", "50000×50000"]) {
        let reason = entry["reason"].as_str().unwrap();
        assert!(
            reason.contains(size) && reason.contains("--max-pixels"),
            "{reason}"
        );
    }
    assert!(server.0.try_wait().unwrap().is_none());
}
