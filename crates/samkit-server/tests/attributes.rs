//! Instance attributes through the API: set at creation and by update (a new version),
//! refused with the reason when invalid, exported to COCO (`iscrowd`, `attributes`,
//! read by pycocotools' conventions) and imported back.

mod common;

use common::{rle, start_on, write_png, Db};
use serde_json::json;

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("a.png"), 40, 30);
    dir
}

async fn attributes_are_kept_checked_exported_and_imported(db: Db) {
    let dir = project();
    let cache = tempfile::tempdir().unwrap();
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
    let c = s.client.as_user("alice");

    let body = json!({"rle": rle(30, 40, 100, 50),
                      "attributes": {"occluded": true, "colour": "red", "iscrowd": 0}});
    let r = c.post("/api/images/1/instances", &body).await.unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let inst = r.json();
    let id = inst["id"].as_i64().unwrap();
    assert_eq!(
        inst["attributes"],
        json!({"occluded": true, "colour": "red", "iscrowd": false})
    );

    // A bad set: 400 naming the problem; the instance is unchanged.
    let r = c
        .patch(
            &format!("/api/instances/{id}"),
            &json!({"version": 1, "attributes": {"iscrowd": "often"}}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("iscrowd must be true or false"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = c
        .post(
            "/api/images/1/instances",
            &json!({"rle": rle(30, 40, 0, 5), "attributes": "occluded"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);

    // An update replaces the set: a new version.
    let r = c
        .patch(
            &format!("/api/instances/{id}"),
            &json!({"version": 1, "attributes": {"iscrowd": true, "occluded": false, "note": "two cups"}}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["version"], 2);

    // COCO: the crowd flag is `iscrowd` (uncompressed RLE, by COCO's convention), the rest
    // is `attributes`.
    let coco = c.get("/api/export?format=coco").await.unwrap();
    let doc = coco.json();
    let ann = &doc["annotations"][0];
    assert_eq!(ann["iscrowd"], 1);
    assert!(ann["segmentation"]["counts"].is_array(), "{ann}");
    assert_eq!(
        ann["attributes"],
        json!({"occluded": false, "note": "two cups"})
    );

    // Imported into a fresh project: the same attributes.
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
    let got = s2
        .client
        .get("/api/images/1/instances")
        .await
        .unwrap()
        .json();
    assert_eq!(
        got["instances"][0]["attributes"],
        json!({"iscrowd": true, "occluded": false, "note": "two cups"})
    );
}

on_both_backends!(attributes_are_kept_checked_exported_and_imported);
