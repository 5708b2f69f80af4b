//! Users (admins only): `GET/POST /api/users`, `PATCH /api/users/{id}`.

use super::*;
use samkit_store::{Role, UserPatch};

fn user_json(u: &samkit_store::User) -> Value {
    serde_json::to_value(u).unwrap_or(Value::Null)
}

pub(super) async fn list_users(State(st): S) -> ApiResult<Json<Value>> {
    let users = st.store.users().await.api()?;
    Ok(Json(
        json!({"users": users.iter().map(user_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
pub(super) struct NewUserBody {
    name: String,
    role: Role,
    password: String,
}

pub(super) async fn create_user(
    State(st): S,
    Author(a): Author,
    ApiJson(b): ApiJson<NewUserBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let u = st
        .store
        .create_user(st.project_id, &b.name, b.role, &b.password, &a)
        .await
        .api()?;
    Ok((StatusCode::CREATED, Json(user_json(&u))))
}

#[derive(Deserialize)]
pub(super) struct UserPatchBody {
    version: i64,
    role: Option<Role>,
    disabled: Option<bool>,
    /// A new password (ends the user's sessions).
    password: Option<String>,
}

pub(super) async fn patch_user(
    State(st): S,
    Author(a): Author,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<UserPatchBody>,
) -> ApiResult<Json<Value>> {
    let patch = UserPatch {
        role: b.role,
        disabled: b.disabled,
    };
    if let Some(p) = &b.password {
        samkit_store::check_new_password(p).api()?;
    }
    let mut u = st
        .store
        .update_user(st.project_id, id, b.version, &patch, &a)
        .await
        .api()?;
    if let Some(p) = b.password {
        u = st
            .store
            .set_password(st.project_id, id, &p, &a)
            .await
            .api()?;
    }
    Ok(Json(user_json(&u)))
}
