//! Categories: their order (keys 1–9, YOLO class indices) and deleting one with instances.

use super::*;
use crate::tests::{fresh, new_inst};

async fn categories_are_reordered_and_new_ones_go_last(backend: Backend) {
    let Some((_d, store, p, _img, object)) = fresh(backend).await else {
        return;
    };
    let dog = store.create_category(p.id, "dog", None, "a").await.unwrap();
    let cat = store.create_category(p.id, "cat", None, "a").await.unwrap();
    let names = |cs: &[Category]| cs.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&store.list_categories(p.id).await.unwrap()),
        ["object", "dog", "cat"]
    );
    let out = store
        .reorder_categories(p.id, &[cat.id, object.id, dog.id], "bob")
        .await
        .unwrap();
    assert_eq!(names(&out), ["cat", "object", "dog"]);
    assert_eq!(
        names(&store.list_categories(p.id).await.unwrap()),
        names(&out)
    );
    // Every category moved: each has a new version and a reorder entry by bob.
    let log = store
        .history(
            p.id,
            &HistoryQuery {
                entity: Some("category".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "reorder" && e.author == "bob")
            .count(),
        3
    );
    assert!(out.iter().all(|c| c.version == 2));
    let bird = store
        .create_category(p.id, "bird", None, "a")
        .await
        .unwrap();
    assert_eq!(
        store
            .list_categories(p.id)
            .await
            .unwrap()
            .last()
            .unwrap()
            .id,
        bird.id
    );
    // Not a permutation of the project's categories: refused, nothing changed.
    for bad in [
        vec![cat.id, object.id, dog.id],
        vec![cat.id, cat.id, object.id, dog.id],
        vec![cat.id, object.id, dog.id, bird.id, 999],
    ] {
        assert!(matches!(
            store.reorder_categories(p.id, &bad, "a").await,
            Err(StoreError::Invalid(_))
        ));
    }
    assert_eq!(
        names(&store.list_categories(p.id).await.unwrap()),
        ["cat", "object", "dog", "bird"]
    );
}

async fn deleting_a_category_moves_its_instances(backend: Backend) {
    let Some((_d, store, p, img, object)) = fresh(backend).await else {
        return;
    };
    let dog = store.create_category(p.id, "dog", None, "a").await.unwrap();
    let (live, _) = store
        .create_instance(new_inst(&img, &dog, Some("l")), "a")
        .await
        .unwrap();
    let (gone, _) = store
        .create_instance(new_inst(&img, &dog, Some("g")), "a")
        .await
        .unwrap();
    let gone = store.delete_instance(gone.id, 1, "a").await.unwrap();
    let dog = store.category(dog.id).await.unwrap();
    assert_eq!(dog.instance_count, 1);
    // With instances, a target is required; it must be another category of the project.
    for target in [None, Some(dog.id), Some(999)] {
        assert!(matches!(
            store
                .delete_category(dog.id, dog.version, target, "a")
                .await,
            Err(StoreError::Invalid(_))
        ));
    }
    assert!(matches!(
        store
            .delete_category(dog.id, dog.version + 1, Some(object.id), "a")
            .await,
        Err(StoreError::Conflict(_))
    ));
    let (deleted, moved) = store
        .delete_category(dog.id, dog.version, Some(object.id), "bob")
        .await
        .unwrap();
    assert_eq!((deleted.name.as_str(), moved), ("dog", 1));
    assert!(matches!(
        store.category(dog.id).await,
        Err(StoreError::NotFound { .. })
    ));
    // Both instances (the deleted one too) now belong to object, each a new version.
    let live = store.instance(live.id).await.unwrap();
    let gone_now = store.instance(gone.id).await.unwrap();
    assert_eq!((live.category_id, live.version), (object.id, 2));
    assert_eq!(
        (gone_now.category_id, gone_now.version, gone_now.deleted),
        (object.id, gone.version + 1, true)
    );
    let restored = store
        .restore_instance(gone.id, gone_now.version, "a")
        .await
        .unwrap();
    assert_eq!(restored.category_id, object.id);
    let log = store.history(p.id, &HistoryQuery::default()).await.unwrap();
    assert!(log
        .iter()
        .any(|e| e.entity == "category" && e.entity_id == dog.id && e.action == "delete"));
    // The last category stays; one without instances needs no target.
    let object = store.category(object.id).await.unwrap();
    assert!(matches!(
        store
            .delete_category(object.id, object.version, None, "a")
            .await,
        Err(StoreError::Invalid(_))
    ));
    let empty = store
        .create_category(p.id, "empty", None, "a")
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_category(empty.id, 1, None, "a")
            .await
            .unwrap()
            .1,
        0
    );
}

on_both_backends!(
    categories_are_reordered_and_new_ones_go_last,
    deleting_a_category_moves_its_instances
);
