//! Scanning a project folder: which files are images (size after EXIF orientation,
//! content hash) and which are skipped, and why.

use std::io::Read;
use std::path::{Path, PathBuf};

use image::metadata::Orientation;
use image::{ImageDecoder, ImageReader};
use samkit_engine::PixelBudget;
use samkit_store::NewImage;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Extensions the engine reads.
pub const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp"];

/// A file of the project folder that is not annotated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct ScanResult {
    pub images: Vec<NewImage>,
    pub skipped: Vec<Skipped>,
}

/// The project-relative, `/`-separated name of `path`.
fn rel_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

pub(crate) fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        || samkit_engine::is_volume_file(path)
}

/// Width and height as the engine sees the image (EXIF orientation applied), and its
/// orientation, reading headers only. Sizes the engine would refuse (empty, over the
/// pixel budget, too thin for SAM) are errors here already, so such files are listed
/// as skipped with the reason and the background encoder never decodes them.
pub fn oriented_size(path: &Path, budget: PixelBudget) -> Result<(u32, u32, Orientation), String> {
    if samkit_engine::is_volume_file(path) {
        // DICOM / NIfTI: the engine shows one slice of width × height.
        let (w, h, _) = samkit_engine::volume_size(path, budget).map_err(|e| e.to_string())?;
        samkit_engine::check_dimensions(path, w, h, budget).map_err(|e| e.to_string())?;
        return Ok((w, h, Orientation::NoTransforms));
    }
    let mut reader = ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err("not a supported image format (PNG, JPEG, TIFF, BMP, WebP)".into());
    }
    reader.limits(budget.image_limits());
    let mut dec = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Limits(l) => format!(
            "{l}: larger than the pixel budget of {} (raise it with --max-pixels)",
            budget.max_pixels()
        ),
        e => e.to_string(),
    })?;
    let o = dec.orientation().unwrap_or(Orientation::NoTransforms);
    let (w, h) = dec.dimensions();
    samkit_engine::check_dimensions(path, w, h, budget).map_err(|e| e.to_string())?;
    let swapped = matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    Ok(if swapped { (h, w, o) } else { (w, h, o) })
}

/// A folder that is one DICOM series: two DICOM files or more, nothing else in it
/// (no images of other kinds, no subfolders), readable as one volume. Any other folder
/// is walked, so no image in it is ever hidden behind a series that cannot be read.
fn is_series_folder(dir: &Path, budget: PixelBudget) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut dicoms = 0;
    for entry in rd.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() || !samkit_engine::is_volume_file(&path) {
            return false;
        }
        dicoms += 1;
    }
    dicoms >= 2
        && samkit_engine::is_volume_file(dir)
        && samkit_engine::volume_size(dir, budget).is_ok()
}

/// SHA-256 of a file, or of a series folder's files (names and bytes, in name order).
fn file_hash(path: &Path) -> std::io::Result<String> {
    if path.is_dir() {
        let mut names: Vec<PathBuf> = std::fs::read_dir(path)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        let mut h = Sha256::new();
        for p in names {
            h.update(p.file_name().unwrap_or_default().as_encoded_bytes());
            h.update(file_hash(&p)?.as_bytes());
        }
        return Ok(hex::encode(h.finalize()));
    }
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Whether `path`, links resolved, is inside the folder `root`.
pub fn inside(root: &Path, path: &Path) -> bool {
    match (std::fs::canonicalize(root), std::fs::canonicalize(path)) {
        (Ok(root), Ok(path)) => path.starts_with(root),
        _ => false,
    }
}

/// Walks `root` (skipping hidden entries such as `.samkit/`) in name order; symbolic
/// links to files outside `root` are skipped unless `follow_symlinks`, and images
/// declaring more pixels than `budget` are skipped with the reason.
pub fn scan(
    root: &Path,
    follow_symlinks: bool,
    budget: PixelBudget,
) -> std::io::Result<ScanResult> {
    let mut out = ScanResult::default();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if dir == root => return Err(e),
            Err(e) => {
                out.skipped.push(Skipped {
                    path: rel_name(root, &dir),
                    reason: format!("folder cannot be read: {e}"),
                });
                continue;
            }
        };
        for entry in rd.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_symlink() && !follow_symlinks && !inside(root, &path) => {
                    out.skipped.push(Skipped {
                        path: rel_name(root, &path),
                        reason: "a link to a file outside the project folder (start samkit \
                                 with --follow-symlinks to include it)"
                            .into(),
                    });
                }
                Ok(t) if t.is_dir() && is_series_folder(&path, budget) => files.push(path),
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) => files.push(path),
                Err(_) => {}
            }
        }
    }
    files.sort();
    for path in files {
        let name = rel_name(root, &path);
        if !is_image_name(&path) {
            let ext = path
                .extension()
                .map(|e| format!("unsupported extension .{}", e.to_string_lossy()))
                .unwrap_or_else(|| "no file extension".into());
            out.skipped.push(Skipped {
                path: name,
                reason: format!(
                    "not an image ({ext}; supported: {})",
                    IMAGE_EXTENSIONS.join(", ")
                ),
            });
            continue;
        }
        let size = oriented_size(&path, budget);
        let hash = file_hash(&path);
        match (size, hash) {
            (Ok((w, h, _)), Ok(hash)) => {
                let depth = if samkit_engine::is_volume_file(&path) {
                    // The budget was checked on the whole volume by `oriented_size`.
                    samkit_engine::volume_size(&path, budget).map_or(1, |(_, _, d)| d)
                } else {
                    1
                };
                if depth > 1 {
                    // Each slice an image of its own (masks and review per slice).
                    for z in 0..depth {
                        out.images.push(NewImage {
                            path: samkit_engine::slice_image_name(&name, z, depth),
                            width: i64::from(w),
                            height: i64::from(h),
                            content_hash: format!("{hash}-z{z}"),
                        });
                    }
                } else {
                    out.images.push(NewImage {
                        path: name,
                        width: i64::from(w),
                        height: i64::from(h),
                        content_hash: hash,
                    });
                }
            }
            (Err(e), _) => out.skipped.push(Skipped {
                path: name,
                reason: format!("cannot read the image: {e}"),
            }),
            (_, Err(e)) => out.skipped.push(Skipped {
                path: name,
                reason: format!("cannot read the file: {e}"),
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_over_the_budget_or_too_thin_are_skipped_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        image::RgbImage::new(40, 30)
            .save(dir.path().join("big.png"))
            .unwrap();
        image::RgbImage::new(20, 10)
            .save(dir.path().join("small.png"))
            .unwrap();
        image::RgbImage::new(20_000, 1)
            .save(dir.path().join("thin.png"))
            .unwrap();
        let out = scan(dir.path(), false, PixelBudget::new(1000)).unwrap();
        let names: Vec<_> = out.images.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(names, ["small.png"]);
        assert_eq!(out.skipped.len(), 2, "{:?}", out.skipped);
        assert_eq!(out.skipped[0].path, "big.png");
        let reason = &out.skipped[0].reason;
        assert!(
            reason.contains("40×30") && reason.contains("--max-pixels"),
            "{reason}"
        );
        // A side longer than the whole budget is refused by the decoder's limits.
        assert_eq!(out.skipped[1].path, "thin.png");
        assert!(
            out.skipped[1].reason.contains("--max-pixels"),
            "{:?}",
            out.skipped
        );

        let out = scan(dir.path(), false, PixelBudget::DEFAULT).unwrap();
        let names: Vec<_> = out.images.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(names, ["big.png", "small.png"]);
        assert_eq!(out.skipped.len(), 1);
        assert_eq!(out.skipped[0].path, "thin.png");
        assert!(out.skipped[0].reason.contains("2048"), "{:?}", out.skipped);
    }
}
