//! Instances (masks) of an image: create, update, delete, restore.

use super::*;

#[derive(Deserialize)]
pub(super) struct InstanceQuery {
    #[serde(default)]
    pub(super) include_deleted: bool,
    /// Only the instances made under this assignment (one annotator's work on an image
    /// several annotate), and those made outside the workflow.
    pub(super) assignment: Option<i64>,
}

pub(super) async fn list_instances(
    State(st): S,
    scope: Option<axum::Extension<crate::scope::AnnotatorScope>>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<InstanceQuery>,
) -> ApiResult<Json<Value>> {
    own_image(&st, id).await?;
    let mut list = st.store.list_instances(id, q.include_deleted).await.api()?;
    // An annotator sees their own work on the image, never another annotator's.
    let only = match scope {
        Some(s) => s.assignment(id),
        None => q.assignment,
    };
    if let Some(a) = only {
        list.retain(|i| i.assignment_id.is_none_or(|x| x == a));
    }
    Ok(Json(
        json!({"instances": list.iter().map(instance_json).collect::<Vec<_>>()}),
    ))
}

/// Validates an RLE sent by a client against the image size; returns the stored form.
pub(super) fn parse_rle(v: Value, img: &samkit_store::Image) -> ApiResult<(Value, i64, [f64; 4])> {
    let rle: CocoRle = serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid rle: {e}; expected {{\"size\": [h, w], \"counts\": [runs...]}} (COCO RLE, column-major)"
        ))
    })?;
    if (i64::from(rle.height()), i64::from(rle.width())) != (img.height, img.width) {
        return Err(ApiError::bad_request(format!(
            "rle size is [{}, {}] but image {} is [{}, {}] (size is [height, width])",
            rle.height(),
            rle.width(),
            img.id,
            img.height,
            img.width
        )));
    }
    if rle.area() == 0 {
        return Err(ApiError::bad_request("the mask is empty; nothing to save"));
    }
    let area = rle.area() as i64;
    let bbox = rle.bbox();
    let stored = serde_json::to_value(&rle).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((stored, area, bbox))
}

#[derive(Deserialize)]
pub(super) struct CreateReq {
    pub(super) category_id: Option<i64>,
    pub(super) rle: Value,
    pub(super) score: Option<f64>,
    pub(super) prompts: Option<Value>,
    pub(super) client_id: Option<String>,
    /// Name → boolean, number or text (`iscrowd`, `occluded`, free-form).
    pub(super) attributes: Option<Value>,
}

pub(super) async fn create_instance(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<CreateReq>,
) -> ApiResult<Response> {
    let img = own_image(&st, id).await?;
    let (rle, area, bbox) = parse_rle(r.rle, &img)?;
    let category_id = match r.category_id {
        Some(c) => c,
        None => st
            .store
            .list_categories(st.project_id)
            .await
            .api()?
            .first()
            .map(|c| c.id)
            .ok_or_else(|| {
                ApiError::bad_request("the project has no category; create one first")
            })?,
    };
    if r.client_id.as_ref().is_some_and(|c| c.len() > 100) {
        return Err(ApiError::bad_request(
            "client_id is limited to 100 characters",
        ));
    }
    let new = NewInstance {
        image_id: id,
        category_id,
        rle,
        area,
        bbox,
        score: r.score.filter(|s| s.is_finite()),
        prompts: r.prompts.unwrap_or_else(|| json!({})),
        client_id: r.client_id,
        attributes: r.attributes.unwrap_or(Value::Null),
    };
    // Runs to completion even if the client goes away mid-request.
    let store = st.store.clone();
    let (inst, created) = tokio::spawn(async move { store.create_instance(new, &a).await })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .api()?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, axum::Json(instance_json(&inst))).into_response())
}

pub(super) async fn own_instance(st: &AppState, id: i64) -> ApiResult<samkit_store::Instance> {
    let i = st.store.instance(id).await.api()?;
    own_image(st, i.image_id)
        .await
        .map_err(|_| ApiError::not_found(format!("instance {id} does not exist")))?;
    Ok(i)
}

pub(super) async fn get_instance(
    State(st): S,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(instance_json(&own_instance(&st, id).await?)))
}

#[derive(Deserialize)]
pub(super) struct PatchReq {
    pub(super) version: i64,
    pub(super) category_id: Option<i64>,
    pub(super) rle: Option<Value>,
    /// Absent: unchanged; `null`: cleared (a hand-edited mask has no predicted score).
    #[serde(default, deserialize_with = "present")]
    pub(super) score: Option<Option<f64>>,
    pub(super) prompts: Option<Value>,
    /// Drawing order within the image (ascending; ties by id).
    pub(super) z: Option<i64>,
    /// The whole attribute set (replaces the old one).
    pub(super) attributes: Option<Value>,
}

/// A field that is present, `null` included, as `Some` (absent ones take `default`: `None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub(super) async fn patch_instance(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<PatchReq>,
) -> ApiResult<Json<Value>> {
    let inst = own_instance(&st, id).await?;
    let mask = match r.rle {
        Some(v) => {
            let img = own_image(&st, inst.image_id).await?;
            Some(parse_rle(v, &img)?)
        }
        None => None,
    };
    let patch = InstancePatch {
        category_id: r.category_id,
        mask,
        score: r.score.map(|s| s.filter(|v| v.is_finite())),
        prompts: r.prompts,
        z: r.z,
        attributes: r.attributes,
    };
    let out = st
        .store
        .update_instance(id, r.version, patch, &a)
        .await
        .api()?;
    Ok(Json(instance_json(&out)))
}

#[derive(Deserialize)]
pub(super) struct VersionQuery {
    pub(super) version: Option<i64>,
}

pub(super) async fn delete_instance(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<Value>> {
    own_instance(&st, id).await?;
    let v = q.version.ok_or_else(|| {
        ApiError::bad_request("give the version you read: DELETE /api/instances/{id}?version=N")
    })?;
    let out = st.store.delete_instance(id, v, &a).await.api()?;
    Ok(Json(instance_json(&out)))
}

#[derive(Deserialize)]
pub(super) struct VersionBody {
    pub(super) version: Option<i64>,
}

pub(super) async fn restore_instance(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<VersionBody>,
) -> ApiResult<Json<Value>> {
    own_instance(&st, id).await?;
    let v = r.version.ok_or_else(|| {
        ApiError::bad_request("give the deleted instance's version: {\"version\": N}")
    })?;
    let out = st.store.restore_instance(id, v, &a).await.api()?;
    Ok(Json(instance_json(&out)))
}
