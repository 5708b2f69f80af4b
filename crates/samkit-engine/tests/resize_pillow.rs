//! The resize must equal Pillow's bilinear resize byte for byte on the GrabCut images,
//! since segment-anything resizes with Pillow (through torchvision).

use std::path::PathBuf;
use std::process::Command;

use samkit_engine::preprocess::{resize_bilinear, resized_size};
use samkit_engine::{load_rgb, Size};

fn grabcut_images() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/grabcut/images");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the shared test data must sit beside the repo)",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn matches_pillow_on_grabcut() {
    let mut images = grabcut_images();
    assert_eq!(images.len(), 50);
    let out = tempfile::tempdir().unwrap();
    // GrabCut images are all upscaled; add downscaled and odd-sized noise images.
    let mut seed = 12345u32;
    for (w, h) in [(1500u32, 900u32), (2049, 37), (700, 1303)] {
        let noise = image::RgbImage::from_fn(w, h, |_, _| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = (seed >> 8) as u8;
            image::Rgb([v, v.wrapping_mul(3), v ^ 0x5a])
        });
        let p = out.path().join(format!("noise_{w}x{h}.png"));
        noise.save(&p).unwrap();
        images.push(p);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/pillow_resize.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(out.path())
        .args(&images)
        .status()
        .expect("python3 must be installed: pip install -r requirements-test.txt");
    assert!(
        status.success(),
        "Pillow script failed: pip install -r requirements-test.txt"
    );
    let mut differing = 0usize;
    let mut worst = 0u8;
    for p in &images {
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
    println!("resize vs Pillow on 50 GrabCut images and 3 noise images: {differing} differing bytes, max difference {worst}");
    assert_eq!(differing, 0, "max difference {worst}");
}
