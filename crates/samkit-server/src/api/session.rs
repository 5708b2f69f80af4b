//! Signing in and out: `GET /api/session`, `POST /api/login`, `POST /api/logout`, and the
//! one-person token's address (`/?token=…`).

use super::*;
use crate::auth::{self, Identity};

fn user_value(u: &samkit_store::User) -> Value {
    json!({"id": u.id, "name": u.name, "role": u.role})
}

/// Who this browser is signed in as, and how this project signs people in (`local`: the
/// start-up token; `accounts`: names and passwords). Public: the UI asks it first.
pub(super) async fn session(
    State(st): S,
    identity: Option<axum::Extension<Identity>>,
) -> ApiResult<Json<Value>> {
    let users = st.store.user_count().await.api()?;
    let mode = if users == 0 { "local" } else { "accounts" };
    Ok(Json(match identity.map(|i| i.0) {
        Some(Identity::Local) => {
            json!({"mode": mode, "signed_in": true, "user": {"id": null, "name": null, "role": "admin"}})
        }
        Some(Identity::User(u)) => {
            json!({"mode": mode, "signed_in": true, "user": user_value(&u)})
        }
        None => json!({"mode": mode, "signed_in": false, "user": null}),
    }))
}

#[derive(Deserialize)]
pub(super) struct LoginBody {
    name: String,
    password: String,
    /// Also answer the session token (for scripts, which send it as a Bearer token).
    #[serde(default)]
    token: bool,
}

pub(super) async fn login(
    State(st): S,
    req_parts: RequestParts,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let addr = auth::peer(&req_parts.extensions);
    if let Err(wait) = st.auth.limiter.check(&b.name, addr) {
        let secs = wait.as_secs().max(1);
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!(
                "too many failed log-ins; try again in {} min",
                secs.div_ceil(60)
            ),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            err.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(err);
    }
    let Some(user) = st.store.check_password(&b.name, &b.password).await.api()? else {
        st.auth.limiter.failed(&b.name, addr);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_login",
            "wrong name or password (or the account is disabled); ask an admin to reset it",
        ));
    };
    st.auth.limiter.succeeded(&b.name);
    let (token, s) = st
        .store
        .create_session(user.id, st.auth.session_ttl)
        .await
        .api()?;
    tracing::info!("{} signed in", user.name);
    let mut body = json!({"user": user_value(&s.user), "expires_at": s.expires_at});
    if b.token {
        body["token"] = json!(token);
    }
    let cookie = auth::cookie_name(&req_parts.extensions);
    Ok((
        [(
            header::SET_COOKIE,
            auth::set_cookie(&cookie, &token, Some(st.auth.session_ttl)),
        )],
        Json(body),
    )
        .into_response())
}

pub(super) async fn logout(State(st): S, req_parts: RequestParts) -> ApiResult<Response> {
    let cookie = auth::cookie_name(&req_parts.extensions);
    if let Some(token) = auth::request_token(&req_parts.headers, &cookie) {
        st.store.revoke_session(&token).await.api()?;
    }
    Ok((
        [(
            header::SET_COOKIE,
            auth::set_cookie(&cookie, "", Some(Duration::ZERO)),
        )],
        Json(json!({"signed_in": false})),
    )
        .into_response())
}

/// The request's headers and extensions, for handlers that read the cookie.
pub(super) struct RequestParts {
    headers: HeaderMap,
    extensions: axum::http::Extensions,
}

impl<St: Send + Sync> FromRequestParts<St> for RequestParts {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, ApiError> {
        Ok(RequestParts {
            headers: parts.headers.clone(),
            extensions: parts.extensions.clone(),
        })
    }
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

/// `/`: the app; `/?token=T` with the one-person token sets the cookie and sends the
/// browser on to `/`, so the token leaves the address bar and history.
pub(super) async fn index(
    State(st): S,
    req_parts: RequestParts,
    axum::extract::Query(q): axum::extract::Query<TokenQuery>,
) -> Response {
    let Some(token) = q.token else {
        return ui_index().await;
    };
    let cookie = auth::cookie_name(&req_parts.extensions);
    let mut headers = HeaderMap::new();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        h.insert(header::AUTHORIZATION, v);
        if let Ok(Some(Identity::Local)) = auth::identify(&st, &h, &cookie).await {
            headers.insert(header::SET_COOKIE, auth::set_cookie(&cookie, &token, None));
        }
    }
    (StatusCode::SEE_OTHER, headers).into_response()
}
