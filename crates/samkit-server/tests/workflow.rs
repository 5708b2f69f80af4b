//! The review workflow over HTTP (issue 11): bulk assignment with an overlap, annotators
//! seeing only their images and their own work, submit / reject with a comment / approve,
//! the locks, review comments, and exporting approved work only.

mod common;

use common::{rle, start_on, write_png, Db, TestServer};
use samkit_server::client::Client;
use serde_json::{json, Value};

async fn login(s: &TestServer, name: &str) -> Client {
    let token = common::session_token(s, name, &format!("{name} password")).await;
    s.client.anonymous().with_token(&token)
}

fn ok(r: &samkit_server::client::Reply, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn annotators_submit_reviewers_reject_and_approve_and_approved_work_is_exported(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    for i in 0..4 {
        write_png(&dir.path().join(format!("img{i}.png")), 40, 30);
    }
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
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

async fn the_report_gives_agreement_on_shared_images_and_each_annotators_progress(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("shared.png"), 40, 30);
    let Some(s) = start_on(db, dir.path(), None, cache.path()).await else {
        return;
    };
    let body = json!({"name": "ada", "role": "admin", "password": "ada password"});
    ok(&s.client.post("/api/users", &body).await.unwrap(), 201);
    let ada = login(&s, "ada").await;
    for (name, role) in [
        ("rita", "reviewer"),
        ("alan", "annotator"),
        ("bea", "annotator"),
    ] {
        let body = json!({"name": name, "role": role, "password": format!("{name} password")});
        ok(&ada.post("/api/users", &body).await.unwrap(), 201);
    }
    let [rita, alan, bea] = [
        login(&s, "rita").await,
        login(&s, "alan").await,
        login(&s, "bea").await,
    ];
    let body = json!({"bulk": {"overlap": {"fraction": 1.0, "k": 2}}});
    ok(&ada.post("/api/assignments", &body).await.unwrap(), 201);

    // Column-major runs on the 40 x 30 image: alan's first mask is columns 0-1 (60 px),
    // bea's the first 45 of them (IoU 0.75); alan's column 20 and bea's columns 30 and 37
    // overlap nothing.
    let p3 = json!({"points": [{"x": 1, "y": 1, "label": "positive"}, {"x": 2, "y": 2, "label": "negative"}], "box": [0, 0, 2, 30]});
    let p1 = json!({"points": [{"x": 20, "y": 5, "label": "positive"}]});
    for (c, start, n, prompts) in [
        (&alan, 0, 60, p3.clone()),
        (&alan, 600, 30, p1.clone()),
        (&bea, 0, 45, p1.clone()),
        (&bea, 900, 30, p1.clone()),
        (&bea, 1110, 30, p1.clone()),
    ] {
        let body = json!({"rle": rle(30, 40, start, n), "prompts": prompts});
        ok(
            &c.post("/api/images/1/instances", &body).await.unwrap(),
            201,
        );
    }
    let work = |c: &Client| {
        let c = c.clone();
        async move {
            let r = c.get("/api/assignments?image=1").await.unwrap().json();
            r["assignments"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["user_name"] == "alan")
                .unwrap()
                .clone()
        }
    };
    for (c, action, comment) in [
        (&alan, "submit", ""),
        (&rita, "reject", "tighter"),
        (&alan, "submit", ""),
        (&rita, "approve", ""),
    ] {
        let a = work(&rita).await;
        let path = format!("/api/assignments/{}/{action}", a["id"]);
        ok(
            &c.post(&path, &json!({"version": a["version"], "comment": comment}))
                .await
                .unwrap(),
            200,
        );
    }

    assert_eq!(alan.get("/api/report").await.unwrap().status, 403);
    let r = ok(&rita.get("/api/report").await.unwrap(), 200);
    assert_eq!(r["overlap_images"], 1);
    let pair = &r["pairs"][0];
    assert_eq!(
        (pair["a"].as_str(), pair["b"].as_str()),
        (Some("alan"), Some("bea"))
    );
    assert_eq!(
        (pair["instances_a"].as_u64(), pair["instances_b"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(pair["matched"], 1);
    assert!(
        (pair["mean_iou"].as_f64().unwrap() - 0.75).abs() < 1e-9,
        "{pair}"
    );
    assert!((pair["f1_50"].as_f64().unwrap() - 0.4).abs() < 1e-9);
    assert!((pair["f1_75"].as_f64().unwrap() - 0.4).abs() < 1e-9);
    assert_eq!(
        (pair["only_a"].as_u64(), pair["only_b"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(r["per_image"][0]["image"], "shared.png");
    let people = r["annotators"].as_array().unwrap();
    let alan_row = people.iter().find(|p| p["name"] == "alan").unwrap();
    assert_eq!(
        (alan_row["done"].as_u64(), alan_row["approved"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(alan_row["instances"], 2);
    assert!((alan_row["prompts_per_instance"].as_f64().unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(
        (
            alan_row["submissions"].as_u64(),
            alan_row["rejections"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert!((alan_row["rejection_rate"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    assert!(alan_row["seconds_per_instance"].as_f64().unwrap() >= 0.0);
    let bea_row = people.iter().find(|p| p["name"] == "bea").unwrap();
    assert_eq!(
        (
            bea_row["done"].as_u64(),
            bea_row["rejection_rate"].is_null()
        ),
        (Some(0), true)
    );
    assert!(bea_row["seconds_per_instance"].is_null(), "never submitted");
    let text = samkit_server::report::render_text(
        &samkit_server::report::report(&samkit_store::Store::open(&s.db).await.unwrap(), 1)
            .await
            .unwrap(),
    );
    assert!(
        text.contains("alan") && text.contains("0.750") && text.contains("1/2 50%"),
        "{text}"
    );
}

on_both_backends!(
    annotators_submit_reviewers_reject_and_approve_and_approved_work_is_exported,
    the_report_gives_agreement_on_shared_images_and_each_annotators_progress,
);
