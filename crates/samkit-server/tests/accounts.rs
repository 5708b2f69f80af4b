//! Accounts and access (issue 11): the one-person token, log-in and sessions, every
//! endpoint as every role (from the access table itself), forged authors, the log-in
//! limiter, and sessions ended by disabling a user or resetting a password.

mod common;

use common::{rle, start_on, write_png, Db, TestServer};
use samkit_server::access::{self, Need};
use samkit_server::client::Client;
use samkit_store::Role;
use serde_json::{json, Value};

async fn serve(db: Db) -> Option<(tempfile::TempDir, tempfile::TempDir, TestServer)> {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("a.png"), 40, 30);
    let s = start_on(db, dir.path(), None, cache.path()).await?;
    Some((dir, cache, s))
}

/// Signs `name` in; returns a client carrying the session token.
async fn login(s: &TestServer, name: &str, password: &str) -> Client {
    let token = common::session_token(s, name, password).await;
    s.client.anonymous().with_token(&token)
}

/// An admin (made with the one-person token, which then stops working), a reviewer and
/// an annotator (image 1 assigned to him), each signed in.
async fn team(s: &TestServer) -> [(Role, Client); 3] {
    let r = s
        .client
        .post(
            "/api/users",
            &json!({"name": "Ada", "role": "admin", "password": "admin password"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let admin = login(s, "ada", "admin password").await;
    for (name, role) in [("Rita", "reviewer"), ("Alan", "annotator")] {
        let r = admin
            .post(
                "/api/users",
                &json!({"name": name, "role": role, "password": format!("{name} password")}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let r = admin
        .post("/api/assignments", &json!({"images": [1], "user": "alan"}))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    [
        (Role::Annotator, login(s, "Alan", "Alan password").await),
        (Role::Reviewer, login(s, "Rita", "Rita password").await),
        (Role::Admin, admin),
    ]
}

async fn the_start_up_token_signs_in_until_the_project_has_users(db: Db) {
    let Some((_d, _c, s)) = serve(db).await else {
        return;
    };
    let anon = s.client.anonymous();
    let r = anon.get("/api/images").await.unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    assert!(r.json()["error"].as_str().unwrap().contains("printed"));
    assert_eq!(anon.get("/api/health").await.unwrap().status, 200);
    let who = anon.get("/api/session").await.unwrap().json();
    assert_eq!(
        (who["mode"].as_str(), who["signed_in"].as_bool()),
        (Some("local"), Some(false))
    );
    let who = s.client.get("/api/session").await.unwrap().json();
    assert_eq!(who["user"]["role"], "admin");

    // The printed address sets the cookie and drops the token from the address bar.
    let r = anon.get(&format!("/?token={}", s.token)).await.unwrap();
    assert_eq!((r.status, r.header("location")), (303, Some("/")));
    let cookie = r.header("set-cookie").unwrap().to_string();
    let name = format!("samkit_session_{}", s.addr.port());
    assert!(
        cookie.starts_with(&format!("{name}={};", s.token)),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let r = anon.get("/?token=wrong").await.unwrap();
    assert_eq!((r.status, r.header("set-cookie")), (303, None));
    let with_cookie = anon
        .send_raw(
            format!(
                "GET /api/images HTTP/1.1\r\nHost: {}\r\nCookie: other=1; {name}={}\r\n\
                 Connection: close\r\n\r\n",
                s.addr, s.token
            )
            .into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(with_cookie.status, 200);
    // Without users, the author is the name the browser gives.
    let inst = s
        .client
        .as_user("solo")
        .post(
            "/api/images/1/instances",
            &json!({"rle": rle(30, 40, 0, 5)}),
        )
        .await
        .unwrap();
    assert_eq!(inst.json()["author"], "solo");

    let _team = team(&s).await;
    let r = s.client.get("/api/images").await.unwrap();
    assert_eq!(
        r.status, 401,
        "the token is one person's: accounts replace it"
    );
    assert!(r.json()["error"].as_str().unwrap().contains("log-in"));
    assert_eq!(
        anon.get("/api/session").await.unwrap().json()["mode"],
        "accounts"
    );
}

async fn every_endpoint_answers_each_role_as_the_access_table_says(db: Db) {
    let Some((_d, _c, s)) = serve(db).await else {
        return;
    };
    let members = team(&s).await;
    let anon = s.client.anonymous();
    let admin = &members[2].1;
    let r = admin
        .post(
            "/api/images/1/instances",
            &json!({"rle": rle(30, 40, 0, 5)}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    // An instance's history entry (a category's or the project's is admin-only there).
    let h = admin
        .get("/api/history?entity=instance")
        .await
        .unwrap()
        .json();
    let entry = h["entries"][0]["id"].as_i64().unwrap().to_string();
    let mut checked = 0;
    // Admin last: its allowed calls change things (categories, users) the others do not.
    for (role, client) in &members {
        for &(method, route, need) in access::RULES {
            let id = if route.starts_with("/api/history/") {
                entry.as_str()
            } else {
                "1"
            };
            let path = route.replace("{id}", id);
            let client = if route == "/api/logout" {
                // Logging out ends the session: use one of its own.
                let name = match role {
                    Role::Admin => ("Ada", "admin password"),
                    Role::Reviewer => ("Rita", "Rita password"),
                    Role::Annotator => ("Alan", "Alan password"),
                };
                login(&s, name.0, name.1).await
            } else {
                client.clone()
            };
            let body = (method != "GET").then(|| b"{}".to_vec());
            let r = client
                .send(method, &path, body.clone(), "application/json")
                .await
                .unwrap();
            let what = format!(
                "{role} {method} {path}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            if access::allows(need, *role) {
                assert!(
                    ![401, 403].contains(&r.status),
                    "allowed, but refused: {what}"
                );
            } else {
                assert_eq!(r.status, 403, "{what}");
                assert_eq!(r.json()["code"], "forbidden", "{what}");
            }
            if need != Need::Public && *role == Role::Annotator {
                let r = anon
                    .send(method, &path, body, "application/json")
                    .await
                    .unwrap();
                assert_eq!(r.status, 401, "anonymous {method} {path}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * access::RULES.len());
}

async fn the_author_is_the_signed_in_user_whatever_the_client_says(db: Db) {
    let Some((_d, _c, s)) = serve(db).await else {
        return;
    };
    let [(_, alan), (_, rita), (_, ada)] = team(&s).await;
    let forged = alan.as_user("Ada");
    let r = forged
        .post(
            "/api/images/1/instances",
            &json!({"rle": rle(30, 40, 0, 5)}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    let inst = r.json();
    assert_eq!(
        (inst["author"].as_str(), inst["updated_by"].as_str()),
        (Some("Alan"), Some("Alan"))
    );
    let h = rita
        .get("/api/history?entity=instance")
        .await
        .unwrap()
        .json();
    assert_eq!(h["entries"][0]["author"], "Alan");

    // Restoring a category's past is the admin's; an instance's, anyone's.
    let cat = ada
        .post("/api/categories", &json!({"name": "cell"}))
        .await
        .unwrap()
        .json();
    let cat_entry = ada
        .get("/api/history?entity=category")
        .await
        .unwrap()
        .json()["entries"][0]["id"]
        .clone();
    let body = json!({"version": cat["version"]});
    let r = rita
        .post(&format!("/api/history/{cat_entry}/restore"), &body)
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("forbidden"))
    );
    let r = ada
        .post(&format!("/api/history/{cat_entry}/restore"), &body)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let inst_entry = h["entries"][0]["id"].clone();
    let r = alan
        .post(
            &format!("/api/history/{inst_entry}/restore"),
            &json!({"version": inst["version"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

async fn log_ins_are_limited_and_sessions_end_when_the_admin_says(db: Db) {
    let Some((_d, _c, s)) = serve(db).await else {
        return;
    };
    let [(_, alan), _, (_, ada)] = team(&s).await;
    let anon = s.client.anonymous();

    // A log-in through the browser sets the session cookie; the token is not in the body.
    let r = anon
        .post(
            "/api/login",
            &json!({"name": "rita", "password": "Rita password"}),
        )
        .await
        .unwrap();
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Max-Age=")
    );
    assert!(r.json().get("token").is_none());
    assert_eq!(r.json()["user"]["role"], "reviewer");

    // Five wrong passwords for a name, then even the right one waits.
    for _ in 0..5 {
        let r = anon
            .post(
                "/api/login",
                &json!({"name": "Rita", "password": "guess guess"}),
            )
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (401, Some("bad_login"))
        );
    }
    let r = anon
        .post(
            "/api/login",
            &json!({"name": "rita", "password": "Rita password"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (429, Some("too_many_attempts"))
    );
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 60);
    // An unknown name answers exactly like a wrong password.
    let r = anon
        .post(
            "/api/login",
            &json!({"name": "nobody", "password": "Rita password"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (401, Some("bad_login"))
    );
    // Cross-site log-in (login CSRF) is refused before any password check.
    let r = anon
        .send_raw(
            format!(
                "POST /api/login HTTP/1.1\r\nHost: {}\r\nOrigin: http://evil.example\r\n\
                 Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
                s.addr
            )
            .into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("cross_site"))
    );

    // A role change applies to the next request of a live session.
    let users = ada.get("/api/users").await.unwrap().json();
    let alan_row: Value = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "Alan")
        .unwrap()
        .clone();
    assert!(alan_row.get("password_hash").is_none());
    let id = alan_row["id"].as_i64().unwrap();
    assert_eq!(
        alan.get("/api/export?format=coco").await.unwrap().status,
        403
    );
    let r = ada
        .patch(
            &format!("/api/users/{id}"),
            &json!({"version": 1, "role": "reviewer"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        alan.get("/api/export?format=coco").await.unwrap().status,
        200
    );
    let stale = ada
        .patch(
            &format!("/api/users/{id}"),
            &json!({"version": 1, "disabled": true}),
        )
        .await
        .unwrap();
    assert_eq!(stale.status, 409);

    // A new password ends the user's sessions; so does disabling.
    let r = ada
        .patch(
            &format!("/api/users/{id}"),
            &json!({"version": 2, "password": "short"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400, "a refused password changes nothing");
    let r = ada
        .patch(
            &format!("/api/users/{id}"),
            &json!({"version": 2, "password": "a new password"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(alan.get("/api/images").await.unwrap().status, 401);
    let alan = login(&s, "alan", "a new password").await;
    assert_eq!(alan.get("/api/images").await.unwrap().status, 200);
    let r = ada
        .patch(
            &format!("/api/users/{id}"),
            &json!({"version": 3, "disabled": true}),
        )
        .await
        .unwrap();
    assert_eq!(r.json()["disabled"], true);
    assert_eq!(alan.get("/api/images").await.unwrap().status, 401);
    let r = anon
        .post(
            "/api/login",
            &json!({"name": "alan", "password": "a new password"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401);

    // Log-out ends the session it names.
    let ada2 = login(&s, "ada", "admin password").await;
    assert_eq!(
        ada2.post("/api/logout", &json!({})).await.unwrap().status,
        200
    );
    assert_eq!(ada2.get("/api/images").await.unwrap().status, 401);
    assert_eq!(ada.get("/api/images").await.unwrap().status, 200);
    let who = ada.get("/api/session").await.unwrap().json();
    assert_eq!(
        (who["user"]["name"].as_str(), who["mode"].as_str()),
        (Some("Ada"), Some("accounts"))
    );
}

on_both_backends!(
    the_start_up_token_signs_in_until_the_project_has_users,
    every_endpoint_answers_each_role_as_the_access_table_says,
    the_author_is_the_signed_in_user_whatever_the_client_says,
    log_ins_are_limited_and_sessions_end_when_the_admin_says,
);
