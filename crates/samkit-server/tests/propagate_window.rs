//! Volumes in the web app's API: the window of a volume (`/window`, a preview through
//! `/file?window=`, the slices re-encoded through a new one) and propagation of an
//! accepted mask from slice to slice with the real model (`/propagate`) on synthetic
//! volumes written by nibabel: a sphere and a moving disc.

mod common;

use std::path::Path;
use std::process::Command;

use common::{id_of, start};
use samkit_mask::{CocoRle, Mask};
use serde_json::{json, Value};

/// Writes `sphere.nii.gz` (96 × 96 × 15: radius 20 voxels, slices 3 voxels apart,
/// centre (48, 48, 7), so slices 0 and 14 are empty) and `moving.nii.gz` (96 × 96 × 11:
/// a disc of radius 14 whose centre moves 3 px right per slice from x = 33), both
/// 300 on a noisy background of 50.
fn write_volumes(dir: &Path, which: &[&str]) {
    let script = r#"
import sys
import numpy as np, nibabel as nib
out, which = sys.argv[1], sys.argv[2].split(",")
rng = np.random.default_rng(7)
def save(name, inside, depth):
    vol = 50.0 + rng.normal(0, 8, (96, 96, depth))
    vol[inside] = 300.0 + rng.normal(0, 8, int(inside.sum()))
    nib.save(nib.Nifti1Image(vol.astype(np.float32), np.eye(4)), f"{out}/{name}")
i, j, k = np.meshgrid(np.arange(96), np.arange(96), np.arange(15), indexing="ij")
if "sphere" in which:
    save("sphere.nii.gz", np.hypot(np.hypot(i - 48, j - 48), (k - 7) * 3) < 20, 15)
i, j, k = np.meshgrid(np.arange(96), np.arange(96), np.arange(11), indexing="ij")
if "moving" in which:
    save("moving.nii.gz", np.hypot(i - (33 + 3 * k), j - 48) < 14, 11)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .arg(which.join(","))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "writing the volumes failed (pip install -r requirements-test.txt):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sphere(k: u32) -> Mask {
    Mask::from_fn(96, 96, |x, y| {
        let d =
            ((f64::from(x) - 48.0).hypot(f64::from(y) - 48.0)).hypot((f64::from(k) - 7.0) * 3.0);
        d < 20.0
    })
    .unwrap()
}

fn moving(k: u32) -> Mask {
    Mask::from_fn(96, 96, |x, y| {
        (f64::from(x) - (33.0 + 3.0 * f64::from(k))).hypot(f64::from(y) - 48.0) < 14.0
    })
    .unwrap()
}

fn rle_json(m: &Mask) -> Value {
    let r = CocoRle::encode(m);
    json!({"size": [r.height(), r.width()], "counts": r.counts()})
}

fn mask_of(v: &Value) -> Mask {
    let r: CocoRle = serde_json::from_value(v.clone()).unwrap();
    r.decode()
}

/// Propagates from the instance on slice `start` of `file` towards `step` (+1/−1) until
/// the server stops; returns the slices reached with their masks, and why it stopped.
async fn walk(
    c: &samkit_server::client::Client,
    imgs: &Value,
    file: &str,
    depth: u32,
    start: u32,
    from: i64,
    step: i32,
) -> (Vec<(u32, Mask, f64)>, Option<(u32, Value)>) {
    let mut from = from;
    let mut got = Vec::new();
    let mut z = start as i32 + step;
    while (0..depth as i32).contains(&z) {
        let id = id_of(imgs, &format!("{file}#z={z:02}"));
        let r = c
            .post(
                &format!("/api/images/{id}/propagate"),
                &json!({"from_instance": from, "wait_ms": 120000}),
            )
            .await
            .unwrap();
        let v = r.json();
        if r.status == 200 {
            assert!(v["instance"].is_null(), "{v}");
            return (got, Some((z as u32, v["stopped"].clone())));
        }
        assert_eq!(r.status, 201, "slice {z}: {v}");
        let inst = &v["instance"];
        assert_eq!(inst["image_id"], id);
        assert_eq!(inst["prompts"]["propagated_from"], from);
        from = inst["id"].as_i64().unwrap();
        got.push((z as u32, mask_of(&inst["rle"]), v["iou"].as_f64().unwrap()));
        z += step;
    }
    (got, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagation_follows_a_sphere_and_a_moving_disc_slice_by_slice() {
    let dir = tempfile::tempdir().unwrap();
    write_volumes(dir.path(), &["sphere", "moving"]);
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Some(common::model_loader()), cache.path()).await;
    let c = &s.client;
    let imgs = c.get("/api/images").await.unwrap().json();

    type Truth = fn(u32) -> Mask;
    for (file, depth, mid, truth, ends) in [
        ("sphere.nii.gz", 15u32, 7u32, sphere as Truth, true),
        ("moving.nii.gz", 11, 5, moving as Truth, false),
    ] {
        // The annotator's accepted mask on the middle slice.
        let id = id_of(&imgs, &format!("{file}#z={mid:02}"));
        let r = c
            .post(
                &format!("/api/images/{id}/instances"),
                &json!({"rle": rle_json(&truth(mid))}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201);
        let first = r.json()["id"].as_i64().unwrap();
        let mut reached = vec![mid];
        for step in [1, -1] {
            let (got, stopped) = walk(c, &imgs, file, depth, mid, first, step).await;
            for (z, mask, iou) in &got {
                let gt = truth(*z);
                let overlap = mask.iou(&gt).unwrap();
                assert!(
                    overlap >= 0.9,
                    "{file} slice {z}: IoU with the truth {overlap:.3} (predicted {iou:.3})"
                );
                reached.push(*z);
            }
            if ends {
                // The sphere ends before the volume does: propagation stops on the empty
                // slice without adding a mask there.
                let (z, why) = stopped.unwrap_or_else(|| panic!("{file}: did not stop"));
                assert!(
                    truth(z).is_empty(),
                    "{file}: stopped at slice {z}, where the sphere is ({why})"
                );
                assert!(why["message"].as_str().unwrap().contains(file), "{why}");
            } else {
                assert!(stopped.is_none(), "{file}: stopped early: {stopped:?}");
            }
        }
        reached.sort();
        let want: Vec<u32> = (0..depth).filter(|&z| !truth(z).is_empty()).collect();
        assert_eq!(
            reached, want,
            "{file}: every slice with the object has its mask"
        );

        // Propagating again over slices done adds nothing: the object is there already.
        let next = id_of(&imgs, &format!("{file}#z={:02}", mid + 1));
        let r = c
            .post(
                &format!("/api/images/{next}/propagate"),
                &json!({"from_instance": first}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["stopped"]["code"], "exists", "{}", r.json());
    }

    // Refused: a slice of another volume, and a slice of its own.
    let other = id_of(&imgs, "moving.nii.gz#z=03");
    let own = c
        .get(&format!(
            "/api/images/{}/instances",
            id_of(&imgs, "sphere.nii.gz#z=07")
        ))
        .await
        .unwrap()
        .json()["instances"][0]["id"]
        .as_i64()
        .unwrap();
    for target in [other, id_of(&imgs, "sphere.nii.gz#z=07")] {
        let r = c
            .post(
                &format!("/api/images/{target}/propagate"),
                &json!({"from_instance": own}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["code"], "not_same_volume", "{}", r.json());
    }
    let r = c
        .post(
            &format!("/api/images/{other}/propagate"),
            &json!({"from_instance": own, "min_iou": 2}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    s.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_window_is_previewed_set_for_every_slice_and_re_encoded() {
    let dir = tempfile::tempdir().unwrap();
    write_volumes(dir.path(), &["moving"]);
    common::write_png(&dir.path().join("photo.png"), 64, 48);
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = samkit_server::Config::new(dir.path());
    cfg.cache_dir = Some(cache.path().to_path_buf());
    cfg.prefetch = 32; // every image, so that all are encoded without being asked
    let s = common::start_with(cfg, Some(common::model_loader())).await;
    let c = &s.client;
    let imgs = c.get("/api/images").await.unwrap().json();
    let slice = id_of(&imgs, "moving.nii.gz#z=04");
    let photo = id_of(&imgs, "photo.png");

    let w = c.get(&format!("/api/images/{photo}/window")).await.unwrap();
    assert_eq!(w.json()["windowable"], false);
    let r = c
        .put(
            &format!("/api/images/{photo}/window"),
            &json!({"center": 40, "width": 400}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!("not_windowable"))
    );

    // The file's own window: the slice's percentile range (a NIfTI has none).
    let w = c
        .get(&format!("/api/images/{slice}/window"))
        .await
        .unwrap()
        .json();
    assert_eq!(w["windowable"], true);
    assert_eq!(
        (w["file"].clone(), w["slice"].clone()),
        (json!("moving.nii.gz"), json!(4))
    );
    assert_eq!(w["chosen"], false);
    assert_eq!(w["center"], w["default"]["center"]);
    let (lo, hi) = (
        w["range"][0].as_f64().unwrap(),
        w["range"][1].as_f64().unwrap(),
    );
    assert!(lo < 50.0 && hi > 300.0, "{w}");
    let before = c.get(&format!("/api/images/{slice}/file")).await.unwrap();
    let etag = before.header("etag").unwrap().to_string();

    // A preview through a narrow window around the disc's value: disc white, rest black.
    let p = c
        .get(&format!("/api/images/{slice}/file?window=175,20"))
        .await
        .unwrap();
    assert_eq!(p.status, 200);
    assert_eq!(p.header("cache-control"), Some("no-store"));
    let shown = image::load_from_memory(&p.body).unwrap().to_luma8();
    assert_eq!(
        shown.get_pixel(45, 48)[0],
        255,
        "inside the disc (centre x 45)"
    );
    assert_eq!(shown.get_pixel(5, 5)[0], 0, "the background");
    for bad in ["300", "300,0", "a,b", "1e11,5"] {
        let r = c
            .get(&format!("/api/images/{slice}/file?window={bad}"))
            .await
            .unwrap();
        assert_eq!(r.status, 400, "window={bad}");
        assert!(
            r.json()["error"].as_str().unwrap().contains("window"),
            "{}",
            r.json()
        );
    }

    // Set: every slice of the file is shown through it (a new ETag), and every slice's
    // embedding is made again from the new pixels (a new cache file each).
    common::wait_all_encoded(c, 300).await;
    let cached = || {
        walkdir(cache.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "emb"))
            .count()
    };
    assert_eq!(cached(), 12, "11 slices and the photo");
    let r = c
        .put(
            &format!("/api/images/{slice}/window"),
            &json!({"center": 175, "width": 20}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    let v = r.json();
    assert_eq!(
        (v["center"].clone(), v["width"].clone(), v["chosen"].clone()),
        (json!(175.0), json!(20.0), json!(true))
    );
    assert_eq!(v["images"].as_array().unwrap().len(), 11);
    let after = c.get(&format!("/api/images/{slice}/file")).await.unwrap();
    assert_ne!(after.header("etag").unwrap(), etag);
    assert_eq!(
        image::load_from_memory(&after.body).unwrap().to_luma8(),
        shown,
        "shown as previewed"
    );
    let other = c
        .get(&format!(
            "/api/images/{}/file",
            id_of(&imgs, "moving.nii.gz#z=02")
        ))
        .await
        .unwrap();
    let other = image::load_from_memory(&other.body).unwrap().to_luma8();
    assert_eq!(
        (other.get_pixel(39, 48)[0], other.get_pixel(5, 5)[0]),
        (255, 0),
        "another slice of the volume, through the same window"
    );
    let photo_file = c.get(&format!("/api/images/{photo}/file")).await.unwrap();
    assert_eq!(photo_file.status, 200);
    for i in imgs["images"].as_array().unwrap() {
        let r = c
            .post(
                &format!("/api/images/{}/embed", i["id"]),
                &json!({"priority": "background"}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 202);
    }
    common::wait_all_encoded(c, 300).await;
    assert_eq!(
        cached(),
        23,
        "each slice encoded again through the new window"
    );

    // Back to the file's own window: shown as before.
    let r = c
        .put(
            &format!("/api/images/{slice}/window"),
            &json!({"reset": true}),
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.json()["chosen"].clone()), (200, json!(false)));
    let again = c.get(&format!("/api/images/{slice}/file")).await.unwrap();
    assert_eq!(again.header("etag").unwrap(), etag);
    for bad in [
        json!({"center": 1}),
        json!({"reset": true, "width": 3}),
        json!({"center": 1, "width": 0}),
    ] {
        let r = c
            .put(&format!("/api/images/{slice}/window"), &bad)
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{bad}");
    }
    s.task.abort();
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}
