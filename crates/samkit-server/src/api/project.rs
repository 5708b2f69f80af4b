//! Health, the project (guidelines, counts, skipped files) and folder rescans.

use super::*;

pub(super) async fn health(State(st): S) -> Json<Value> {
    Json(
        json!({"ok": true, "version": env!("CARGO_PKG_VERSION"), "model": st.engine.model().to_json()}),
    )
}

pub(super) async fn project_value(st: &AppState) -> ApiResult<Value> {
    let p = st.store.project(st.project_id).await.api()?;
    let cats = st.store.list_categories(st.project_id).await.api()?;
    let counts = st.store.counts(st.project_id).await.api()?;
    let last = st.store.last_history_id(st.project_id).await.api()?;
    let skipped = st.skipped.read().map(|s| s.clone()).unwrap_or_default();
    Ok(json!({
        "name": p.name, "root": p.root, "guidelines": p.guidelines,
        "guidelines_version": p.version,
        "guidelines_updated_at": p.updated_at, "guidelines_updated_by": p.updated_by,
        "categories": cats.iter().map(category_json).collect::<Vec<_>>(),
        "counts": counts, "skipped": skipped,
        "model": st.engine.model().to_json(),
        "export_formats": EXPORT_FORMATS, "import_formats": IMPORT_FORMATS,
        "last_history_id": last,
    }))
}

pub(super) async fn project(State(st): S) -> ApiResult<Json<Value>> {
    Ok(Json(project_value(&st).await?))
}

#[derive(Deserialize)]
pub(super) struct GuidelinesReq {
    pub(super) guidelines: String,
    pub(super) version: i64,
}

pub(super) async fn put_guidelines(
    State(st): S,
    Author(a): Author,
    ApiJson(r): ApiJson<GuidelinesReq>,
) -> ApiResult<Json<Value>> {
    if r.guidelines.len() > 1 << 20 {
        return Err(ApiError::bad_request("guidelines are limited to 1 MiB"));
    }
    st.store
        .set_guidelines(st.project_id, &r.guidelines, r.version, &a)
        .await
        .api()?;
    Ok(Json(project_value(&st).await?))
}

/// Scans the folder into the database; updates the skipped list and the encoder's view.
pub(crate) async fn rescan(st: &AppState) -> ApiResult<Value> {
    let (report, skipped) = sync_folder_with(
        &st.store,
        st.project_id,
        &st.root,
        st.follow_symlinks,
        st.budget,
    )
    .await?;
    if let Ok(mut s) = st.skipped.write() {
        *s = skipped.clone();
    }
    let images = st.store.list_images(st.project_id).await.api()?;
    for i in &images {
        if i.pixel_hash.is_none() {
            st.engine.forget(i.id);
        }
    }
    st.engine.refresh(&images);
    Ok(
        json!({"added": report.added, "updated": report.updated, "missing": report.missing,
              "returned": report.returned, "skipped": skipped}),
    )
}

/// Scans `root` and records its images in the project database (links to files outside
/// `root` are skipped).
pub async fn sync_folder(
    store: &Store,
    project_id: i64,
    root: &Path,
) -> ApiResult<(samkit_store::SyncReport, Vec<Skipped>)> {
    sync_folder_with(store, project_id, root, false, PixelBudget::DEFAULT).await
}

/// [`sync_folder`], following links to files outside `root` if `follow_symlinks`;
/// images over `budget` are skipped.
pub async fn sync_folder_with(
    store: &Store,
    project_id: i64,
    root: &Path,
    follow_symlinks: bool,
    budget: PixelBudget,
) -> ApiResult<(samkit_store::SyncReport, Vec<Skipped>)> {
    let r = root.to_path_buf();
    let scanned = tokio::task::spawn_blocking(move || scan::scan(&r, follow_symlinks, budget))
        .await
        .map_err(|e| ApiError::internal(format!("scan crashed: {e}")))?
        .map_err(|e| {
            ApiError::internal(format!(
                "cannot read the project folder {}: {e}",
                root.display()
            ))
        })?;
    let report = store
        .sync_images(project_id, &scanned.images, "scan")
        .await
        .api()?;
    Ok((report, scanned.skipped))
}

pub(super) async fn rescan_route(State(st): S) -> ApiResult<Json<Value>> {
    Ok(Json(rescan(&st).await?))
}
