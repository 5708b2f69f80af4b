//! HTTP API tests without the model: project scan, instances with optimistic
//! concurrency, history, categories, export/import, errors.

mod common;

use common::{rle, start_on, write_png, Db};
use serde_json::json;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("a.png"), 40, 30);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write_png(&dir.path().join("sub/b.png"), 20, 10);
    std::fs::write(dir.path().join("notes.txt"), "hi").unwrap();
    std::fs::write(dir.path().join("broken.jpg"), "not a jpeg").unwrap();
    dir
}

async fn project_scan_files_and_missing(db: Db) {
    let dir = project();
    let cache = tempfile::tempdir().unwrap();
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
    let c = &s.client;
    let h = c.get("/api/health").await.unwrap().json();
    assert_eq!(h["model"]["state"], "disabled");
    let p = c.get("/api/project").await.unwrap().json();
    assert_eq!(p["counts"]["images"], 2);
    let skipped: Vec<_> = p["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["broken.jpg", "notes.txt"]);
    assert!(p["skipped"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("not an image"));
    assert_eq!(p["categories"][0]["name"], "object");
    let imgs = c.get("/api/images").await.unwrap().json();
    let names: Vec<_> = imgs["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.png", "sub/b.png"]);
    assert_eq!(
        (
            imgs["images"][0]["width"].as_i64(),
            imgs["images"][0]["height"].as_i64()
        ),
        (Some(40), Some(30))
    );
    let f = c.get("/api/images/1/file").await.unwrap();
    assert_eq!(
        (f.status, f.header("content-type")),
        (200, Some("image/png"))
    );
    assert_eq!(f.body, std::fs::read(dir.path().join("a.png")).unwrap());
    // Predicting without a model: a clear 503.
    let r = c
        .post(
            "/api/images/1/predict",
            &json!({"points": [{"x": 1, "y": 1, "label": "positive"}]}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (503, Some("model_failed"))
    );
    // Deleted from disk: flagged, file 410, annotations kept.
    let i = c
        .post(
            "/api/images/1/instances",
            &json!({"rle": rle(30, 40, 0, 5)}),
        )
        .await
        .unwrap();
    assert_eq!(i.status, 201);
    std::fs::remove_file(dir.path().join("a.png")).unwrap();
    let r = c.post("/api/rescan", &json!({})).await.unwrap().json();
    assert_eq!(r["missing"], 1);
    let img = c.get("/api/images/1").await.unwrap().json();
    assert_eq!(
        (img["missing"].as_bool(), img["instance_count"].as_i64()),
        (Some(true), Some(1))
    );
    let f = c.get("/api/images/1/file").await.unwrap();
    assert_eq!(
        (f.status, f.json()["code"].as_str()),
        (410, Some("image_missing"))
    );
    write_png(&dir.path().join("a.png"), 40, 30);
    let r = c.post("/api/rescan", &json!({})).await.unwrap().json();
    assert_eq!(r["returned"], 1);
    assert_eq!(
        c.get("/api/images/1").await.unwrap().json()["missing"],
        false
    );
}

async fn exif_rotated_image_is_served_as_the_engine_sees_it(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    // A 40×20 JPEG with EXIF orientation 6 (rotate 90° clockwise) → shown as 20×40.
    let img = image::RgbImage::from_pixel(40, 20, image::Rgb([200, 100, 50]));
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let tiff: Vec<u8> = [
        &b"II*\0"[..],
        &8u32.to_le_bytes(),
        &1u16.to_le_bytes(),
        &0x0112u16.to_le_bytes(),
        &3u16.to_le_bytes(),
        &1u32.to_le_bytes(),
        &6u16.to_le_bytes(),
        &[0, 0],
        &0u32.to_le_bytes(),
    ]
    .concat();
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    std::fs::write(dir.path().join("rot.jpg"), &out).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
    let i = s.client.get("/api/images/1").await.unwrap().json();
    assert_eq!(
        (i["width"].as_i64(), i["height"].as_i64()),
        (Some(20), Some(40)),
        "{i}"
    );
    let f = s.client.get("/api/images/1/file").await.unwrap();
    assert_eq!(f.header("content-type"), Some("image/png"));
    let shown = image::load_from_memory(&f.body).unwrap();
    assert_eq!((shown.width(), shown.height()), (20, 40));
}

async fn two_annotators_editing_one_instance_get_a_conflict(db: Db) {
    let dir = project();
    let cache = tempfile::tempdir().unwrap();
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
    let alice = s.client.as_user("alice");
    let bob = s.client.as_user("bob");
    let body = json!({"rle": rle(30, 40, 100, 50), "score": 0.9, "client_id": "c-1",
                      "prompts": {"points": [{"x": 3, "y": 4, "label": "positive"}]}});
    let r = alice.post("/api/images/1/instances", &body).await.unwrap();
    assert_eq!(r.status, 201);
    let inst = r.json();
    let id = inst["id"].as_i64().unwrap();
    assert_eq!(
        (
            inst["version"].as_i64(),
            inst["author"].as_str(),
            inst["area"].as_i64()
        ),
        (Some(1), Some("alice"), Some(50))
    );
    assert_eq!(inst["rle"], rle(30, 40, 100, 50));
    // A retried create (same client_id) is not a duplicate.
    let again = alice.post("/api/images/1/instances", &body).await.unwrap();
    assert_eq!((again.status, again.json()["id"].as_i64()), (200, Some(id)));
    // Both read version 1; alice writes first, bob's stale write is refused.
    let cat = alice
        .post("/api/categories", &json!({"name": "dog"}))
        .await
        .unwrap()
        .json();
    let r = alice
        .patch(
            &format!("/api/instances/{id}"),
            &json!({"version": 1, "category_id": cat["id"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = bob
        .patch(
            &format!("/api/instances/{id}"),
            &json!({"version": 1, "rle": rle(30, 40, 0, 10)}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 409);
    let e = r.json();
    assert_eq!(e["code"], "conflict");
    assert_eq!(
        (
            e["conflict"]["author"].as_str(),
            e["conflict"]["current_version"].as_i64()
        ),
        (Some("alice"), Some(2))
    );
    let msg = e["error"].as_str().unwrap();
    assert!(
        msg.contains("changed by alice") && msg.contains("reload"),
        "{msg}"
    );
    assert_eq!(
        e["conflict"]["current"]["rle"],
        rle(30, 40, 100, 50),
        "current row in API form"
    );
    // Nothing was overwritten.
    let now = bob
        .get(&format!("/api/instances/{id}"))
        .await
        .unwrap()
        .json();
    assert_eq!(
        (now["area"].as_i64(), now["category_id"].clone()),
        (Some(50), cat["id"].clone())
    );
    // Stale delete refused; delete + undo.
    assert_eq!(
        bob.delete(&format!("/api/instances/{id}?version=1"))
            .await
            .unwrap()
            .status,
        409
    );
    let d = bob
        .delete(&format!("/api/instances/{id}?version=2"))
        .await
        .unwrap()
        .json();
    assert_eq!(
        (d["deleted"].as_bool(), d["version"].as_i64()),
        (Some(true), Some(3))
    );
    let r = alice
        .patch(
            &format!("/api/instances/{id}"),
            &json!({"version": 3, "score": 0.1}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (410, Some("deleted"))
    );
    assert!(
        alice.get("/api/images/1/instances").await.unwrap().json()["instances"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let u = bob
        .post(
            &format!("/api/instances/{id}/restore"),
            &json!({"version": 3}),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(
        (u["deleted"].as_bool(), u["version"].as_i64()),
        (Some(false), Some(4))
    );
    // History: every change, oldest first with `since`; restore a past state.
    let h = alice
        .get(&format!("/api/history?entity=instance&entity_id={id}"))
        .await
        .unwrap()
        .json();
    let actions: Vec<_> = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["restore", "delete", "update", "create"]);
    let create = &h["entries"][3];
    assert_eq!(create["after"]["rle"], rle(30, 40, 100, 50));
    let r = alice
        .post(
            &format!("/api/history/{}/restore", create["id"]),
            &json!({"version": 4}),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(
        (
            r["entity"].as_str(),
            r["current"]["category_id"].as_i64(),
            r["current"]["version"].as_i64()
        ),
        (Some("instance"), Some(1), Some(5))
    );
    let since = alice
        .get(&format!("/api/history?since={}", create["id"]))
        .await
        .unwrap()
        .json();
    assert_eq!(since["entries"].as_array().unwrap().len(), 5, "{since}");
    // Image status and guidelines use versions too.
    let img = alice
        .put(
            "/api/images/1/status",
            &json!({"status": "done", "version": 1}),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(
        (img["status"].as_str(), img["version"].as_i64()),
        (Some("done"), Some(2))
    );
    assert_eq!(
        bob.put(
            "/api/images/1/status",
            &json!({"status": "todo", "version": 1})
        )
        .await
        .unwrap()
        .status,
        409
    );
    let p = alice
        .put(
            "/api/project/guidelines",
            &json!({"guidelines": "# Dogs only", "version": 1}),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(
        (p["guidelines"].as_str(), p["guidelines_version"].as_i64()),
        (Some("# Dogs only"), Some(2))
    );
    assert_eq!(
        bob.put(
            "/api/project/guidelines",
            &json!({"guidelines": "x", "version": 1})
        )
        .await
        .unwrap()
        .status,
        409
    );
    // Categories: duplicate names refused, updates versioned.
    assert_eq!(
        bob.post("/api/categories", &json!({"name": "DOG"}))
            .await
            .unwrap()
            .status,
        409
    );
    let cid = cat["id"].as_i64().unwrap();
    let c2 = bob
        .patch(
            &format!("/api/categories/{cid}"),
            &json!({"version": 1, "color": "#00ff00"}),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(
        (c2["color"].as_str(), c2["version"].as_i64()),
        (Some("#00ff00"), Some(2))
    );
}

async fn bad_requests_are_json_errors(db: Db) {
    let dir = project();
    let cache = tempfile::tempdir().unwrap();
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
    let c = &s.client;
    let cases = [
        (
            "POST",
            "/api/images/1/instances",
            Some(json!({"rle": rle(10, 10, 0, 5)})),
            400,
        ),
        (
            "POST",
            "/api/images/1/instances",
            Some(json!({"rle": rle(30, 40, 0, 0)})),
            400,
        ),
        (
            "POST",
            "/api/images/1/instances",
            Some(json!({"rle": {"size": [30, 40], "counts": [1, 2]}})),
            400,
        ),
        (
            "POST",
            "/api/images/1/instances",
            Some(json!({"rle": rle(30, 40, 0, 5), "category_id": 99})),
            400,
        ),
        (
            "POST",
            "/api/images/99/instances",
            Some(json!({"rle": rle(30, 40, 0, 5)})),
            404,
        ),
        (
            "PUT",
            "/api/images/1/status",
            Some(json!({"status": "finished", "version": 1})),
            400,
        ),
        (
            "PUT",
            "/api/images/1/status",
            Some(json!({"status": "done"})),
            400,
        ),
        ("GET", "/api/images/abc", None, 400),
        ("GET", "/api/nothing", None, 404),
        ("DELETE", "/api/project", None, 405),
        ("DELETE", "/api/instances/1", None, 404),
        ("GET", "/api/export?format=tiff", None, 400),
        (
            "POST",
            "/api/import?format=coco",
            Some(json!({"images": 3})),
            422,
        ),
        (
            "POST",
            "/api/categories",
            Some(json!({"name": "x", "color": "red"})),
            400,
        ),
        ("POST", "/api/history/999/restore", Some(json!({})), 404),
        ("GET", "/nothing.js", None, 404),
    ];
    for (method, path, body, status) in cases {
        let body = body.map(|b| b.to_string().into_bytes());
        let r = c
            .send(method, path, body, "application/json")
            .await
            .unwrap();
        assert_eq!(
            r.status,
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let j = r.json();
        assert!(
            j["error"].is_string() && j["code"].is_string(),
            "{method} {path}: {j}"
        );
    }
    let r = c
        .send(
            "POST",
            "/api/images/1/instances",
            Some(b"{not json".to_vec()),
            "application/json",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    let ui = c.get("/").await.unwrap();
    assert_eq!(ui.status, 200);
    assert!(ui.header("content-type").unwrap().starts_with("text/html"));
}

async fn export_then_import_round_trips(db: Db) {
    let dir = project();
    let cache = tempfile::tempdir().unwrap();
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
    let c = s.client.as_user("alice");
    let cat = c
        .post("/api/categories", &json!({"name": "cat"}))
        .await
        .unwrap()
        .json();
    c.post(
        "/api/images/1/instances",
        &json!({"rle": rle(30, 40, 35, 20), "score": 0.8, "category_id": cat["id"]}),
    )
    .await
    .unwrap();
    c.post(
        "/api/images/2/instances",
        &json!({"rle": rle(10, 20, 3, 4)}),
    )
    .await
    .unwrap();
    let coco = c.get("/api/export?format=coco").await.unwrap();
    assert_eq!(coco.status, 200);
    assert!(coco
        .header("content-disposition")
        .unwrap()
        .contains(".json"));
    let doc = coco.json();
    assert_eq!(doc["annotations"].as_array().unwrap().len(), 2);
    for fmt in ["coco-polygons", "png", "npy", "yolo", "voc"] {
        let r = c.get(&format!("/api/export?format={fmt}")).await.unwrap();
        assert_eq!(r.status, 200, "{fmt}: {}", String::from_utf8_lossy(&r.body));
        if fmt != "coco-polygons" {
            assert_eq!(&r.body[..2], b"PK", "{fmt} is a zip");
        }
    }
    // Import the COCO export into a fresh copy of the project.
    let dir2 = project();
    let Some(s2) = start_on(db, dir2.path(), None, cache.path()).await else {
        return;
    };
    let r = s2
        .client
        .send(
            "POST",
            "/api/import?format=coco",
            Some(coco.body.clone()),
            "application/json",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let rep = r.json();
    assert_eq!(
        (
            rep["instances_added"].as_i64(),
            rep["images_matched"].as_i64(),
            rep["categories_added"].as_i64()
        ),
        (Some(2), Some(2), Some(1))
    );
    let got = s2
        .client
        .get("/api/images/1/instances")
        .await
        .unwrap()
        .json();
    assert_eq!(got["instances"][0]["rle"], rle(30, 40, 35, 20));
    // YOLO zip import (polygons → masks) also lands on the right images.
    let yolo = c.get("/api/export?format=yolo").await.unwrap();
    let dir3 = project();
    let Some(s3) = start_on(db, dir3.path(), None, cache.path()).await else {
        return;
    };
    let r = s3
        .client
        .send(
            "POST",
            "/api/import?format=yolo",
            Some(yolo.body),
            "application/zip",
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.json()["images_matched"].as_i64().unwrap() >= 1,
        "{}",
        r.json()
    );
}

on_both_backends!(
    project_scan_files_and_missing,
    exif_rotated_image_is_served_as_the_engine_sees_it,
    two_annotators_editing_one_instance_get_a_conflict,
    bad_requests_are_json_errors,
    export_then_import_round_trips,
);
