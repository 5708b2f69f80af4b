//! Zoom-in refinement in the API with the real model: on an image larger than the model's
//! view, the second click is decoded on a crop around the mask (encoded ahead after the
//! first click, then reused), its mask pasted back in image coordinates; never on an image
//! the model already sees whole, nor with `"zoom": false` or `--no-zoom`.

mod common;

use std::path::Path;

use common::{id_of, start, start_with, wait_all_encoded};
use samkit_mask::{CocoRle, Mask};
use samkit_server::client::Client;
use serde_json::{json, Value};

/// A textured red disc of radius `r` at (`cx`, `cy`) on grey stripes.
fn write_image(path: &Path, w: u32, h: u32, (cx, cy, r): (f64, f64, f64)) {
    image::RgbImage::from_fn(w, h, |x, y| {
        if (f64::from(x) - cx).hypot(f64::from(y) - cy) <= r {
            let t = ((x / 6 + y / 6) % 2) as u8 * 30;
            image::Rgb([200 + t / 2, 40 + t, 30])
        } else {
            let v = if (x + y) / 24 % 2 == 0 { 90 } else { 130 };
            image::Rgb([v, v, v + 20])
        }
    })
    .save(path)
    .unwrap();
}

fn disc(w: u32, h: u32, (cx, cy, r): (f64, f64, f64)) -> Mask {
    Mask::from_fn(w, h, |x, y| {
        (f64::from(x) - cx).hypot(f64::from(y) - cy) <= r
    })
    .unwrap()
}

fn mask_of(candidate: &Value) -> Mask {
    let r: CocoRle = serde_json::from_value(candidate["rle"].clone()).unwrap();
    r.decode()
}

/// Embedding files under the cache folder `dir`.
fn cached_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.flatten()
            .map(|e| {
                if e.path().is_dir() {
                    cached_files(&e.path())
                } else {
                    usize::from(e.path().extension().is_some_and(|x| x == "emb"))
                }
            })
            .sum()
    })
}

async fn predict(c: &Client, id: i64, body: Value) -> Value {
    let r = c
        .post(&format!("/api/images/{id}/predict"), &body)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    r.json()
}

const BIG: (f64, f64, f64) = (1700.0, 500.0, 60.0);
const SMALL: (f64, f64, f64) = (500.0, 200.0, 60.0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_click_on_a_large_image_is_decoded_on_a_crop() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("big.png"), 2400, 1600, BIG);
    write_image(&dir.path().join("small.png"), 800, 600, SMALL);
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Some(common::model_loader()), cache.path()).await;
    let c = &s.client;
    wait_all_encoded(c, 300).await;
    let imgs = c.get("/api/images").await.unwrap().json();
    let big = id_of(&imgs, "big.png");
    let truth = disc(2400, 1600, BIG);

    // Click 1: the whole image; the crop around its mask is encoded ahead.
    let before = cached_files(cache.path());
    let p1 = json!({"x": 1700, "y": 500, "label": "positive"});
    let first = predict(c, big, json!({"points": [p1]})).await;
    assert!(first["zoom"].is_null(), "{}", first["zoom"]);
    let t = std::time::Instant::now();
    while cached_files(cache.path()) == before {
        assert!(t.elapsed().as_secs() < 120, "no crop encoded ahead");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Click 2 inside the mask: decoded on that crop, nothing encoded for it.
    let p2 = json!({"x": 1720, "y": 530, "label": "positive"});
    let second = predict(
        c,
        big,
        json!({"points": [p1, p2], "prev": first["token"], "multimask": false}),
    )
    .await;
    let zoom = &second["zoom"];
    let crop: Vec<u32> = serde_json::from_value(zoom["crop"].clone()).unwrap();
    assert_eq!(zoom["encode_ms"], 0.0, "encoded ahead: {zoom}");
    // Around the disc (1640..1760 × 440..560), at least 200 px, far smaller than the image.
    assert!(crop[0] <= 1640 && crop[1] <= 440 && crop[2] >= 1761 && crop[3] >= 561);
    assert!(
        crop[2] - crop[0] >= 200 && crop[2] - crop[0] < 1024,
        "{crop:?}"
    );
    let mask = mask_of(&second["candidates"][0]);
    assert_eq!((mask.width(), mask.height()), (2400, 1600));
    let iou = mask.iou(&truth).unwrap();
    assert!(iou > 0.9, "IoU with the disc {iou:.3}");
    // Pasted: nothing outside the crop.
    let outside = Mask::from_fn(2400, 1600, |x, y| {
        x < crop[0] || x >= crop[2] || y < crop[1] || y >= crop[3]
    })
    .unwrap();
    assert_eq!(mask.intersection(&outside).unwrap().area(), 0);

    // Click 3 (a negative one outside the disc, inside the crop): the same crop, reused.
    let p3 = json!({"x": 1700, "y": 590, "label": "negative"});
    let third = predict(
        c,
        big,
        json!({"points": [p1, p2, p3], "prev": second["token"], "multimask": false}),
    )
    .await;
    assert_eq!(third["zoom"]["crop"], zoom["crop"]);
    assert_eq!(third["zoom"]["encode_ms"], 0.0);
    assert!(mask_of(&third["candidates"][0]).iou(&truth).unwrap() > 0.9);

    // Click 4, negative, just beyond the crop's left edge: RITM's rule keeps the crop (the
    // positive clicks are inside, the new region overlaps it), and the click, beyond it,
    // is left out of the crop's prompt instead of refused.
    let p4 = json!({"x": crop[0] - 5, "y": 500, "label": "negative"});
    let fourth = predict(
        c,
        big,
        json!({"points": [p1, p2, p3, p4], "prev": third["token"], "multimask": false}),
    )
    .await;
    assert_eq!(fourth["zoom"]["crop"], zoom["crop"]);
    assert!(mask_of(&fourth["candidates"][0]).iou(&truth).unwrap() > 0.9);

    // A zoomed prediction's token refines on the whole image as well.
    let plain = predict(
        c,
        big,
        json!({"points": [p1, p2, p3, p4], "prev": fourth["token"], "multimask": false, "zoom": false}),
    )
    .await;
    assert!(plain["zoom"].is_null());
    assert!(mask_of(&plain["candidates"][0]).iou(&truth).unwrap() > 0.8);

    // An image the model sees whole is never zoomed.
    let small = id_of(&imgs, "small.png");
    let q1 = json!({"x": 500, "y": 200, "label": "positive"});
    let q2 = json!({"x": 520, "y": 230, "label": "positive"});
    let a = predict(c, small, json!({"points": [q1]})).await;
    let b = predict(
        c,
        small,
        json!({"points": [q1, q2], "prev": a["token"], "multimask": false}),
    )
    .await;
    assert!(b["zoom"].is_null());
    assert!(
        mask_of(&b["candidates"][0])
            .iou(&disc(800, 600, SMALL))
            .unwrap()
            > 0.9
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_zoom_serves_whole_image_refinements() {
    let dir = tempfile::tempdir().unwrap();
    write_image(&dir.path().join("big.png"), 2400, 1600, BIG);
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = samkit_server::Config::new(dir.path());
    cfg.cache_dir = Some(cache.path().to_path_buf());
    cfg.zoom = None;
    let s = start_with(cfg, Some(common::model_loader())).await;
    let c = &s.client;
    wait_all_encoded(c, 300).await;
    let imgs = c.get("/api/images").await.unwrap().json();
    let big = id_of(&imgs, "big.png");
    let encoded = cached_files(cache.path());
    let p1 = json!({"x": 1700, "y": 500, "label": "positive"});
    let p2 = json!({"x": 1720, "y": 530, "label": "positive"});
    let first = predict(c, big, json!({"points": [p1]})).await;
    let second = predict(
        c,
        big,
        json!({"points": [p1, p2], "prev": first["token"], "multimask": false}),
    )
    .await;
    assert!(second["zoom"].is_null());
    assert_eq!(cached_files(cache.path()), encoded, "no crop encoded");
}
