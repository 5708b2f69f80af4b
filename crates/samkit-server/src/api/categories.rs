//! Categories.

use super::*;

pub(super) async fn categories(State(st): S) -> ApiResult<Json<Value>> {
    let cats = st.store.list_categories(st.project_id).await.api()?;
    Ok(Json(
        json!({"categories": cats.iter().map(category_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
pub(super) struct CategoryReq {
    pub(super) name: String,
    pub(super) color: Option<String>,
}

pub(super) async fn create_category(
    State(st): S,
    Author(a): Author,
    ApiJson(r): ApiJson<CategoryReq>,
) -> ApiResult<Response> {
    let c = st
        .store
        .create_category(st.project_id, &r.name, r.color.as_deref(), &a)
        .await
        .api()?;
    Ok((StatusCode::CREATED, axum::Json(category_json(&c))).into_response())
}

#[derive(Deserialize)]
pub(super) struct CategoryPatch {
    pub(super) version: i64,
    pub(super) name: Option<String>,
    pub(super) color: Option<String>,
}

pub(super) async fn patch_category(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<CategoryPatch>,
) -> ApiResult<Json<Value>> {
    let c = st.store.category(id).await.api()?;
    if c.project_id != st.project_id {
        return Err(ApiError::not_found(format!("category {id} does not exist")));
    }
    let c = st
        .store
        .update_category(id, r.version, r.name.as_deref(), r.color.as_deref(), &a)
        .await
        .api()?;
    Ok(Json(category_json(&c)))
}

#[derive(Deserialize)]
pub(super) struct CategoryOrder {
    pub(super) ids: Vec<i64>,
}

/// `PUT /api/categories/order`: the project's categories in the order of `ids`.
pub(super) async fn order_categories(
    State(st): S,
    Author(a): Author,
    ApiJson(r): ApiJson<CategoryOrder>,
) -> ApiResult<Json<Value>> {
    let cats = st
        .store
        .reorder_categories(st.project_id, &r.ids, &a)
        .await
        .api()?;
    Ok(Json(
        json!({"categories": cats.iter().map(category_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
pub(super) struct DeleteCategoryQuery {
    pub(super) version: Option<i64>,
    pub(super) reassign_to: Option<i64>,
}

/// `DELETE /api/categories/{id}?version=N[&reassign_to=M]`: its instances move to `M`.
pub(super) async fn delete_category(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DeleteCategoryQuery>,
) -> ApiResult<Json<Value>> {
    let c = st.store.category(id).await.api()?;
    if c.project_id != st.project_id {
        return Err(ApiError::not_found(format!("category {id} does not exist")));
    }
    let version = q.version.ok_or_else(|| {
        ApiError::bad_request(
            "give the version you read: DELETE /api/categories/{id}?version=N[&reassign_to=M]",
        )
    })?;
    let (deleted, moved) = st
        .store
        .delete_category(id, version, q.reassign_to, &a)
        .await
        .api()?;
    Ok(Json(
        json!({"deleted": category_json(&deleted), "moved": moved}),
    ))
}
