//! Who is asking: every `/api` request is authenticated and authorised here before its
//! handler runs (SECURITY.md, "Accounts").
//!
//! * A project without users is one person's: the server makes a random token at start
//!   and prints the address that carries it (`/?token=…`, as Jupyter does); opening it
//!   sets a cookie. Scripts send `Authorization: Bearer TOKEN`. A page of another site
//!   cannot know the token, so it cannot drive the API.
//! * A project with users (`samkit users add`) signs people in (`POST /api/login`); a
//!   session is a random token in an `HttpOnly`, `SameSite=Strict` cookie, its SHA-256 in
//!   the database, so every server on the same database knows it.
//! * The access table ([`crate::access`]) says which roles may call which route; the
//!   author of every change is the signed-in user ([`Identity`]), never a name the
//!   client sends.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use samkit_store::{Role, Store, User};

use crate::access::{self, Need};
use crate::error::ApiError;
use crate::AppState;

/// Who made a request.
#[derive(Debug, Clone)]
pub enum Identity {
    /// The holder of a one-person project's start-up token: may do everything; the
    /// author of its changes is the name its browser gives (`X-Samkit-User`).
    Local,
    /// A signed-in user, as the database says now.
    User(User),
}

impl Identity {
    pub fn role(&self) -> Role {
        match self {
            Identity::Local => Role::Admin,
            Identity::User(u) => u.role,
        }
    }
}

/// The name of the session cookie of the server listening on `port`: cookies do not
/// tell ports apart, so two samkit servers on one machine must not share a name.
#[derive(Debug, Clone)]
pub struct CookieName(pub String);

impl CookieName {
    pub fn for_port(port: u16) -> Self {
        CookieName(format!("samkit_session_{port}"))
    }
}

/// Authentication settings and state of a server.
pub struct Auth {
    /// The one-person token (valid while the project has no users).
    pub(crate) local_token: String,
    /// How long a log-in lasts.
    pub(crate) session_ttl: Duration,
}

impl Auth {
    pub fn new(local_token: Option<String>, session_ttl: Duration) -> Self {
        Auth {
            local_token: local_token.unwrap_or_else(samkit_store::new_token),
            session_ttl,
        }
    }
}

/// Compares without stopping at the first difference (a token is a secret).
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The token a request carries: `Authorization: Bearer …`, else the session cookie.
pub(crate) fn request_token(headers: &HeaderMap, cookie: &str) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(t.trim().to_string());
        }
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == cookie)
        .map(|(_, v)| v.trim().to_string())
}

pub(crate) fn cookie_name(req_ext: &axum::http::Extensions) -> String {
    req_ext
        .get::<CookieName>()
        .map_or_else(|| "samkit_session".to_string(), |c| c.0.clone())
}

/// A handler's view of the cookie name (`samkit_session` when the router was not built
/// by [`crate::Server::router`]).
impl<St: Send + Sync> axum::extract::FromRequestParts<St> for CookieName {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &St,
    ) -> Result<Self, Self::Rejection> {
        Ok(CookieName(cookie_name(&parts.extensions)))
    }
}

/// Whether `token` is the one-person start-up token and still signs in (no users yet).
pub(crate) async fn is_local_token(st: &AppState, token: &str) -> Result<bool, ApiError> {
    if !same_secret(token, &st.auth.local_token) {
        return Ok(false);
    }
    Ok(st.store.user_count().await.map_err(ApiError::from)? == 0)
}

/// The `Set-Cookie` value that keeps `token` for `max_age` (`None`: until the browser
/// closes; `Some(0)`: removes it).
pub(crate) fn set_cookie(name: &str, token: &str, max_age: Option<Duration>) -> HeaderValue {
    let mut v = format!("{name}={token}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        v.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}

/// The identity of a request's token, if any. Errors are the database's.
pub(crate) async fn identify(
    st: &AppState,
    headers: &HeaderMap,
    cookie: &str,
) -> Result<Option<Identity>, ApiError> {
    let Some(token) = request_token(headers, cookie) else {
        return Ok(None);
    };
    if same_secret(&token, &st.auth.local_token) {
        return Ok(is_local_token(st, &token).await?.then_some(Identity::Local));
    }
    let session = st.store.session(&token).await.map_err(ApiError::from)?;
    Ok(session.map(|s| Identity::User(s.user)))
}

/// The route layer of `/api`: finds who asks, refuses what the access table does not
/// allow them, and leaves the [`Identity`] in the request for the handlers.
pub(crate) async fn authorize(
    State(st): State<Arc<AppState>>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let route = matched.map_or_else(String::new, |m| m.as_str().to_string());
    let route = if route.starts_with("/api/") {
        route
    } else {
        format!("/api{route}")
    };
    let method = match req.method().as_str() {
        "HEAD" => "GET",
        m => m,
    }
    .to_string();
    let method = method.as_str();
    let need = access::need(method, &route);
    let cookie = cookie_name(req.extensions());
    let identity = match identify(&st, req.headers(), &cookie).await {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    if need == Need::Public {
        if let Some(i) = identity {
            req.extensions_mut().insert(i);
        }
        return next.run(req).await;
    }
    let Some(identity) = identity else {
        return unauthenticated(&st).await.into_response();
    };
    if !access::allows(need, identity.role()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} {route} is for {} users; you are signed in as {}; ask an admin",
                req.method(),
                access::who(need),
                identity.role()
            ),
        )
        .into_response();
    }
    match crate::scope::of(&st, &identity).await {
        Ok(Some(scope)) => {
            let (mut parts, body) = req.into_parts();
            if let Err(e) = crate::scope::check(&st, &scope, method, &route, &mut parts).await {
                return e.into_response();
            }
            req = Request::from_parts(parts, body);
            req.extensions_mut().insert(scope);
        }
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    req.extensions_mut().insert(identity);
    next.run(req).await
}

/// The 401 answer, saying how to sign in for this project's mode.
pub(crate) async fn unauthenticated(st: &AppState) -> ApiError {
    let accounts = st.store.user_count().await.map_or(true, |n| n > 0);
    let how = if accounts {
        "sign in on the log-in page, or POST /api/login {\"name\", \"password\"}"
    } else {
        "open the address `samkit serve` printed (it carries the access token), or send \
         Authorization: Bearer TOKEN"
    };
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        format!("not signed in: {how}"),
    )
}

/// Failed log-ins counted per user name and per client address: after
/// [`LoginLimiter::PER_NAME`] failures for one name (or [`LoginLimiter::PER_ADDRESS`] from
/// one address) within [`LoginLimiter::WINDOW`], further attempts are refused until the
/// oldest failure leaves the window. The failures are kept in the project database, so
/// servers sharing one count the same attempts.
pub struct LoginLimiter;

impl LoginLimiter {
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);
    pub const PER_NAME: usize = 5;
    pub const PER_ADDRESS: usize = 20;

    fn name_key(name: &str) -> String {
        // Bounded: a key is stored per failure (a name is at most 64 characters anyway).
        let name: String = name.trim().to_lowercase().chars().take(100).collect();
        format!("name:{name}")
    }

    fn keys(name: &str, addr: Option<IpAddr>) -> [(String, usize); 2] {
        [
            (Self::name_key(name), Self::PER_NAME),
            (
                format!("addr:{}", addr.map_or("?".into(), |a| a.to_string())),
                Self::PER_ADDRESS,
            ),
        ]
    }

    /// `Ok(Err(wait))` when `name` or `addr` has used up its attempts.
    pub async fn check(
        store: &Store,
        name: &str,
        addr: Option<IpAddr>,
    ) -> samkit_store::Result<Result<(), Duration>> {
        Ok(
            match store
                .login_wait(&Self::keys(name, addr), Self::WINDOW)
                .await?
            {
                None => Ok(()),
                Some(wait) => Err(wait.max(Duration::from_secs(1))),
            },
        )
    }

    pub async fn failed(
        store: &Store,
        name: &str,
        addr: Option<IpAddr>,
    ) -> samkit_store::Result<()> {
        let keys = Self::keys(name, addr).map(|(k, _)| k);
        store.record_login_failure(&keys, Self::WINDOW).await
    }

    /// A successful log-in clears the name's failures (not the address's).
    pub async fn succeeded(store: &Store, name: &str) -> samkit_store::Result<()> {
        store.clear_login_failures(&Self::name_key(name)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_bearer_or_this_servers_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; samkit_session_8001=other; samkit_session_8000=mine"),
        );
        assert_eq!(
            request_token(&h, "samkit_session_8000").as_deref(),
            Some("mine")
        );
        assert_eq!(request_token(&h, "samkit_session_9"), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok"),
        );
        assert_eq!(
            request_token(&h, "samkit_session_8000").as_deref(),
            Some("tok")
        );
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }

    #[tokio::test]
    async fn log_ins_are_limited_per_name_and_per_address() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_path(&dir.path().join("p.db")).await.unwrap();
        let ip: Option<IpAddr> = Some("10.0.0.1".parse().unwrap());
        let check = |name: &'static str, ip: Option<IpAddr>| {
            let store = store.clone();
            async move { LoginLimiter::check(&store, name, ip).await.unwrap() }
        };
        for _ in 0..LoginLimiter::PER_NAME {
            assert!(check("Ann", ip).await.is_ok());
            LoginLimiter::failed(&store, "Ann", ip).await.unwrap();
        }
        let wait = check("ann", ip).await.unwrap_err();
        assert!(wait > Duration::from_secs(14 * 60), "{wait:?}");
        // Another name from the same address still has attempts left...
        assert!(check("bob", ip).await.is_ok());
        for i in 0..LoginLimiter::PER_ADDRESS {
            LoginLimiter::failed(&store, &format!("user{i}"), ip)
                .await
                .unwrap();
        }
        // ...until the address has used up its own.
        assert!(check("carol", ip).await.is_err());
        assert!(check("carol", Some("10.0.0.2".parse().unwrap()))
            .await
            .is_ok());
        LoginLimiter::succeeded(&store, "ANN").await.unwrap();
        assert!(check("ann", Some("10.0.0.3".parse().unwrap()))
            .await
            .is_ok());
    }
}
