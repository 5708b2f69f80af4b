//! Two `samkit serve` processes on different ports sharing one PostgreSQL database (how a
//! team scales past one server, issue 11): accounts, sessions, changes and conflicts are
//! the same through either.

mod common;

use common::{rle, start_with, write_png, TestServer};
use samkit_server::client::Client;
use samkit_server::Config;
use serde_json::json;

fn signed_in(s: &TestServer, token: &str) -> Client {
    s.client.anonymous().with_token(token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_database_serve_one_project() {
    let Some(url) = samkit_testdata::postgres_database("samkit-server two servers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.png", "b.png"] {
        write_png(&dir.path().join(name), 40, 30);
    }
    let (cache1, cache2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = |cache: &tempfile::TempDir| {
        let mut cfg = Config::new(dir.path());
        cfg.cache_dir = Some(cache.path().to_path_buf());
        cfg.db = Some(url.clone());
        cfg
    };
    // Started together: both migrate and create the project; one project results.
    let (one, two) = tokio::join!(
        start_with(server(&cache1), None),
        start_with(server(&cache2), None)
    );
    assert_ne!(one.addr.port(), two.addr.port());
    let p1 = one.client.get("/api/project").await.unwrap().json();
    let p2 = two.client.get("/api/project").await.unwrap().json();
    assert!(p1["root"].is_string(), "{p1}");
    assert_eq!(p1["root"], p2["root"]);
    // One project: the same categories (ids included), not one per server.
    assert_eq!(p1["categories"], p2["categories"], "{p1} {p2}");
    assert_eq!(p1["categories"].as_array().unwrap().len(), 1);
    let images = two.client.get("/api/images").await.unwrap().json();
    assert_eq!(images["images"].as_array().unwrap().len(), 2, "{images}");

    // The first account made through one ends the other's start-up token too.
    let r = one
        .client
        .post(
            "/api/users",
            &json!({"name": "Ada", "role": "admin", "password": "admin password"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(two.client.get("/api/project").await.unwrap().status, 401);
    let ada = common::session_token(&one, "ada", "admin password").await;
    let ada1 = signed_in(&one, &ada);
    let r = ada1
        .post(
            "/api/users",
            &json!({"name": "Rita", "role": "reviewer", "password": "rita password"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    // A session made on one server is valid on the other (the sessions table is shared).
    let ada2 = signed_in(&two, &ada);
    assert_eq!(ada2.get("/api/users").await.unwrap().status, 200);
    let rita2 = signed_in(
        &two,
        &common::session_token(&two, "rita", "rita password").await,
    );

    // A change through one is seen through the other.
    let body = json!({"rle": rle(30, 40, 100, 50), "score": 0.9, "client_id": "c-1",
                      "prompts": {"points": [{"x": 3, "y": 4, "label": "positive"}]}});
    let r = ada1.post("/api/images/1/instances", &body).await.unwrap();
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_i64().unwrap();
    let listed = rita2.get("/api/images/1/instances").await.unwrap().json();
    assert_eq!(listed["instances"][0]["id"].as_i64(), Some(id), "{listed}");
    assert_eq!(listed["instances"][0]["author"], "Ada");
    // The same create retried through the other server is not a duplicate.
    let again = rita2.post("/api/images/1/instances", &body).await.unwrap();
    assert_eq!((again.status, again.json()["id"].as_i64()), (200, Some(id)));

    // A stale write through either is refused: Rita (two) writes version 1 first, Ada's
    // version-1 write through one gets the conflict naming Rita.
    let patch = |v: i64, start: u32| json!({"version": v, "rle": rle(30, 40, start, 20)});
    let r = rita2
        .patch(&format!("/api/instances/{id}"), &patch(1, 0))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = ada1
        .patch(&format!("/api/instances/{id}"), &patch(1, 200))
        .await
        .unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["conflict"]["author"], "Rita");
    assert_eq!(r.json()["conflict"]["current_version"], 2);

    // Racing writes of one version through both servers: exactly one lands.
    let racers: Vec<_> = (0..12u32)
        .map(|k| {
            let c = if k % 2 == 0 {
                ada1.clone()
            } else {
                rita2.clone()
            };
            let body = patch(2, 300 + k);
            tokio::spawn(async move {
                c.patch(&format!("/api/instances/{id}"), &body)
                    .await
                    .unwrap()
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in racers {
        statuses.push(r.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [vec![200], vec![409; 11]].concat());
    let now = ada2
        .get(&format!("/api/instances/{id}"))
        .await
        .unwrap()
        .json();
    assert_eq!(now["version"], 3, "{now}");

    // One history, in commit order, through either server.
    let h1 = ada1.get("/api/history?image_id=1").await.unwrap().json();
    let h2 = rita2.get("/api/history?image_id=1").await.unwrap().json();
    assert_eq!(h1, h2);
    let authors: Vec<&str> = h1["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entity"] == "instance")
        .map(|e| e["author"].as_str().unwrap())
        .collect();
    assert_eq!(authors.len(), 3, "{h1}");
    assert_eq!(
        &authors[1..],
        ["Rita", "Ada"],
        "newest first: the race's winner, then Rita's edit, then the create"
    );

    // Failed log-ins are counted in the database: five through one server, and the next
    // attempt through the other is refused too.
    for _ in 0..5 {
        let r = one
            .client
            .anonymous()
            .post(
                "/api/login",
                &json!({"name": "rita", "password": "wrong password"}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 401);
    }
    let r = two
        .client
        .anonymous()
        .post(
            "/api/login",
            &json!({"name": "Rita", "password": "rita password"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
}

/// Two projects (two folders) on one database: neither server answers with the other
/// project's images, instances or history. Accounts belong to the database (one team).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_projects_on_one_postgres_database_stay_apart() {
    let Some(url) = samkit_testdata::postgres_database("samkit-server two servers") else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_png(&dir_a.path().join("a.png"), 40, 30);
    write_png(&dir_b.path().join("b.png"), 40, 30);
    let cache = tempfile::tempdir().unwrap();
    let open = |dir: &tempfile::TempDir| {
        let mut cfg = Config::new(dir.path());
        cfg.cache_dir = Some(cache.path().to_path_buf());
        cfg.db = Some(url.clone());
        cfg
    };
    let a = start_with(open(&dir_a), None).await;
    let b = start_with(open(&dir_b), None).await;
    let pa = a.client.get("/api/project").await.unwrap().json();
    let pb = b.client.get("/api/project").await.unwrap().json();
    assert!(pa["root"].is_string() && pb["root"].is_string());
    assert_ne!(pa["root"], pb["root"]);
    assert_ne!(pa["categories"][0]["id"], pb["categories"][0]["id"]);

    let a_image = a.client.get("/api/images").await.unwrap().json()["images"][0]["id"]
        .as_i64()
        .unwrap();
    let body = json!({"rle": rle(30, 40, 100, 50), "prompts": {}});
    let r = a
        .client
        .post(&format!("/api/images/{a_image}/instances"), &body)
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_i64().unwrap();

    let b_images = b.client.get("/api/images").await.unwrap().json();
    let names: Vec<&str> = b_images["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b.png"]);
    for path in [
        format!("/api/images/{a_image}"),
        format!("/api/images/{a_image}/instances"),
        format!("/api/instances/{id}"),
    ] {
        assert_eq!(b.client.get(&path).await.unwrap().status, 404, "{path}");
    }
    let stale = b
        .client
        .patch(
            &format!("/api/instances/{id}"),
            &json!({"version": 1, "z": 3}),
        )
        .await
        .unwrap();
    assert_eq!(stale.status, 404);
    let history = b.client.get("/api/history").await.unwrap().json();
    assert!(
        history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["entity"] != "instance"),
        "{history}"
    );
}
