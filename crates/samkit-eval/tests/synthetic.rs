//! The whole pipeline on a synthetic set drawn here, with a fake segmenter whose answers make
//! the expected clicks known by construction: dataset files on disk → protocol → figures →
//! JSON files → resume → plot.

use std::collections::HashSet;
use std::path::Path;

use image::{GrayImage, Luma, RgbImage};
use samkit_eval::{
    evaluate, plot_miou, Click, Curve, Dataset, DatasetPaths, EvalConfig, OutputPaths, ProgressLog,
    RunHeader, Segmentation, Segmenter, Summary, Variant,
};

/// A "model" that predicts, for each positive click, the axis-aligned square of half-side
/// `r` around it and removes the same around each negative click (later clicks win). With the
/// `prev` variant its state is the previous mask, which it keeps (union) — so the two
/// variants differ in a predictable way.
struct Squares {
    w: usize,
    h: usize,
    r: i64,
}

impl Segmenter for Squares {
    type Embedding = (usize, usize);
    type State = Vec<bool>;

    fn embed(&self, image: &RgbImage) -> Result<(usize, usize), samkit_eval::BoxError> {
        Ok((image.width() as usize, image.height() as usize))
    }

    fn predict(
        &self,
        &(w, h): &(usize, usize),
        clicks: &[Click],
        prev: Option<&Vec<bool>>,
    ) -> Result<Segmentation<Vec<bool>>, samkit_eval::BoxError> {
        assert_eq!((w, h), (self.w, self.h));
        let mut mask = prev.cloned().unwrap_or_else(|| vec![false; w * h]);
        for c in clicks {
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    if (x - c.x as i64).abs() <= self.r && (y - c.y as i64).abs() <= self.r {
                        mask[y as usize * w + x as usize] = c.positive;
                    }
                }
            }
        }
        Ok(Segmentation {
            mask: mask.clone(),
            state: mask,
        })
    }
}

const W: u32 = 40;
const H: u32 = 30;

fn write_set(root: &Path) -> DatasetPaths {
    let paths = DatasetPaths {
        images: root.join("images"),
        masks: root.join("masks"),
        ignore: Some(root.join("ignore")),
    };
    for d in [&paths.images, &paths.masks, paths.ignore.as_ref().unwrap()] {
        std::fs::create_dir_all(d).unwrap();
    }
    // "square": one object, an 11×11 square with top-left (5, 5): centre (10, 10), and the
    // fake's r = 5 square covers it exactly at click 1.
    RgbImage::new(W, H)
        .save(paths.images.join("square.png"))
        .unwrap();
    GrayImage::from_fn(W, H, |x, y| {
        Luma([if (5..16).contains(&x) && (5..16).contains(&y) {
            255
        } else {
            0
        }])
    })
    .save(paths.masks.join("square.png"))
    .unwrap();
    // "two": instance 1 = a 21×11 bar at x 2..23, y 2..13 (centre (12, 7)); instance 2 = a
    // 5×5 square at x 30..35, y 20..25 (centre (32, 22)). The right half of the bar is ignored
    // (x ≥ 13, y < 15).
    RgbImage::new(W, H)
        .save(paths.images.join("two.jpg"))
        .unwrap();
    GrayImage::from_fn(W, H, |x, y| {
        Luma([if (2..23).contains(&x) && (2..13).contains(&y) {
            1
        } else if (30..35).contains(&x) && (20..25).contains(&y) {
            2
        } else {
            0
        }])
    })
    .save(paths.masks.join("two.png"))
    .unwrap();
    GrayImage::from_fn(W, H, |x, y| Luma([if x >= 13 && y < 15 { 255 } else { 0 }]))
        .save(paths.ignore.as_ref().unwrap().join("two.png"))
        .unwrap();
    // "empty": no object: skipped and reported.
    RgbImage::new(W, H)
        .save(paths.images.join("empty.png"))
        .unwrap();
    GrayImage::new(W, H)
        .save(paths.masks.join("empty.png"))
        .unwrap();
    paths
}

fn run(dataset: &Dataset, done: &HashSet<samkit_eval::RunKey>) -> Vec<samkit_eval::InstanceResult> {
    let seg = Squares {
        w: W as usize,
        h: H as usize,
        r: 5,
    };
    evaluate(
        &seg,
        dataset,
        &EvalConfig {
            max_clicks: 5,
            variants: Variant::ALL.to_vec(),
        },
        done,
        &indicatif::ProgressBar::hidden(),
        |_| Ok(()),
    )
    .unwrap()
}

#[test]
fn synthetic_set_gives_the_clicks_known_by_construction() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = write_set(tmp.path());
    let dataset = Dataset::scan(&paths).unwrap();
    assert_eq!(
        dataset
            .samples
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["square", "two"]
    );
    assert_eq!(dataset.skipped.len(), 1);
    assert_eq!(dataset.skipped[0].name, "empty");
    assert_eq!(dataset.instance_count(), 3);

    let results = run(&dataset, &HashSet::new());
    assert_eq!(results.len(), 6);
    let get = |name: &str, id: u32, v: Variant| {
        results
            .iter()
            .find(|r| r.name == name && r.instance == id && r.variant == v)
            .unwrap()
    };
    for v in Variant::ALL {
        // square: click 1 at the centre covers the object exactly: IoU 1, stop.
        let r = get("square", 255, v);
        assert_eq!(r.clicks, vec![[10, 10, 1]]);
        assert_eq!(r.ious, vec![1.0; 5]);
        assert_eq!(r.decoder_s.len(), 1);

        // two#2: the 5×5 square, centre (32, 22); the fake's 11×11 square covers it plus 96
        // false-positive pixels: IoU 25/121. The next click is negative at the FP pixel
        // farthest from the FP boundary.
        let r = get("two", 2, v);
        assert_eq!(r.clicks[0], [22, 32, 1]);
        assert!((r.ious[0] - (25.0f64 / 121.0 * 1e6).round() / 1e6).abs() < 1e-12);
        assert_eq!(r.clicks[1][2], 0);

        // two#1: the visible part of the bar is x 2..13 (11 wide), y 2..13: its farthest
        // pixel from the boundary of FN (ignored pixels are not FN, so the ignore band is a
        // boundary) is its centre (7, 7); the fake's 11×11 square there covers it exactly.
        let r = get("two", 1, v);
        assert_eq!(r.clicks, vec![[7, 7, 1]]);
        assert_eq!(r.ious[0], 1.0);
    }
    // The variants differ after the negative click: with `prev` the old square is kept and the
    // negative square removes part of the object too.
    let p = get("two", 2, Variant::Prev);
    let n = get("two", 2, Variant::Nomask);
    assert_eq!(p.clicks[..2], n.clicks[..2]);

    let summary = Summary::new(&results, 5);
    let s = summary.variant(Variant::Nomask).unwrap();
    assert_eq!(s.n, 3);
    assert_eq!(summary.images, 2);

    // JSON files, resume and plot.
    let out = OutputPaths::for_json(&tmp.path().join("out/run.json"));
    std::fs::create_dir_all(tmp.path().join("out")).unwrap();
    let header = RunHeader {
        samkit_eval_progress: RunHeader::VERSION,
        model: "squares".into(),
        max_clicks: 5,
        images: paths.images.clone(),
        masks: paths.masks.clone(),
        ignore: paths.ignore.clone(),
        strategy: Default::default(),
        zoom: None,
        flip: false,
    };
    let (mut log, prev) = ProgressLog::open(&out.progress, &header, true).unwrap();
    assert!(prev.is_empty());
    // Pretend the run stopped after the first two results.
    for r in &results[..2] {
        log.append(r).unwrap();
    }
    drop(log);
    let (_, prev) = ProgressLog::open(&out.progress, &header, true).unwrap();
    let done: HashSet<_> = prev.iter().map(|r| r.key()).collect();
    let rest = run(&dataset, &done);
    assert_eq!(rest.len(), 4);
    let mut all = prev;
    all.extend(rest);
    let strip = |mut r: samkit_eval::InstanceResult| {
        r.decoder_s.clear();
        r.encoder_s = 0.0;
        r
    };
    let mut a: Vec<_> = all.into_iter().map(strip).collect();
    let mut b: Vec<_> = results.clone().into_iter().map(strip).collect();
    a.sort_by_key(|r| r.key());
    b.sort_by_key(|r| r.key());
    assert_eq!(a, b, "a resumed run gives the same results");

    samkit_eval::output::write_clicks(&out.clicks(Variant::Prev), &results, Variant::Prev).unwrap();
    let text = std::fs::read_to_string(out.clicks(Variant::Prev)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v[0]["name"], "square");
    assert_eq!(v[0]["clicks"], serde_json::json!([[10, 10, 1]]));
    assert_eq!(v[0]["H"], 30);

    let curves: Vec<Curve> = summary
        .variants
        .iter()
        .map(|s| Curve {
            label: s.variant.name().into(),
            miou: s.miou.clone(),
        })
        .collect();
    plot_miou(&tmp.path().join("out/plot.png"), "synthetic", &curves).unwrap();
}
