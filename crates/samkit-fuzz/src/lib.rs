//! The bodies of samkit's fuzz targets, one function per parser of outside input.
//!
//! `fuzz/fuzz_targets/*.rs` (cargo-fuzz, libFuzzer) are one-line calls into these, and
//! `tests/smoke.rs` runs the same functions under plain `cargo test` over the committed
//! seed and regression corpora (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`)
//! plus deterministic mutations of them ([`mutate`]), so CI checks every target without
//! nightly Rust or an instrumented build. A target fails by panicking: either the library
//! panicked on hostile input, or one of the round-trip properties asserted here broke.
//!
//! Every body calls the library's own entry point for that input; none re-implements
//! parsing. Inputs that need files (images, YOLO folders, zip uploads) are written to a
//! per-process scratch folder, on `/dev/shm` when there is one.

pub mod mutate;

use samkit_formats::coco::{import_coco_slice, to_coco_json, CocoExportOptions};
use samkit_formats::CocoRle;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A fuzz target: its name (the folder names under `fuzz/corpus/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order `fuzz/README.md` lists them.
pub const TARGETS: &[Target] = &[
    ("coco_json", coco_json),
    ("rle", rle),
    ("yolo_labels", yolo_labels),
    ("zip_import", zip_import),
    ("image_decode", image_decode),
    ("api_body", api_body),
];

/// Largest mask (pixels) the RLE target decodes to cross-check the two decoders; larger
/// ones are only parsed, so the fuzzer spends its time on the parser, not on memset.
const DECODE_CHECK_PIXELS: u64 = 1 << 16;

/// The pixel budget of the image target (see [`image_decode`]).
const IMAGE_BUDGET: samkit_mask::PixelBudget = samkit_mask::PixelBudget::new(4_000_000);

/// COCO instances JSON, as `POST /api/import?format=coco` (`upload::check_coco`, then
/// `export::read_coco`) and `samkit convert` (`import_coco_slice`) read it.
/// Property: a set the importer accepts validates, and its RLE export reads back to the
/// same images, categories and masks (the "COCO → samkit → COCO is lossless" invariant).
pub fn coco_json(data: &[u8]) {
    // The server's path first: the streaming budget check, then the importer.
    if samkit_server::upload::check_coco(data).is_ok() {
        let _ = samkit_server::export::read_coco(data);
    }
    let path = Path::new("fuzz.json");
    let _ = import_coco_slice(data, path, false);
    let Ok((set, _skipped)) = import_coco_slice(data, path, true) else {
        return;
    };
    set.validate(path)
        .expect("the COCO importer returned a set that does not validate");
    let Ok(doc) = to_coco_json(&set, &CocoExportOptions::default(), path, &mut |_, _| {}) else {
        return;
    };
    let bytes = serde_json::to_vec(&doc).expect("serialising our own COCO document");
    let (again, skipped) = import_coco_slice(&bytes, path, false)
        .expect("samkit's own COCO export does not read back");
    assert!(skipped.is_empty());
    assert_eq!(again.images, set.images);
    assert_eq!(again.categories, set.categories);
    assert_eq!(again.instances.len(), set.instances.len());
    for (a, b) in again.instances.iter().zip(&set.instances) {
        assert_eq!(
            (a.id, a.image_id, a.category_id, &a.mask, a.iscrowd),
            (b.id, b.image_id, b.category_id, &b.mask, b.iscrowd)
        );
    }
}

/// COCO RLE, both ways it arrives: a JSON object `{"size": [h, w], "counts": …}` (input
/// starting with `{`, what the API and COCO files carry) or a compressed `counts`
/// string after a 4-byte header (height, width as little-endian `u16`).
/// Properties: compressed strings re-encode to the same runs, and for small masks the
/// row-major decoder (`rle_fast`) agrees with hotcoco's column-major one.
pub fn rle(data: &[u8]) {
    let rle = if data.first() == Some(&b'{') {
        let Ok(r) = serde_json::from_slice::<CocoRle>(data) else {
            return;
        };
        let json = serde_json::to_string(&r).expect("serialising a CocoRle");
        let back: CocoRle = serde_json::from_str(&json).expect("a CocoRle's own JSON reads back");
        assert_eq!(back, r);
        r
    } else {
        let Some((h, w, rest)) = dims_u16(data) else {
            return;
        };
        let Ok(s) = std::str::from_utf8(rest) else {
            return;
        };
        let Ok(r) = CocoRle::from_compressed(h, w, s) else {
            return;
        };
        let again = CocoRle::from_compressed(h, w, &r.to_compressed())
            .expect("a CocoRle's own compressed string reads back");
        assert_eq!(again, r);
        r
    };
    let pixels = u64::from(rle.height()) * u64::from(rle.width());
    assert!(rle.area() <= pixels);
    let _ = rle.bbox();
    let union = rle.union(&rle).expect("union with itself");
    assert_eq!(union.area(), rle.area());
    if pixels <= DECODE_CHECK_PIXELS {
        let mask = rle.decode();
        let col = rle.decode_column_major();
        let (w, h) = (rle.width() as usize, rle.height() as usize);
        for y in 0..h {
            for x in 0..w {
                assert_eq!(
                    mask.as_slice()[y * w + x],
                    col[x * h + y],
                    "pixel ({x}, {y})"
                );
            }
        }
        assert_eq!(CocoRle::encode(&mask).decode(), mask);
    }
}

/// A YOLO-seg folder as `samkit convert --from yolo` reads it: the input is the image
/// size (height, width as little-endian `u16`, written as a PNG header), then the label
/// file, then after the first NUL byte the class names: a `data.yaml` when that part
/// mentions `names:`, else `classes.txt`.
pub fn yolo_labels(data: &[u8]) {
    let Some((h, w, rest)) = dims_u16(data) else {
        return;
    };
    let (labels, names) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let dir = scratch().join("yolo");
    let images = dir.join("images");
    let labels_dir = dir.join("labels");
    for d in [&images, &labels_dir] {
        std::fs::create_dir_all(d).expect("scratch folder");
    }
    for f in ["classes.txt", "data.yaml"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    std::fs::write(images.join("a.png"), png_header(w, h)).expect("scratch file");
    std::fs::write(labels_dir.join("a.txt"), labels).expect("scratch file");
    if let Some(names) = names {
        let is_yaml = names.windows(6).any(|w| w == b"names:");
        let file = if is_yaml { "data.yaml" } else { "classes.txt" };
        std::fs::write(dir.join(file), names).expect("scratch file");
    }
    for skip_invalid in [true, false] {
        if let Ok((set, _)) = samkit_formats::yolo::import_yolo(&dir, &images, skip_invalid) {
            set.validate(&dir)
                .expect("the YOLO importer returned a set that does not validate");
        }
    }
}

/// A zip upload as `POST /api/import?format=yolo` handles it (the server's own
/// `read_yolo_upload`: unpacked within budget into a private folder, its YOLO labels
/// found and read) against a project folder holding `a.png` (8×8) and `b.jpg` (a
/// truncated JPEG header).
pub fn zip_import(data: &[u8]) {
    let _ = samkit_server::check_yolo_upload(data, project_folder(), scratch());
}

/// Image bytes as the engine and the server decode them (`samkit_engine::load_rgb_within`:
/// format sniffing, header and budget checks, EXIF orientation, decode, RGB8
/// conversion), with a 4-megapixel budget so that headers within budget allocate at
/// most ~50 MB and the fuzzer spends its time parsing, not filling buffers.
/// Property: an accepted image is non-empty, within budget, and its buffer holds
/// exactly `w·h·3` bytes.
pub fn image_decode(data: &[u8]) {
    let path = scratch().join("image");
    std::fs::write(&path, data).expect("scratch file");
    // libfuzzer-sys's panic hook aborts on every panic, even one the engine catches: it
    // turns decoder panics into errors (zune-jpeg overflows on some JPEGs, see
    // README.md). Silence the hook for the call; a panic escaping the engine still
    // fails the run (libfuzzer-sys aborts when the target unwinds).
    #[cfg(fuzzing)]
    let hook = std::panic::take_hook();
    #[cfg(fuzzing)]
    std::panic::set_hook(Box::new(|_| {}));
    let result = samkit_engine::load_rgb_within(&path, IMAGE_BUDGET);
    #[cfg(fuzzing)]
    std::panic::set_hook(hook);
    if let Ok(rgb) = result {
        let (w, h) = rgb.dimensions();
        assert!(w > 0 && h > 0);
        assert!(IMAGE_BUDGET.allows(w, h));
        assert_eq!(rgb.as_raw().len() as u64, u64::from(w) * u64::from(h) * 3);
    }
}

/// Request bodies of the HTTP API: the input is a route selector byte then the body;
/// the body is parsed and checked by the server's own code for that route.
pub fn api_body(data: &[u8]) {
    let Some((&route, body)) = data.split_first() else {
        return;
    };
    let _ = samkit_server::check_request_body(route, body);
}

/// Height and width as two little-endian `u16`, and the rest of the input.
fn dims_u16(data: &[u8]) -> Option<(u32, u32, &[u8])> {
    if data.len() < 4 {
        return None;
    }
    let h = u16::from_le_bytes([data[0], data[1]]);
    let w = u16::from_le_bytes([data[2], data[3]]);
    Some((u32::from(h), u32::from(w), &data[4..]))
}

/// A PNG that declares `w × h` 8-bit grey pixels and holds none: enough for a reader of
/// the header (`image::image_dimensions`), which is all the YOLO importer reads.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], body: &[u8]| {
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(body);
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    };
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[]);
    chunk(b"IEND", &[]);
    out
}

/// This process's scratch folder, `samkit-fuzz-<pid>` on `/dev/shm` when present (so
/// file-based targets do not touch the disk). A fuzzing or test process cannot clean up
/// at exit (statics are not dropped; libFuzzer exits or is killed), so each new process
/// removes the folders of processes that no longer run.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix("samkit-fuzz-"));
            if pid.is_some_and(|p| !Path::new("/proc").join(p).exists()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("samkit-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    })
}

/// The project folder the zip target imports against (created once).
fn project_folder() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch().join("project");
        std::fs::create_dir_all(&dir).expect("scratch folder");
        std::fs::write(dir.join("a.png"), png_header(8, 8)).expect("scratch file");
        std::fs::write(dir.join("b.jpg"), b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
            .expect("scratch file");
        dir
    })
}
