//! What the two backends must do alike beyond one handle's behaviour (`tests.rs`): handles
//! racing on one database (as servers sharing PostgreSQL do), values PostgreSQL's prepared
//! statements must accept in either form, and an old SQLite database upgraded.

use super::*;
use crate::tests::{fresh, new_inst};

/// Two handles on one database (two servers sharing it): many writers racing with the same
/// version, through both, leave exactly one change and one history entry; the others get
/// the conflict. On PostgreSQL this rests on the write lock of `Store::begin_write`.
async fn racing_stale_writes_through_two_handles_leave_one_change(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = crate::test_url(backend, dir.path()) else {
        return;
    };
    let one = Store::open(&url).await.unwrap();
    let two = Store::open(&url).await.unwrap();
    let p = one.ensure_project("demo", "/r", "a").await.unwrap();
    assert_eq!(
        two.ensure_project("demo", "/r", "b").await.unwrap().id,
        p.id
    );
    let img = NewImage {
        path: "a.jpg".into(),
        width: 4,
        height: 3,
        content_hash: "h".into(),
    };
    one.sync_images(p.id, &[img], "scan").await.unwrap();
    let image = two.list_images(p.id).await.unwrap().remove(0);
    let cat = two.list_categories(p.id).await.unwrap().remove(0);
    let (inst, _) = one
        .create_instance(new_inst(&image, &cat, None), "alice")
        .await
        .unwrap();
    let before = one.last_history_id(p.id).await.unwrap();

    let tasks: Vec<_> = (0..16)
        .map(|k| {
            let store = if k % 2 == 0 { one.clone() } else { two.clone() };
            let (id, version) = (inst.id, inst.version);
            tokio::spawn(async move {
                let patch = InstancePatch {
                    z: Some(100 + k),
                    ..Default::default()
                };
                store
                    .update_instance(id, version, patch, &format!("w{k}"))
                    .await
            })
        })
        .collect();
    let mut won = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(i) => won.push(i),
            Err(StoreError::Conflict(c)) => assert_eq!(c.sent_version, inst.version),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one of the racing writes lands");
    let now = two.instance(inst.id).await.unwrap();
    assert_eq!(now.version, inst.version + 1);
    assert_eq!(now.z, won[0].z);
    let entries = one
        .history(
            p.id,
            &HistoryQuery {
                since: Some(before),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "one history entry: {entries:?}");
    assert_eq!(entries[0].author, won[0].updated_by);
}

/// An invariant spanning rows: two admins demote each other at the same moment, through
/// two handles. Each demotion alone keeps an admin, so without serialised writes both
/// would land and leave none; one must be refused.
async fn racing_demotions_keep_an_admin(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = crate::test_url(backend, dir.path()) else {
        return;
    };
    let one = Store::open(&url).await.unwrap();
    let two = Store::open(&url).await.unwrap();
    let p = one.ensure_project("demo", "/r", "a").await.unwrap();
    for round in 0..8 {
        let pw = "a long enough password";
        let a = one
            .create_user(p.id, &format!("a{round}"), Role::Admin, pw, "cli")
            .await
            .unwrap();
        let b = one
            .create_user(p.id, &format!("b{round}"), Role::Admin, pw, "cli")
            .await
            .unwrap();
        // Demote every other admin first, so a and b are the only ones left.
        for u in one.users().await.unwrap() {
            if u.role == Role::Admin && u.id != a.id && u.id != b.id && !u.disabled {
                let patch = UserPatch {
                    disabled: Some(true),
                    ..Default::default()
                };
                one.update_user(p.id, u.id, u.version, &patch, "cli")
                    .await
                    .unwrap();
            }
        }
        let demote = |store: Store, u: User| {
            tokio::spawn(async move {
                let patch = UserPatch {
                    role: Some(Role::Annotator),
                    ..Default::default()
                };
                store.update_user(p.id, u.id, u.version, &patch, "x").await
            })
        };
        let (ra, rb) = (demote(one.clone(), a), demote(two.clone(), b));
        let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
        assert!(
            ra.is_ok() != rb.is_ok(),
            "round {round}: exactly one demotion lands"
        );
        let admins = two
            .users()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Admin && !u.disabled)
            .count();
        assert_eq!(admins, 1, "round {round}");
    }
}

/// A score goes from none to some and back, on create and update, many times: the
/// statements PostgreSQL prepared (and sqlx cached per connection) for one case must take
/// the other (see `db.rs` on nullable doubles).
async fn scores_are_set_and_cleared_again_and_again(backend: Backend) {
    let Some((_d, store, _p, img, cat)) = fresh(backend).await else {
        return;
    };
    // Many rounds: the pool hands out several connections, and the failure needs one
    // that prepared the statement in the other case.
    for k in 0..100 {
        let mut new = new_inst(&img, &cat, None);
        new.score = (k % 2 == 0).then_some(0.25);
        let (i, _) = store.create_instance(new, "a").await.unwrap();
        assert_eq!(i.score, (k % 2 == 0).then_some(0.25));
        let flipped = if i.score.is_some() { None } else { Some(0.75) };
        let patch = InstancePatch {
            score: Some(flipped),
            ..Default::default()
        };
        let u = store
            .update_instance(i.id, i.version, patch, "a")
            .await
            .unwrap();
        assert_eq!(u.score, flipped);
        assert_eq!(store.instance(i.id).await.unwrap().score, flipped);
    }
}

on_both_backends!(
    scores_are_set_and_cleared_again_and_again,
    racing_stale_writes_through_two_handles_leave_one_change,
    racing_demotions_keep_an_admin
);

/// A project database made before the flags became integers (migration 0008) opens with
/// its flags intact.
#[tokio::test]
async fn sqlite_flags_survive_the_integer_migration() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    let mut migrator = sqlx::migrate!("./migrations/sqlite");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= 7)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator.run(&mut conn).await.unwrap();
    let t = "'2026-01-01T00:00:00.000Z'";
    for sql in [
        format!("INSERT INTO projects (name, root, version, created_at, updated_at, updated_by) VALUES ('p', '/r', 1, {t}, {t}, 'a')"),
        format!("INSERT INTO categories (project_id, name, name_key, color, created_at, updated_at, updated_by) VALUES (1, 'object', 'object', '#e6194b', {t}, {t}, 'a')"),
        format!("INSERT INTO images (project_id, path, width, height, content_hash, missing, created_at, updated_at, updated_by) VALUES (1, 'a.jpg', 4, 3, 'h', TRUE, {t}, {t}, 'a'), (1, 'b.jpg', 4, 3, 'h', FALSE, {t}, {t}, 'a')"),
        format!("INSERT INTO instances (image_id, category_id, rle, area, bbox, prompts, author, created_at, updated_at, updated_by, deleted) VALUES (2, 1, '{{}}', 1, '[0,0,1,1]', '{{}}', 'a', {t}, {t}, 'a', TRUE)"),
        format!("INSERT INTO users (name, name_key, role, password_hash, disabled, created_at, updated_at, updated_by) VALUES ('Ada', 'ada', 'admin', 'x', TRUE, {t}, {t}, 'a')"),
    ] {
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();

    let store = Store::open_path(&path).await.unwrap();
    let images = store.list_images(1).await.unwrap();
    assert_eq!(
        images
            .iter()
            .map(|i| (i.path.as_str(), i.missing))
            .collect::<Vec<_>>(),
        [("a.jpg", true), ("b.jpg", false)]
    );
    assert!(store.instance(1).await.unwrap().deleted);
    assert!(store.users().await.unwrap()[0].disabled);
}
