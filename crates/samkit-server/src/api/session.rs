//! Signing in and out: `GET /api/session`, `POST /api/login`, `POST /api/logout`, and the
//! one-person token's address (`/?token=…`).

use super::*;
use crate::auth::{self, CookieName, Identity, LoginLimiter};

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
    CookieName(cookie): CookieName,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let addr = peer.map(|p| p.0 .0.ip());
    if let Err(wait) = LoginLimiter::check(&st.store, &b.name, addr).await.api()? {
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
        LoginLimiter::failed(&st.store, &b.name, addr).await.api()?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_login",
            "wrong name or password (or the account is disabled); ask an admin to reset it",
        ));
    };
    LoginLimiter::succeeded(&st.store, &b.name).await.api()?;
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
    Ok((
        [(
            header::SET_COOKIE,
            auth::set_cookie(&cookie, &token, Some(st.auth.session_ttl)),
        )],
        Json(body),
    )
        .into_response())
}

pub(super) async fn logout(
    State(st): S,
    CookieName(cookie): CookieName,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(token) = auth::request_token(&headers, &cookie) {
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

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

/// `/`: the app; `/?token=T` with the one-person token sets the cookie and sends the
/// browser on to `/`, so the token leaves the address bar and history.
pub(super) async fn index(
    State(st): S,
    CookieName(cookie): CookieName,
    axum::extract::Query(q): axum::extract::Query<TokenQuery>,
) -> Response {
    let Some(token) = q.token else {
        return ui_index().await;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    if matches!(auth::is_local_token(&st, &token).await, Ok(true)) {
        headers.insert(header::SET_COOKIE, auth::set_cookie(&cookie, &token, None));
    }
    (StatusCode::SEE_OTHER, headers).into_response()
}
