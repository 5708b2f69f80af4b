//! The history of changes, and restoring a past state.

use super::*;

#[derive(Deserialize)]
pub(super) struct HistoryReq {
    pub(super) image_id: Option<i64>,
    pub(super) entity: Option<String>,
    pub(super) entity_id: Option<i64>,
    pub(super) since: Option<i64>,
    pub(super) limit: Option<i64>,
}

pub(super) fn entry_json(e: &samkit_store::HistoryEntry) -> Value {
    let fix = |v: &Option<samkit_store::Json<Value>>| -> Value {
        match v {
            Some(j) if e.entity == "instance" => instance_value(j.0.clone()),
            Some(j) => j.0.clone(),
            None => Value::Null,
        }
    };
    json!({
        "id": e.id, "entity": e.entity, "entity_id": e.entity_id, "image_id": e.image_id,
        "action": e.action, "author": e.author, "at": e.at, "version": e.version,
        "before": fix(&e.before), "after": fix(&e.after),
    })
}

/// Whether an annotator may see a history entry: their images' entries (on an image
/// others annotate too, only their own work's), and the project's and categories'.
fn annotator_sees(scope: &crate::scope::AnnotatorScope, e: &samkit_store::HistoryEntry) -> bool {
    let Some(image) = e.image_id else {
        return matches!(e.entity.as_str(), "category" | "project");
    };
    let Some(own) = scope.assignment(image) else {
        return false;
    };
    match e.entity.as_str() {
        "instance" => [&e.after, &e.before].into_iter().flatten().all(|j| {
            j.0.get("assignment_id")
                .and_then(Value::as_i64)
                .is_none_or(|a| a == own)
        }),
        "assignment" | "comment" => e.entity != "assignment" || e.entity_id == own,
        _ => true,
    }
}

pub(super) async fn history(
    State(st): S,
    scope: Option<axum::Extension<crate::scope::AnnotatorScope>>,
    ApiQuery(q): ApiQuery<HistoryReq>,
) -> ApiResult<Json<Value>> {
    let hq = HistoryQuery {
        image_id: q.image_id,
        entity: q.entity,
        entity_id: q.entity_id,
        since: q.since,
        limit: q.limit,
    };
    let mut entries = st.store.history(st.project_id, &hq).await.api()?;
    if let Some(scope) = scope {
        entries.retain(|e| annotator_sees(&scope, e));
    }
    let last = st.store.last_history_id(st.project_id).await.api()?;
    Ok(Json(
        json!({"entries": entries.iter().map(entry_json).collect::<Vec<_>>(), "last_id": last}),
    ))
}

pub(super) async fn history_restore(
    State(st): S,
    Author(a): Author,
    axum::Extension(identity): axum::Extension<crate::auth::Identity>,
    ApiPath(id): ApiPath<i64>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<Value>> {
    let role = identity.role();
    let entry = st.store.history_entry(id).await.api()?;
    if entry.project_id != st.project_id {
        return Err(ApiError::not_found(format!(
            "history entry {id} does not exist"
        )));
    }
    let settings = matches!(entry.entity.as_str(), "category" | "project");
    if settings && role != samkit_store::Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "restoring a {}'s earlier state is for admin users; you are signed in as {role}",
                entry.entity
            ),
        ));
    }
    let need_version = || {
        ApiError::bad_request(
            "give the version you read of the entity to restore: {\"version\": N} (a stale one gets 409)",
        )
    };
    let r: VersionBody = serde_json::from_slice(&body).map_err(|_| need_version())?;
    let version = r.version.ok_or_else(need_version)?;
    let restored = st.store.restore_from_history(id, version, &a).await.api()?;
    let out = match restored {
        samkit_store::Restored::Instance(i) => {
            json!({"entity": "instance", "current": instance_json(&i)})
        }
        samkit_store::Restored::Image(i) => {
            json!({"entity": "image", "current": image_json(&st, &i)})
        }
        samkit_store::Restored::Category(c) => {
            json!({"entity": "category", "current": category_json(&c)})
        }
        samkit_store::Restored::Project(_) => {
            json!({"entity": "project", "current": project_value(&st).await?})
        }
    };
    Ok(Json(out))
}
