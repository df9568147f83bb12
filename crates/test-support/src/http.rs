//! A minimal blocking HTTP/1.1 client over a raw TCP connection, for tests of the admin
//! listener, Prometheus' API and the module APIs (no curl, no HTTP client library).
//!
//! One request per connection (`Connection: close`); the response body is read to the end,
//! with `Transfer-Encoding: chunked` decoded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::HarnessError;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A response: status, headers (names lower-cased, in order) and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the status and body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A request to send with [`http_request`].
#[derive(Debug, Clone, Default)]
pub struct HttpRequestSpec<'a> {
    pub method: &'a str,
    /// Path and query, already encoded: `/commands/mntr`, `/api/v1/query?query=up`.
    pub target: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: Vec<u8>,
}

/// `GET target` on `addr`.
pub fn http_get(addr: SocketAddr, target: &str) -> Result<HttpResponse, HarnessError> {
    http_request(
        addr,
        &HttpRequestSpec {
            method: "GET",
            target,
            ..Default::default()
        },
    )
}

/// `method target` with `body`, and `Authorization: Bearer <token>` when a token is given
/// (the admin listener's module APIs and commands); panics if the exchange fails.
pub fn api_call(
    addr: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: &[u8],
) -> HttpResponse {
    let headers = token
        .map(|token| vec![("Authorization", format!("Bearer {token}"))])
        .unwrap_or_default();
    http_request(
        addr,
        &HttpRequestSpec {
            method,
            target,
            headers,
            body: body.to_vec(),
        },
    )
    .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

/// Calls `call` until it answers 2xx (e.g. while a server's module APIs are still being
/// mounted) and returns that answer; panics with the last answer after `timeout`.
pub fn until_success(
    what: &str,
    timeout: Duration,
    mut call: impl FnMut() -> HttpResponse,
) -> HttpResponse {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let response = call();
        if response.is_success() {
            return response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: still {} after {timeout:?}: {}",
            response.status,
            response.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends one request and reads the whole response.
pub fn http_request(
    addr: SocketAddr,
    request: &HttpRequestSpec<'_>,
) -> Result<HttpResponse, HarnessError> {
    let what = || format!("HTTP {} {} to {addr}", request.method, request.target);
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(HarnessError::io(what()))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(HarnessError::io(what()))?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        request.method,
        request.target,
        request.body.len()
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // A server may answer and close before reading a body it refuses (413): then the write
    // fails but the answer can still be read.
    let written = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&request.body));
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    if raw.is_empty() {
        written.map_err(HarnessError::io(what()))?;
        read.map_err(HarnessError::io(what()))?;
    }
    parse_response(&raw).ok_or_else(|| HarnessError::BadResponse {
        what: what(),
        detail: format!(
            "malformed HTTP response: {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(500)])
        ),
    })
}

fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain =
            parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Type: a/b\r\n\r\n{}").unwrap();
        assert_eq!(plain.status, 404);
        assert_eq!(plain.header("content-type"), Some("a/b"));
        assert_eq!(plain.body, b"{}");
        let chunked = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked.text(), "Wikipedia");
        assert!(parse_response(b"garbage").is_none());
    }
}
