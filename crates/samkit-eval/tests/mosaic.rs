//! Zoom-in refinement where it is meant to pay: GrabCut's objects as small objects in large
//! images. Each object's photo sits in one cell of a 3 × 3 mosaic of GrabCut photos
//! (`bench/grabcut_mosaic.py` makes the same files for `samkit eval`), so SAM's 1024-px
//! view of the 1920 × 1800 image shows it at about half its pixels, and a crop gives them
//! back. The figures of the first `N` objects, with and without zoom-in (the default
//! configuration), are the ones recorded in EVALUATION.md, within ±0.02.
//!
//! Needs the GrabCut reference data (`samkit-testdata`); the default model with ONNX
//! Runtime (f32), like `grabcut.rs`.

mod common;

use std::path::{Path, PathBuf};

use image::{GrayImage, Rgb, RgbImage};
use samkit_engine::DecoderBackend;
use samkit_eval::{
    evaluate, Dataset, DatasetPaths, EvalConfig, SamSegmenter, Segmenter, Strategy, Summary,
    ZoomConfig, ZoomSegmenter,
};

const CELL_W: u32 = 640;
const CELL_H: u32 = 600;
const GRID: u32 = 3;
/// Objects evaluated (by name order): enough to show the gain, a few minutes of CI.
const N: usize = 8;

/// Writes the mosaics of `bench/grabcut_mosaic.py` into `out` (images, masks, ignore).
fn write_mosaics(grabcut: &Path, out: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(grabcut.join("images"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "png").then(|| p.file_stem().unwrap().to_string_lossy().into())
        })
        .collect();
    names.sort();
    for sub in ["images", "masks", "ignore"] {
        std::fs::create_dir_all(out.join(sub)).unwrap();
    }
    let cells = (GRID * GRID) as usize;
    for (i, name) in names.iter().enumerate() {
        let mut canvas = RgbImage::from_pixel(CELL_W * GRID, CELL_H * GRID, Rgb([128, 128, 128]));
        let mut mask = GrayImage::new(canvas.width(), canvas.height());
        let mut ignore = GrayImage::new(canvas.width(), canvas.height());
        let target = i % cells;
        for cell in 0..cells {
            let j = (i + names.len() + cell - target) % names.len();
            let photo = image::open(grabcut.join("images").join(format!("{}.png", names[j])))
                .unwrap()
                .to_rgb8();
            assert!(photo.width() <= CELL_W && photo.height() <= CELL_H);
            let x = (cell as u32 % GRID) * CELL_W + (CELL_W - photo.width()) / 2;
            let y = (cell as u32 / GRID) * CELL_H + (CELL_H - photo.height()) / 2;
            image::imageops::replace(&mut canvas, &photo, x.into(), y.into());
            if cell == target {
                let m = image::open(grabcut.join("masks").join(format!("{name}.png")))
                    .unwrap()
                    .to_luma8();
                image::imageops::replace(&mut mask, &m, x.into(), y.into());
                let band = grabcut.join("ignore").join(format!("{name}.png"));
                if band.exists() {
                    let b = image::open(band).unwrap().to_luma8();
                    image::imageops::replace(&mut ignore, &b, x.into(), y.into());
                }
            }
        }
        canvas
            .save(out.join("images").join(format!("{name}.png")))
            .unwrap();
        mask.save(out.join("masks").join(format!("{name}.png")))
            .unwrap();
        ignore
            .save(out.join("ignore").join(format!("{name}.png")))
            .unwrap();
    }
}

/// The `prev` variant's figures of `segmenter` on `dataset`.
fn summary<S: Segmenter>(segmenter: &S, dataset: &Dataset) -> Summary {
    let config = EvalConfig {
        variants: vec![samkit_eval::Variant::Prev],
        ..Default::default()
    };
    let results = evaluate(
        segmenter,
        dataset,
        &config,
        &Default::default(),
        &indicatif::ProgressBar::hidden(),
        |_| Ok(()),
    )
    .unwrap();
    Summary::new(&results, config.max_clicks)
}

fn grabcut() -> Option<PathBuf> {
    samkit_testdata::reference_data("samkit-eval mosaic", "grabcut/images")
        .map(|_| samkit_testdata::data_root().join("grabcut"))
}

#[test]
fn zoom_in_recovers_small_objects_in_large_images() {
    let Some(data) = grabcut() else { return };
    let dir = tempfile::tempdir().unwrap();
    write_mosaics(&data, dir.path());
    let mut dataset = Dataset::scan(&DatasetPaths {
        images: dir.path().join("images"),
        masks: dir.path().join("masks"),
        ignore: Some(dir.path().join("ignore")),
    })
    .unwrap();
    dataset.truncate(N);
    // As `samkit eval` runs it: one ONNX Runtime thread per core.
    let model = common::model_with_threads(DecoderBackend::Native, 0);
    let plain = summary(&SamSegmenter::new(&model, Strategy::Sam).unwrap(), &dataset);
    let zoom = ZoomSegmenter::new(
        SamSegmenter::new(&model, Strategy::Sam).unwrap(),
        ZoomConfig::default(),
    );
    let zoomed = summary(&zoom, &dataset);
    println!("without zoom-in:\n{}", plain.table());
    println!("with zoom-in:\n{}", zoomed.table());
    let passes = zoom.encoder_passes() as f64 / N as f64;
    println!("crop encoder passes per object: {passes:.2}");

    let (p, z) = (&plain.variants[0], &zoomed.variants[0]);
    for (what, got, want) in [
        ("NoC@85 without", p.noc85.noc, PLAIN.0),
        ("NoC@90 without", p.noc90.noc, PLAIN.1),
        ("NoC@85 with", z.noc85.noc, ZOOMED.0),
        ("NoC@90 with", z.noc90.noc, ZOOMED.1),
        ("crop passes per object", passes, ZOOMED.2),
    ] {
        assert!(
            (got - want).abs() <= 0.02,
            "{what} zoom-in: {got:.2}, recorded {want:.2}"
        );
    }
}

/// NoC@85, NoC@90 of the first `N` mosaic objects without zoom-in (EVALUATION.md).
const PLAIN: (f64, f64) = (5.375, 9.625);
/// NoC@85, NoC@90 and crop encoder passes per object with it.
const ZOOMED: (f64, f64, f64) = (3.125, 3.375, 2.125);
