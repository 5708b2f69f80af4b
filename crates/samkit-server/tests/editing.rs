//! Editing accepted instances over the HTTP API: a prediction that starts from a mask
//! (`mask_input`), SAM's small-region clean-up (`min_region_area`), a PATCH that clears
//! the score or sets the drawing order (`z`), a mask's outline as polygons.

mod common;

use common::{rle, start, start_on, write_png, Db};
use serde_json::json;

async fn patch_sets_z_and_clears_the_score_and_the_list_follows_z(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("a.png"), 40, 30);
    let cache = tempfile::tempdir().unwrap();
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
    let c = s.client.as_user("alice");
    let mut ids = Vec::new();
    for k in 0..3 {
        let r = c
            .post(
                "/api/images/1/instances",
                &json!({"rle": rle(30, 40, 100 * k, 50), "score": 0.9}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["z"], 0);
        ids.push(r.json()["id"].as_i64().unwrap());
    }
    // Bring the first to the front.
    let r = c
        .patch(
            &format!("/api/instances/{}", ids[0]),
            &json!({"version": 1, "z": 1}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        (r.json()["z"].as_i64(), r.json()["version"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(r.json()["score"], 0.9, "an absent score is unchanged");
    let list = c.get("/api/images/1/instances").await.unwrap().json();
    let order: Vec<i64> = list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [ids[1], ids[2], ids[0]]);
    // A hand-edited mask has no predicted score: null clears it.
    let r = c
        .patch(
            &format!("/api/instances/{}", ids[1]),
            &json!({"version": 1, "rle": rle(30, 40, 0, 10), "score": null}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        (r.json()["score"].clone(), r.json()["area"].as_i64()),
        (json!(null), Some(10))
    );
    // The outline of a mask (for the Polygon tool): one run of 50 pixels down column 2
    // of the 40 x 30 image (COCO RLE is column-major) is one rectangle, no hole.
    let r = c
        .post(
            "/api/images/1/outline",
            &json!({"rle": rle(30, 40, 60, 20), "tolerance": 0}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let parts = r.json()["parts"].clone();
    assert_eq!(parts.as_array().unwrap().len(), 1, "{parts}");
    assert_eq!(parts[0]["holes"], json!([]));
    let mut xs: Vec<f64> = parts[0]["exterior"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_f64().unwrap())
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    assert_eq!(xs, [2.0, 3.0], "column 2 spans x = 2..3");
    for bad in [
        json!({"rle": rle(30, 40, 60, 20), "tolerance": -1}),
        json!({"rle": rle(30, 40, 60, 20), "tolerance": 50}),
        json!({"rle": rle(10, 10, 0, 5)}),
    ] {
        let r = c.post("/api/images/1/outline", &bad).await.unwrap();
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
    }
    // A stale z is a conflict like any other stale write.
    let r = c
        .patch(
            &format!("/api/instances/{}", ids[0]),
            &json!({"version": 1, "z": -1}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_from_a_mask_and_clean_small_regions() {
    let dir = tempfile::tempdir().unwrap();
    samkit_server::demo::write_samples(dir.path()).unwrap();
    for n in samkit_server::demo::sample_names() {
        if n != "coffee.png" {
            let _ = std::fs::remove_file(dir.path().join(n));
        }
    }
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Some(common::model_loader()), cache.path()).await;
    let c = s.client.as_user("alice");
    let predict = |body: serde_json::Value| {
        let c = c.clone();
        async move { c.post("/api/images/1/predict", &body).await.unwrap() }
    };
    // The cup of coffee.png (600 × 400) from a box.
    let cup_box = json!([170, 15, 415, 305]);
    let r = predict(json!({"box": cup_box, "multimask": false, "wait_ms": 60000})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let cup = r.json()["candidates"][0].clone();
    let cup_area = cup["area"].as_i64().unwrap();
    assert_eq!(cup["cleaned_px"], 0, "no clean-up unless asked");
    // Edited later: its mask, its box and a negative click on the handle cut the handle out.
    let handle = json!([{"x": 225, "y": 270, "label": "negative"}]);
    let r = predict(
        json!({"points": handle, "box": cup_box, "mask_input": cup["rle"], "multimask": false}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let cut = r.json()["candidates"][0]["area"].as_i64().unwrap();
    assert!(
        cut < cup_area * 95 / 100 && cut > cup_area / 2,
        "{cup_area} -> {cut}"
    );
    // prev and mask_input together, or a mask of another size: clear errors.
    let both =
        predict(json!({"points": handle, "mask_input": cup["rle"], "prev": r.json()["token"]}))
            .await;
    assert_eq!(both.status, 400);
    assert!(String::from_utf8_lossy(&both.body).contains("not both"));
    let small = predict(json!({"points": handle, "mask_input": rle(10, 10, 0, 5)})).await;
    assert_eq!(small.status, 400);
    assert!(String::from_utf8_lossy(&small.body).contains("mask_input size is [10, 10]"));
    // Negative clicks speckle the saucer's mask; the clean-up removes what is below the area.
    let speckled = json!([
        {"x": 130, "y": 300, "label": "positive"}, {"x": 290, "y": 200, "label": "negative"},
        {"x": 420, "y": 280, "label": "negative"}, {"x": 200, "y": 350, "label": "negative"}]);
    let raw = predict(json!({"points": speckled, "multimask": false}))
        .await
        .json();
    let clean = predict(json!({"points": speckled, "multimask": false, "min_region_area": 100}))
        .await
        .json();
    let (raw, clean) = (&raw["candidates"][0], &clean["candidates"][0]);
    let changed = clean["cleaned_px"].as_i64().unwrap();
    assert!(changed > 0, "{clean}");
    assert!((raw["area"].as_i64().unwrap() - clean["area"].as_i64().unwrap()).abs() <= changed);
    assert_eq!(
        raw["iou"], clean["iou"],
        "the score is SAM's, before the clean-up"
    );
    let bad = predict(json!({"points": speckled, "min_region_area": -5})).await;
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("min_region_area must be a whole number"));
}

on_both_backends!(patch_sets_z_and_clears_the_score_and_the_list_follows_z);
