//! Checks in front of every route that keep other web sites from using the server
//! through the annotator's browser (SECURITY.md):
//!
//! * DNS rebinding: the `Host` header must name this server (a loopback address or
//!   `localhost` on its port, the address it listens on, or a `--allow-host` name);
//! * cross-site requests: a change (POST, PUT, PATCH, DELETE) must come from this origin
//!   (`Origin` / `Sec-Fetch-Site`, when the client sends them) and carry a content type
//!   that a page of another site cannot send without the server's permission (JSON, or a
//!   zip upload for `/api/import`), so HTML forms and `text/plain` posts are refused;
//! * every answer carries the security headers ([`security_headers`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The page may load scripts, styles, images and data from this server only, may not
/// be framed, and has no inline script or style.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; \
manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers set on every answer (the UI's, the API's and errors alike).
pub fn security_headers() -> [(HeaderName, HeaderValue); 6] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        // Other sites' pages cannot embed our images or exports with <img>/<script>.
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

/// Which `Host` headers name this server.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// The address the server listens on.
    pub local: SocketAddr,
    /// Extra names (`--allow-host`): `name` (any port) or `name:port`, lowercase.
    pub allowed: Vec<String>,
}

impl HostPolicy {
    pub fn new(local: SocketAddr, allowed: &[String]) -> Self {
        HostPolicy {
            local,
            allowed: allowed
                .iter()
                .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    /// Whether `host` (a `Host` header value) names this server.
    pub fn admits(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let Ok(authority) = host.parse::<axum::http::uri::Authority>() else {
            return false;
        };
        let name = authority.host().trim_end_matches('.');
        let port = authority.port_u16().unwrap_or(80);
        let named = |a: &String| match a.parse::<axum::http::uri::Authority>() {
            Ok(want) if want.port_u16().is_some() => {
                want.host() == name && want.port_u16() == Some(port)
            }
            Ok(want) => want.host() == name,
            Err(_) => false,
        };
        if self.allowed.iter().any(named) {
            return true;
        }
        if port != self.local.port() {
            return false;
        }
        if name == "localhost" {
            return true;
        }
        // An IP literal cannot be re-pointed by DNS; a name (other than localhost or an
        // --allow-host one) can, which is the rebinding attack.
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == self.local.ip() || self.local.ip().is_unspecified(),
            Err(_) => false,
        }
    }
}

fn refuse(status: StatusCode, code: &'static str, message: String) -> Response {
    ApiError::new(status, code, message).into_response()
}

fn is_change(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The media type of a `Content-Type` header, lowercase, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next()?.trim().to_ascii_lowercase())
}

/// Content types a change may carry: none of them can be sent cross-site by a form or a
/// "simple" fetch, so a browser asks the server first (CORS preflight), which it refuses.
fn accepted_types(path: &str) -> &'static [&'static str] {
    if path == "/api/import" {
        &[
            "application/json",
            "application/zip",
            "application/octet-stream",
        ]
    } else {
        &["application/json"]
    }
}

/// The middleware: Host, then (for changes) origin and content type.
pub async fn check(State(policy): State<Arc<HostPolicy>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let Some(host) = host else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "host_missing",
            "the request has no Host header".into(),
        );
    };
    if !policy.admits(&host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            format!(
                "this server does not answer to the name {host:?} (a page using another \
                 name could be a DNS-rebinding attack); use http://127.0.0.1:{port}/ or \
                 http://localhost:{port}/, or start samkit with --allow-host NAME for a \
                 name of your own",
                port = policy.local.port()
            ),
        );
    }
    if is_change(req.method()) {
        if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            if !matches!(site, "same-origin" | "none") {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "cross_site",
                    format!(
                        "changes are accepted only from samkit's own page (Sec-Fetch-Site: \
                         {site}); another web site cannot edit this project"
                    ),
                );
            }
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
            let host = host.to_ascii_lowercase();
            let same = origin == format!("http://{host}") || origin == format!("https://{host}");
            if !same {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "cross_site",
                    format!(
                        "changes are accepted only from samkit's own page (Origin {origin:?} \
                         is not http://{host}); another web site cannot edit this project"
                    ),
                );
            }
        }
        let path = req.uri().path();
        let accepted = accepted_types(path);
        let ok = media_type(headers).is_some_and(|t| accepted.contains(&t.as_str()));
        if !ok {
            let got = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none");
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "{} {path} needs Content-Type: {} (even with an empty body), not {got:?}; \
                     forms and text/plain posts are refused so that other web sites cannot \
                     make changes through your browser",
                    req.method(),
                    accepted.join(" or ")
                ),
            );
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(local: &str, allowed: &[&str]) -> HostPolicy {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        HostPolicy::new(local.parse().unwrap(), &allowed)
    }

    #[test]
    fn hosts_naming_the_server_are_admitted() {
        let p = policy("127.0.0.1:8000", &["annot.example.org", "proxy.lan:443"]);
        for ok in [
            "127.0.0.1:8000",
            "localhost:8000",
            "LOCALHOST:8000",
            "[::1]:8000",
            "127.0.0.2:8000",
            "annot.example.org",
            "annot.example.org:9999",
            "proxy.lan:443",
        ] {
            assert!(p.admits(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8000",
            "127.0.0.1:8001",
            "localhost",
            "10.0.0.5:8000",
            "proxy.lan:8000",
            "localhost.evil.example:8000",
            "",
            "a b:8000",
        ] {
            assert!(!p.admits(bad), "{bad}");
        }
    }

    #[test]
    fn listening_on_all_addresses_admits_ip_literals_not_names() {
        let p = policy("0.0.0.0:8000", &[]);
        assert!(p.admits("192.168.1.7:8000"));
        assert!(p.admits("[fe80::1]:8000"));
        assert!(!p.admits("nas.local:8000"));
        let p = policy("192.168.1.7:80", &[]);
        assert!(p.admits("192.168.1.7"));
        assert!(!p.admits("192.168.1.8"));
    }
}
