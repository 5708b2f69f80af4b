use super::*;
use serde_json::json;

pub(crate) async fn fresh(
    backend: Backend,
) -> Option<(tempfile::TempDir, Store, Project, Image, Category)> {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::test_store(backend, dir.path()).await?;
    let p = store
        .ensure_project("demo", "/tmp/demo", "alice")
        .await
        .unwrap();
    let imgs = vec![
        NewImage {
            path: "a.jpg".into(),
            width: 4,
            height: 3,
            content_hash: "h1".into(),
        },
        NewImage {
            path: "b.jpg".into(),
            width: 5,
            height: 5,
            content_hash: "h2".into(),
        },
    ];
    store.sync_images(p.id, &imgs, "scan").await.unwrap();
    let img = store.list_images(p.id).await.unwrap().remove(0);
    let cat = store.list_categories(p.id).await.unwrap().remove(0);
    Some((dir, store, p, img, cat))
}

pub(crate) fn new_inst(image: &Image, cat: &Category, client: Option<&str>) -> NewInstance {
    NewInstance {
        image_id: image.id,
        category_id: cat.id,
        rle: json!({"size": [3, 4], "counts": [0, 2, 10]}),
        area: 2,
        bbox: [0.0, 0.0, 1.0, 2.0],
        score: Some(0.9),
        prompts: json!({"points": [{"x": 0, "y": 0, "label": "positive"}]}),
        client_id: client.map(String::from),
        attributes: serde_json::Value::Null,
    }
}

async fn crud_and_counts(backend: Backend) {
    let Some((_d, store, p, img, cat)) = fresh(backend).await else {
        return;
    };
    assert_eq!(cat.name, DEFAULT_CATEGORY);
    let (i, created) = store
        .create_instance(new_inst(&img, &cat, None), "alice")
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        (i.version, i.author.as_str(), i.deleted),
        (1, "alice", false)
    );
    assert_eq!(store.list_instances(img.id, false).await.unwrap().len(), 1);
    let dog = store
        .create_category(p.id, "Dog", Some("#00FF00"), "bob")
        .await
        .unwrap();
    assert_eq!(dog.color, "#00ff00");
    assert!(matches!(
        store.create_category(p.id, " dog ", None, "bob").await,
        Err(StoreError::Duplicate(_))
    ));
    let patch = InstancePatch {
        category_id: Some(dog.id),
        ..Default::default()
    };
    let i2 = store.update_instance(i.id, 1, patch, "bob").await.unwrap();
    assert_eq!(
        (
            i2.version,
            i2.category_id,
            i2.updated_by.as_str(),
            i2.author.as_str()
        ),
        (2, dog.id, "bob", "alice")
    );
    let del = store.delete_instance(i.id, 2, "bob").await.unwrap();
    assert!(del.deleted);
    assert!(store
        .list_instances(img.id, false)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.list_instances(img.id, true).await.unwrap().len(), 1);
    assert!(matches!(
        store
            .update_instance(i.id, 3, InstancePatch::default(), "bob")
            .await,
        Err(StoreError::Gone(_))
    ));
    let back = store.restore_instance(i.id, 3, "bob").await.unwrap();
    assert!(!back.deleted);
    let img2 = store
        .set_image_status(img.id, ImageStatus::Done, img.version, "carol")
        .await
        .unwrap();
    assert_eq!(
        (img2.status.as_str(), img2.version, img2.instance_count),
        ("done", 2, 1)
    );
    let c = store.counts(p.id).await.unwrap();
    assert_eq!((c.images, c.done, c.todo, c.instances), (2, 1, 1, 1));
    let p2 = store
        .set_guidelines(p.id, "# Rules", 1, "alice")
        .await
        .unwrap();
    assert_eq!((p2.guidelines.as_str(), p2.version), ("# Rules", 2));
    // A category of another project is refused.
    let other = store.ensure_project("o", "/tmp/other", "x").await.unwrap();
    let ocat = store.list_categories(other.id).await.unwrap().remove(0);
    assert!(matches!(
        store
            .create_instance(new_inst(&img, &ocat, None), "x")
            .await,
        Err(StoreError::Invalid(_))
    ));
}

async fn idempotent_create(backend: Backend) {
    let Some((_d, store, _p, img, cat)) = fresh(backend).await else {
        return;
    };
    let (a, c1) = store
        .create_instance(new_inst(&img, &cat, Some("k1")), "alice")
        .await
        .unwrap();
    let (b, c2) = store
        .create_instance(new_inst(&img, &cat, Some("k1")), "alice")
        .await
        .unwrap();
    assert!(c1 && !c2);
    assert_eq!(a.id, b.id);
    assert_eq!(store.list_instances(img.id, true).await.unwrap().len(), 1);
}

async fn stale_write_is_refused_with_who_and_when(backend: Backend) {
    let Some((_d, store, p, img, cat)) = fresh(backend).await else {
        return;
    };
    let (i, _) = store
        .create_instance(new_inst(&img, &cat, None), "alice")
        .await
        .unwrap();
    store
        .update_instance(
            i.id,
            1,
            InstancePatch {
                score: Some(Some(0.5)),
                ..Default::default()
            },
            "bob",
        )
        .await
        .unwrap();
    let err = store
        .update_instance(
            i.id,
            1,
            InstancePatch {
                score: Some(Some(0.1)),
                ..Default::default()
            },
            "carol",
        )
        .await
        .unwrap_err();
    let StoreError::Conflict(info) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (
            info.current_version,
            info.sent_version,
            info.author.as_str()
        ),
        (2, 1, "bob")
    );
    assert_eq!(info.current["score"], json!(0.5));
    let msg = err.to_string();
    assert!(
        msg.contains("changed by bob") && msg.contains("now version 2"),
        "{msg}"
    );
    // Nothing was overwritten.
    assert_eq!(store.instance(i.id).await.unwrap().score, Some(0.5));
    assert!(matches!(
        store.delete_instance(i.id, 1, "carol").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .set_image_status(img.id, ImageStatus::Done, 99, "carol")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.set_guidelines(p.id, "x", 7, "carol").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .update_category(cat.id, 5, Some("x"), None, "carol")
            .await,
        Err(StoreError::Conflict(_))
    ));
}

async fn history_and_restore(backend: Backend) {
    let Some((_d, store, p, img, cat)) = fresh(backend).await else {
        return;
    };
    let (i, _) = store
        .create_instance(new_inst(&img, &cat, None), "alice")
        .await
        .unwrap();
    let mask2 = (
        json!({"size": [3, 4], "counts": [1, 5, 6]}),
        5,
        [0.0, 0.0, 2.0, 3.0],
    );
    store
        .update_instance(
            i.id,
            1,
            InstancePatch {
                mask: Some(mask2),
                ..Default::default()
            },
            "bob",
        )
        .await
        .unwrap();
    store.delete_instance(i.id, 2, "carol").await.unwrap();
    let q = HistoryQuery {
        entity: Some("instance".into()),
        entity_id: Some(i.id),
        ..Default::default()
    };
    let h = store.history(p.id, &q).await.unwrap();
    let actions: Vec<_> = h
        .iter()
        .map(|e| (e.action.as_str(), e.author.as_str(), e.version))
        .collect();
    assert_eq!(
        actions,
        [
            ("delete", "carol", 3),
            ("update", "bob", 2),
            ("create", "alice", 1)
        ]
    );
    assert_eq!(h[1].before.as_ref().unwrap().0["area"], json!(2));
    assert_eq!(h[1].after.as_ref().unwrap().0["area"], json!(5));
    // Restore to the state after creation: undeleted, original mask.
    let create_entry = h[2].id;
    assert!(matches!(
        store.restore_from_history(create_entry, 1, "dave").await,
        Err(StoreError::Conflict(_))
    ));
    let Restored::Instance(r) = store
        .restore_from_history(create_entry, 3, "dave")
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (r.area, r.deleted, r.version, r.updated_by.as_str()),
        (2, false, 4, "dave")
    );
    // History is append-only: the restore is a new entry, the old ones unchanged.
    let h2 = store.history(p.id, &q).await.unwrap();
    assert_eq!(h2.len(), 4);
    assert_eq!(h2[0].action, "restore");
    assert_eq!(&h2[1..], &h[..]);
    // `since` returns newer entries oldest first; image filter works.
    let since = store
        .history(
            p.id,
            &HistoryQuery {
                since: Some(h[1].id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        since.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["delete", "restore"]
    );
    let by_img = store
        .history(
            p.id,
            &HistoryQuery {
                image_id: Some(img.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(by_img.iter().all(|e| e.image_id == Some(img.id)));
    assert_eq!(store.last_history_id(p.id).await.unwrap(), h2[0].id);
    // Guidelines restore.
    store.set_guidelines(p.id, "v2", 1, "a").await.unwrap();
    store.set_guidelines(p.id, "v3", 2, "a").await.unwrap();
    let gh = store
        .history(
            p.id,
            &HistoryQuery {
                entity: Some("project".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let v2 = gh
        .iter()
        .find(|e| e.after.as_ref().unwrap().0["guidelines"] == json!("v2"))
        .unwrap();
    let Restored::Project(pr) = store.restore_from_history(v2.id, 3, "a").await.unwrap() else {
        panic!()
    };
    assert_eq!((pr.guidelines.as_str(), pr.version), ("v2", 4));
    // A restore naming a version older than the current one is refused, not applied.
    store.set_guidelines(p.id, "v5", 4, "b").await.unwrap();
    assert!(matches!(
        store.restore_from_history(v2.id, 4, "a").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.project(p.id).await.unwrap().guidelines, "v5");
}

async fn scan_sync_marks_missing_and_returned(backend: Backend) {
    let Some((_d, store, p, _img, _cat)) = fresh(backend).await else {
        return;
    };
    let only_b = vec![NewImage {
        path: "b.jpg".into(),
        width: 5,
        height: 5,
        content_hash: "h2".into(),
    }];
    let r = store.sync_images(p.id, &only_b, "scan").await.unwrap();
    assert_eq!((r.added, r.missing), (0, 1));
    let imgs = store.list_images(p.id).await.unwrap();
    assert!(imgs[0].missing && !imgs[1].missing);
    let both = vec![
        NewImage {
            path: "a.jpg".into(),
            width: 4,
            height: 3,
            content_hash: "h1".into(),
        },
        NewImage {
            path: "b.jpg".into(),
            width: 5,
            height: 5,
            content_hash: "h2".into(),
        },
        NewImage {
            path: "c.jpg".into(),
            width: 1,
            height: 1,
            content_hash: "h3".into(),
        },
    ];
    let r = store.sync_images(p.id, &both, "scan").await.unwrap();
    assert_eq!((r.added, r.returned, r.missing), (1, 1, 0));
    assert_eq!(store.counts(p.id).await.unwrap().missing, 0);
    // Unchanged rescan writes nothing.
    let last = store.last_history_id(p.id).await.unwrap();
    store.sync_images(p.id, &both, "scan").await.unwrap();
    assert_eq!(store.last_history_id(p.id).await.unwrap(), last);
}

async fn reopen_is_idempotent_and_keeps_data(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = crate::test_url(backend, dir.path()) else {
        return;
    };
    let id = {
        let s = Store::open(&url).await.unwrap();
        let p = s.ensure_project("demo", "/r", "a").await.unwrap();
        s.close().await;
        p.id
    };
    for _ in 0..2 {
        let s = Store::open(&url).await.unwrap();
        let p = s.ensure_project("demo", "/r", "a").await.unwrap();
        assert_eq!(p.id, id);
        assert_eq!(s.list_categories(p.id).await.unwrap().len(), 1);
        s.close().await;
    }
    if backend == Backend::Sqlite {
        let s = Store::open_path(&dir.path().join("p.db")).await.unwrap();
        assert_eq!(s.first_project().await.unwrap().unwrap().id, id);
    }
}

async fn bad_input_is_an_error_not_a_panic(backend: Backend) {
    let Some((_d, store, p, img, cat)) = fresh(backend).await else {
        return;
    };
    assert!(matches!(
        store.create_category(p.id, "  ", None, "a").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.create_category(p.id, "x", Some("red"), "a").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.instance(999).await,
        Err(StoreError::NotFound { .. })
    ));
    let mut n = new_inst(&img, &cat, None);
    n.category_id = 999;
    assert!(matches!(
        store.create_instance(n, "a").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.restore_from_history(12345, 1, "a").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(normalize_author("  "), "anonymous");
    assert_eq!(normalize_author("eve\r\nadmin\u{1b}[2J\0"), "eveadmin[2J");
    assert_eq!(normalize_author("\n\t"), "anonymous");
}

async fn attributes_are_checked_versioned_and_restored(backend: Backend) {
    let Some((_d, store, p, img, cat)) = fresh(backend).await else {
        return;
    };
    let mut new = new_inst(&img, &cat, None);
    new.attributes = json!({"occluded": 1, "colour": "red"});
    let (i, _) = store.create_instance(new, "alice").await.unwrap();
    assert_eq!(i.attributes.0, json!({"occluded": true, "colour": "red"}));

    // A bad set is refused with its reason and changes nothing.
    let bad = InstancePatch {
        attributes: Some(json!({"iscrowd": "maybe"})),
        ..Default::default()
    };
    let err = store
        .update_instance(i.id, 1, bad, "bob")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("iscrowd must be true or false"),
        "{err}"
    );
    assert_eq!(store.instance(i.id).await.unwrap().version, 1);
    let mut refused = new_inst(&img, &cat, None);
    refused.attributes = json!(["not", "an", "object"]);
    assert!(store.create_instance(refused, "alice").await.is_err());
    assert_eq!(store.list_instances(img.id, false).await.unwrap().len(), 1);

    // An update replaces the whole set, as a new version in the history.
    let set = InstancePatch {
        attributes: Some(json!({"iscrowd": true})),
        ..Default::default()
    };
    let updated = store.update_instance(i.id, 1, set, "bob").await.unwrap();
    assert_eq!(
        (updated.version, updated.attributes.0.clone()),
        (2, json!({"iscrowd": true}))
    );
    let log = store
        .history(
            p.id,
            &HistoryQuery {
                entity: Some("instance".into()),
                entity_id: Some(i.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let created = log.iter().min_by_key(|e| e.id).unwrap();
    let restored = store
        .restore_from_history(created.id, 2, "carol")
        .await
        .unwrap();
    match restored {
        Restored::Instance(r) => {
            assert_eq!(r.attributes.0, json!({"occluded": true, "colour": "red"}));
            assert_eq!(r.version, 3);
        }
        other => panic!("expected an instance, got {other:?}"),
    }
}

async fn volume_windows_are_set_replaced_and_cleared_per_file(backend: Backend) {
    let Some((_dir, store, p, _, _)) = fresh(backend).await else {
        return;
    };
    assert!(store.volume_windows(p.id).await.unwrap().is_empty());
    let w = store
        .set_volume_window(p.id, "ct.nii.gz", Some((40.0, 400.0)), "ann")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (w.file.as_str(), w.center, w.width),
        ("ct.nii.gz", 40.0, 400.0)
    );
    store
        .set_volume_window(p.id, "ct.nii.gz", Some((-600.0, 1500.0)), "bob")
        .await
        .unwrap();
    store
        .set_volume_window(p.id, "mr.nii", Some((300.0, 600.0)), "bob")
        .await
        .unwrap();
    let all = store.volume_windows(p.id).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|w| (w.file.as_str(), w.center, w.width, w.updated_by.as_str()))
            .collect::<Vec<_>>(),
        [
            ("ct.nii.gz", -600.0, 1500.0, "bob"),
            ("mr.nii", 300.0, 600.0, "bob")
        ]
    );
    assert_eq!(
        store
            .set_volume_window(p.id, "ct.nii.gz", None, "bob")
            .await
            .unwrap(),
        None
    );
    let left = store.volume_windows(p.id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].file, "mr.nii");
}

on_both_backends!(
    crud_and_counts,
    idempotent_create,
    stale_write_is_refused_with_who_and_when,
    history_and_restore,
    scan_sync_marks_missing_and_returned,
    reopen_is_idempotent_and_keeps_data,
    bad_input_is_an_error_not_a_panic,
    attributes_are_checked_versioned_and_restored,
    volume_windows_are_set_replaced_and_cleared_per_file,
);
