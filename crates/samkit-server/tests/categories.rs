//! The category API beyond create/rename: order (hotkeys, default category) and deletion
//! with the instances moved to another category; the image list's thumbnails.

mod common;

use common::{rle, start_on, write_png, Db};
use serde_json::json;

async fn categories_reorder_and_delete(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("a.png"), 40, 30);
    let cache = tempfile::tempdir().unwrap();
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
    let c = s.client.as_user("alice");
    let dog = c
        .post("/api/categories", &json!({"name": "dog"}))
        .await
        .unwrap()
        .json();
    let cat = c
        .post("/api/categories", &json!({"name": "cat"}))
        .await
        .unwrap()
        .json();
    let (dog_id, cat_id) = (dog["id"].as_i64().unwrap(), cat["id"].as_i64().unwrap());
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let list = c.get("/api/categories").await.unwrap().json();
    assert_eq!(names(&list), ["object", "dog", "cat"]);
    let object_id = list["categories"][0]["id"].as_i64().unwrap();

    // Reorder: the list, the project and the default category of a new instance follow.
    let r = c
        .put(
            "/api/categories/order",
            &json!({"ids": [cat_id, dog_id, object_id]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(names(&r.json()), ["cat", "dog", "object"]);
    let p = c.get("/api/project").await.unwrap().json();
    assert_eq!(p["categories"][0]["name"], "cat");
    let inst = c
        .post(
            "/api/images/1/instances",
            &json!({"rle": rle(30, 40, 0, 10)}),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(inst["category_id"].as_i64(), Some(cat_id));
    let bad = c
        .put("/api/categories/order", &json!({"ids": [cat_id, dog_id]}))
        .await
        .unwrap();
    assert_eq!(
        (bad.status, bad.json()["code"].as_str()),
        (400, Some("bad_request"))
    );

    // Delete: a category with instances needs a target; a stale version is a conflict.
    let cat_now = c.get("/api/categories").await.unwrap().json()["categories"][0].clone();
    let v = cat_now["version"].as_i64().unwrap();
    let r = c
        .delete(&format!("/api/categories/{cat_id}?version={v}"))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("reassign_to"));
    let r = c
        .delete(&format!(
            "/api/categories/{cat_id}?version={}&reassign_to={dog_id}",
            v - 1
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 409);
    let r = c
        .delete(&format!("/api/categories/{cat_id}"))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    let r = c
        .delete(&format!(
            "/api/categories/{cat_id}?version={v}&reassign_to={dog_id}"
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let out = r.json();
    assert_eq!(
        (out["deleted"]["name"].as_str(), out["moved"].as_i64()),
        (Some("cat"), Some(1))
    );
    let inst = c
        .get(&format!("/api/instances/{}", inst["id"]))
        .await
        .unwrap()
        .json();
    assert_eq!(inst["category_id"].as_i64(), Some(dog_id));
    assert_eq!(
        names(&c.get("/api/categories").await.unwrap().json()),
        ["dog", "object"]
    );
    // The deletion is in the history (other annotators' pages refresh their categories).
    let h = c
        .get(&format!("/api/history?entity=category&entity_id={cat_id}"))
        .await
        .unwrap()
        .json();
    assert_eq!(h["entries"][0]["action"], "delete");
    assert_eq!(h["entries"][0]["author"], "alice");
    let gone = c
        .delete(&format!("/api/categories/{cat_id}?version={v}"))
        .await
        .unwrap();
    assert_eq!(gone.status, 404);
}

async fn image_thumbnails_are_small_jpegs_revalidated_by_etag(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("a.png"), 400, 100);
    write_png(&dir.path().join("b.png"), 20, 10);
    let cache = tempfile::tempdir().unwrap();
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
    let c = &s.client;
    let r = c.get("/api/images/1/thumb").await.unwrap();
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("image/jpeg"))
    );
    let img = image::load_from_memory(&r.body).unwrap();
    assert_eq!((img.width(), img.height()), (96, 24));
    let etag = r.header("etag").unwrap().to_string();
    let again = c
        .send_raw(
            format!(
                "GET /api/images/1/thumb HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
                 If-None-Match: {etag}\r\nConnection: close\r\n\r\n",
                c.addr, s.token
            )
            .into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(again.status, 304);
    // A small image keeps its size.
    let r = c.get("/api/images/2/thumb").await.unwrap();
    let img = image::load_from_memory(&r.body).unwrap();
    assert_eq!((img.width(), img.height()), (20, 10));
    assert_eq!(c.get("/api/images/99/thumb").await.unwrap().status, 404);
}

on_both_backends!(
    categories_reorder_and_delete,
    image_thumbnails_are_small_jpegs_revalidated_by_etag,
);
