//! A minimal HTTP/1.1 client over a plain TCP connection (one request per connection),
//! for the integration tests and the load test; it avoids a full HTTP client stack.
//! Loopback use only.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Requests against one server address, as one user.
#[derive(Debug, Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub user: Option<String>,
    /// Sent as `Authorization: Bearer …` (the one-person token or a session's).
    pub token: Option<String>,
    pub timeout: Duration,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Client {
            addr,
            user: None,
            token: None,
            timeout: Duration::from_secs(120),
        }
    }

    pub fn as_user(&self, user: &str) -> Self {
        Client {
            user: Some(user.to_string()),
            ..self.clone()
        }
    }

    /// The same client, authenticated with `token`.
    pub fn with_token(&self, token: &str) -> Self {
        Client {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// The same client without credentials.
    pub fn anonymous(&self) -> Self {
        Client {
            token: None,
            ..self.clone()
        }
    }

    pub async fn get(&self, path: &str) -> std::io::Result<Reply> {
        self.send("GET", path, None, "application/json").await
    }
    pub async fn delete(&self, path: &str) -> std::io::Result<Reply> {
        self.send("DELETE", path, None, "application/json").await
    }
    pub async fn post(&self, path: &str, body: &Value) -> std::io::Result<Reply> {
        self.send(
            "POST",
            path,
            Some(body.to_string().into_bytes()),
            "application/json",
        )
        .await
    }
    pub async fn put(&self, path: &str, body: &Value) -> std::io::Result<Reply> {
        self.send(
            "PUT",
            path,
            Some(body.to_string().into_bytes()),
            "application/json",
        )
        .await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> std::io::Result<Reply> {
        self.send(
            "PATCH",
            path,
            Some(body.to_string().into_bytes()),
            "application/json",
        )
        .await
    }

    /// Sends one request and reads the whole answer (`Connection: close`).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> std::io::Result<Reply> {
        tokio::time::timeout(
            self.timeout,
            self.send_inner(method, path, body, content_type),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request timed out"))?
    }

    async fn send_inner(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> std::io::Result<Reply> {
        let mut s = TcpStream::connect(self.addr).await?;
        s.set_nodelay(true)?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(u) = &self.user {
            req.push_str(&format!("X-Samkit-User: {u}\r\n"));
        }
        if let Some(t) = &self.token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") {
            req.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        let mut buf = req.into_bytes();
        buf.extend_from_slice(&body);
        s.write_all(&buf).await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        parse_reply(&raw)
    }
}

impl Client {
    /// Sends `request` (a whole HTTP/1.1 request, as bytes) and reads the answer until
    /// the server closes the connection. Writing and reading run at the same time, so a
    /// server that answers before reading a large body (413) is heard, not a broken pipe.
    pub async fn send_raw(&self, request: Vec<u8>) -> std::io::Result<Reply> {
        let run = async {
            let s = TcpStream::connect(self.addr).await?;
            let (mut rd, mut wr) = s.into_split();
            let writer = tokio::spawn(async move {
                let _ = wr.write_all(&request).await;
                wr
            });
            let mut raw = Vec::new();
            rd.read_to_end(&mut raw).await?;
            drop(writer.await);
            parse_reply(&raw)
        };
        tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request timed out"))?
    }
}

fn bad(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

fn parse_reply(raw: &[u8]) -> std::io::Result<Reply> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no HTTP header end"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("empty answer"))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("bad chunk"))?;
        let size_str = String::from_utf8_lossy(&b[..nl]);
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad("bad chunk size"))?;
        b = &b[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err(bad("truncated chunk"));
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}
