//! The resize must equal Pillow's bilinear resize byte for byte, since segment-anything
//! resizes with Pillow (through torchvision): on the bundled sample photos and drawn noise
//! images of awkward sizes (always), and on the 50 GrabCut images of the reference data
//! (when present; see `samkit-testdata`).

use std::path::{Path, PathBuf};
use std::process::Command;

use samkit_engine::preprocess::{resize_bilinear, resized_size};
use samkit_engine::{load_rgb, Size};

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        // PNG only: a JPEG would also compare two JPEG decoders, not just the resize.
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    v.sort();
    v
}

/// Resizes every image with samkit and with Pillow (tests/py/pillow_resize.py) and returns
/// (differing bytes, largest difference).
fn compare_with_pillow(images: &[PathBuf]) -> (usize, u8) {
    let out = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/pillow_resize.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(out.path())
        .args(images)
        .status()
        .expect("python3 must be installed: pip install -r requirements-test.txt");
    assert!(
        status.success(),
        "Pillow script failed: pip install -r requirements-test.txt"
    );
    let mut differing = 0usize;
    let mut worst = 0u8;
    for p in images {
        let img = load_rgb(p).unwrap();
        let to = resized_size(Size {
            width: img.width(),
            height: img.height(),
        });
        let ours = resize_bilinear(&img, to);
        let name = p.file_stem().unwrap().to_string_lossy().to_string() + ".rgb";
        let theirs = std::fs::read(out.path().join(name)).unwrap();
        assert_eq!(ours.as_raw().len(), theirs.len(), "{}", p.display());
        for (a, b) in ours.as_raw().iter().zip(&theirs) {
            if a != b {
                differing += 1;
                worst = worst.max(a.abs_diff(*b));
            }
        }
    }
    (differing, worst)
}

#[test]
fn matches_pillow_on_samples_and_noise() {
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    let mut images = sorted_files(&samples);
    assert_eq!(
        images.len(),
        3,
        "the bundled PNG photos in {}",
        samples.display()
    );
    // The photos are upscaled to 1024; add downscaled and odd-sized noise images.
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 12345u32;
    for (w, h) in [(1500u32, 900u32), (2049, 37), (700, 1303), (333, 1)] {
        let noise = image::RgbImage::from_fn(w, h, |_, _| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = (seed >> 8) as u8;
            image::Rgb([v, v.wrapping_mul(3), v ^ 0x5a])
        });
        let p = dir.path().join(format!("noise_{w}x{h}.png"));
        noise.save(&p).unwrap();
        images.push(p);
    }
    let (differing, worst) = compare_with_pillow(&images);
    println!("resize vs Pillow on 3 sample photos and 4 noise images: {differing} differing bytes, max difference {worst}");
    assert_eq!(differing, 0, "max difference {worst}");
}

#[test]
fn matches_pillow_on_grabcut() {
    let Some(dir) =
        samkit_testdata::reference_data("samkit-engine resize_pillow (GrabCut)", "grabcut/images")
    else {
        return;
    };
    let images = sorted_files(&dir);
    assert_eq!(images.len(), 50);
    let (differing, worst) = compare_with_pillow(&images);
    println!("resize vs Pillow on 50 GrabCut images: {differing} differing bytes, max difference {worst}");
    assert_eq!(differing, 0, "max difference {worst}");
}
