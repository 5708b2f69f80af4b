//! The review workflow over HTTP (issue 11): bulk assignment with an overlap, annotators
//! seeing only their images and their own work, submit / reject with a comment / approve,
//! the locks, review comments, and exporting approved work only.

mod common;

use common::{rle, start, write_png, TestServer};
use samkit_server::client::Client;
use serde_json::{json, Value};

async fn login(s: &TestServer, name: &str) -> Client {
    let r = s
        .client
        .anonymous()
        .post(
            "/api/login",
            &json!({"name": name, "password": format!("{name} password"), "token": true}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    s.client
        .anonymous()
        .with_token(r.json()["token"].as_str().unwrap())
}

fn ok(r: &samkit_server::client::Reply, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[tokio::test]
async fn annotators_submit_reviewers_reject_and_approve_and_approved_work_is_exported() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    for i in 0..4 {
        write_png(&dir.path().join(format!("img{i}.png")), 40, 30);
    }
    let s = start(dir.path(), None, cache.path()).await;
    for (name, role) in [
        ("ada", "admin"),
        ("rita", "reviewer"),
        ("alan", "annotator"),
        ("bea", "annotator"),
    ] {
        let r = if name == "ada" {
            s.client.clone()
        } else {
            login(&s, "ada").await
        };
        let body = json!({"name": name, "role": role, "password": format!("{name} password")});
        ok(&r.post("/api/users", &body).await.unwrap(), 201);
    }
    let [ada, rita, alan, bea] = [
        login(&s, "ada").await,
        login(&s, "rita").await,
        login(&s, "alan").await,
        login(&s, "bea").await,
    ];

    // Bulk: the 4 images round robin between the two annotators, half of them to both.
    let body = json!({"bulk": {"overlap": {"fraction": 0.5, "k": 2}}});
    let made = ok(&ada.post("/api/assignments", &body).await.unwrap(), 201);
    let made = made["assignments"].as_array().unwrap().clone();
    assert_eq!(made.len(), 6, "{made:?}");
    let of = |user: &str| -> Vec<i64> {
        made.iter()
            .filter(|a| a["user_name"] == user)
            .map(|a| a["image_id"].as_i64().unwrap())
            .collect()
    };
    let (alans, beas) = (of("alan"), of("bea"));
    assert_eq!((alans.len(), beas.len()), (3, 3));
    let shared: Vec<i64> = alans.iter().copied().filter(|i| beas.contains(i)).collect();
    assert_eq!(shared.len(), 2);
    let only_bea = *beas.iter().find(|i| !alans.contains(i)).unwrap();
    let img = shared[0];
    let r = ok(&ada.post("/api/assignments", &body).await.unwrap(), 201);
    assert_eq!(r["assignments"], json!([]), "nothing left to assign");
    assert_eq!(
        alan.post("/api/assignments", &body).await.unwrap().status,
        403
    );

    // An annotator's project: their images only.
    let list = ok(&alan.get("/api/images").await.unwrap(), 200);
    let ids: Vec<i64> = list["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|i| alans.contains(i)));
    for path in [
        format!("/api/images/{only_bea}"),
        format!("/api/images/{only_bea}/file"),
        format!("/api/images/{only_bea}/instances"),
    ] {
        let r = alan.get(&path).await.unwrap();
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (403, Some("not_assigned")),
            "{path}"
        );
    }

    // Overlap: each annotator's work on the shared image is their own.
    let a_inst = ok(
        &alan
            .post(
                &format!("/api/images/{img}/instances"),
                &json!({"rle": rle(30, 40, 0, 50)}),
            )
            .await
            .unwrap(),
        201,
    );
    let b_inst = ok(
        &bea.post(
            &format!("/api/images/{img}/instances"),
            &json!({"rle": rle(30, 40, 100, 60)}),
        )
        .await
        .unwrap(),
        201,
    );
    let count = |v: Value| v["instances"].as_array().unwrap().len();
    assert_eq!(
        count(ok(
            &alan
                .get(&format!("/api/images/{img}/instances"))
                .await
                .unwrap(),
            200
        )),
        1
    );
    assert_eq!(
        count(ok(
            &bea.get(&format!("/api/images/{img}/instances"))
                .await
                .unwrap(),
            200
        )),
        1
    );
    assert_eq!(
        count(ok(
            &rita
                .get(&format!("/api/images/{img}/instances"))
                .await
                .unwrap(),
            200
        )),
        2
    );
    let b_id = b_inst["id"].as_i64().unwrap();
    let r = alan.get(&format!("/api/instances/{b_id}")).await.unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("not_assigned"))
    );
    let h = ok(
        &alan.get("/api/history?entity=instance").await.unwrap(),
        200,
    );
    assert!(
        h["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["author"] == "alan"),
        "{h}"
    );

    // Alan's work: started by his first instance, then submitted.
    let mine = ok(
        &alan
            .get(&format!("/api/assignments?image={img}"))
            .await
            .unwrap(),
        200,
    );
    let mine = mine["assignments"].as_array().unwrap();
    assert_eq!(mine.len(), 1, "an annotator sees their own assignment only");
    let (aid, version) = (
        mine[0]["id"].as_i64().unwrap(),
        mine[0]["version"].as_i64().unwrap(),
    );
    assert_eq!(mine[0]["state"], "in_progress");
    let act = |c: &Client, action: &str, version: i64, comment: &str| {
        let c = c.clone();
        let path = format!("/api/assignments/{aid}/{action}");
        let body = json!({"version": version, "comment": comment});
        async move { c.post(&path, &body).await.unwrap() }
    };
    let r = act(&bea, "submit", version, "").await;
    assert_eq!(r.status, 403, "only the assignee submits");
    let a = ok(&act(&alan, "submit", version, "").await, 200);
    assert_eq!(a["state"], "submitted");
    let patch = json!({"version": a_inst["version"], "category_id": a_inst["category_id"]});
    let a_path = format!("/api/instances/{}", a_inst["id"]);
    let r = alan.patch(&a_path, &patch).await.unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (423, Some("submitted"))
    );

    // The review queue; a rejection needs a comment and sends the work back.
    let queue = ok(
        &rita.get("/api/assignments?state=submitted").await.unwrap(),
        200,
    );
    assert_eq!(queue["assignments"][0]["id"], aid);
    assert_eq!(
        act(&alan, "approve", a["version"].as_i64().unwrap(), "")
            .await
            .status,
        403
    );
    let r = act(&rita, "reject", a["version"].as_i64().unwrap(), "").await;
    assert_eq!(r.status, 400);
    let rejected = ok(
        &act(
            &rita,
            "reject",
            a["version"].as_i64().unwrap(),
            "the cup's handle is missing",
        )
        .await,
        200,
    );
    assert_eq!(rejected["state"], "rejected");
    let comment = json!({"text": "include the handle"});
    ok(
        &rita
            .post(
                &format!("/api/instances/{}/comments", a_inst["id"]),
                &comment,
            )
            .await
            .unwrap(),
        201,
    );
    let seen = ok(
        &alan
            .get(&format!("/api/assignments?image={img}"))
            .await
            .unwrap(),
        200,
    );
    assert_eq!(
        (
            seen["assignments"][0]["state"].as_str(),
            seen["assignments"][0]["comment"].as_str()
        ),
        (Some("rejected"), Some("the cup's handle is missing"))
    );
    let comments = ok(
        &alan
            .get(&format!("/api/images/{img}/comments"))
            .await
            .unwrap(),
        200,
    );
    assert_eq!(comments["comments"][0]["author"], "rita");
    let fixed = ok(&alan.patch(&a_path, &patch).await.unwrap(), 200);
    let a = ok(
        &alan
            .get(&format!("/api/assignments?image={img}"))
            .await
            .unwrap(),
        200,
    )["assignments"][0]
        .clone();
    assert_eq!(a["state"], "in_progress");
    let a = ok(
        &act(&alan, "submit", a["version"].as_i64().unwrap(), "").await,
        200,
    );
    let a = ok(
        &act(&rita, "approve", a["version"].as_i64().unwrap(), "").await,
        200,
    );
    assert_eq!(a["state"], "approved");

    // Approved work is locked for everyone until a reviewer reopens it.
    let patch = json!({"version": fixed["version"], "category_id": a_inst["category_id"]});
    for c in [&alan, &rita] {
        let r = c.patch(&a_path, &patch).await.unwrap();
        assert_eq!((r.status, r.json()["code"].as_str()), (423, Some("locked")));
    }

    // Export: approved work only, and of the shared image only the approved copy.
    let r = ok(
        &rita
            .get("/api/export?format=coco&status=approved")
            .await
            .unwrap(),
        200,
    );
    let images: Vec<i64> = r["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(images, [img]);
    let anns = r["annotations"].as_array().unwrap();
    assert_eq!(anns.len(), 1);
    assert_eq!(anns[0]["id"], a_inst["id"]);
    let r = rita.get("/api/export?format=coco").await.unwrap();
    assert!(
        r.header("x-samkit-history-id")
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    let all = r.json();
    assert!(
        !all["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == b_id),
        "bea's copy of an image alan's approved work covers is not in the dataset"
    );

    let a = ok(
        &act(&rita, "reopen", a["version"].as_i64().unwrap(), "").await,
        200,
    );
    assert_eq!(a["state"], "in_progress");
    ok(&alan.patch(&a_path, &patch).await.unwrap(), 200);
}
