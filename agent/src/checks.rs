//! Service health probes: a TCP connect, an HTTP GET that must answer 2xx, or a command that
//! must exit 0 (as Consul's tcp/http/script checks).

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;

use crate::command;
use crate::config::Probe;

/// An `http://` URL split for a request: connect address, Host header, request target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    pub connect: String,
    pub authority: String,
    pub path: String,
}

/// Parses `http://host[:port][/path]` (no TLS: checks talk to local services).
pub fn parse_http_url(url: &str) -> Result<HttpTarget, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` must start with http:// (https is not supported)"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(cut) => (&rest[..cut], &rest[cut..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("`{url}` has no usable host"));
    }
    // `[v6]:port`, `[v6]`, `host:port` or `host`.
    let port = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.ends_with(']') => Some(port),
        _ => None,
    };
    let connect = match port {
        Some(port) if port.parse::<u16>().is_ok() => authority.to_string(),
        Some(_) => return Err(format!("`{url}` has a bad port")),
        None => format!("{authority}:80"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok(HttpTarget {
        connect,
        authority: authority.to_string(),
        path,
    })
}

/// Runs one probe; `Err` says why it failed.
pub async fn probe(probe: &Probe, timeout: Duration) -> Result<(), String> {
    match probe {
        Probe::Tcp(address) => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(err)) => Err(format!("tcp {address}: {err}")),
                Err(_) => Err(format!("tcp {address}: timed out after {timeout:?}")),
            }
        }
        Probe::Http(url) => match tokio::time::timeout(timeout, http_get(url)).await {
            Ok(result) => result,
            Err(_) => Err(format!("GET {url}: timed out after {timeout:?}")),
        },
        Probe::Exec(command) => {
            let ran = command::run(command, timeout, None, &[]).await;
            if ran.outcome.success() {
                Ok(())
            } else {
                Err(format!("{}: {}", ran.outcome, ran.output.trim()))
            }
        }
    }
}

async fn http_get(url: &str) -> Result<(), String> {
    let target = parse_http_url(url)?;
    let stream = tokio::net::TcpStream::connect(&target.connect)
        .await
        .map_err(|err| format!("GET {url}: {err}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|err| format!("GET {url}: {err}"))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(&target.path)
        .header(hyper::header::HOST, &target.authority)
        .header(hyper::header::USER_AGENT, "arbor-agent")
        .body(Empty::<Bytes>::new())
        .map_err(|err| format!("GET {url}: {err}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| format!("GET {url}: {err}"));
    let result = match response {
        Ok(response) => {
            let status = response.status();
            // Drain the body so the connection closes cleanly.
            let _ = response.into_body().collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("GET {url}: status {status}"))
            }
        }
        Err(err) => Err(err),
    };
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CommandLine;

    #[test]
    fn http_urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:8080/health?full=1"),
            Ok(HttpTarget {
                connect: "127.0.0.1:8080".into(),
                authority: "127.0.0.1:8080".into(),
                path: "/health?full=1".into(),
            })
        );
        assert_eq!(
            parse_http_url("http://localhost").unwrap().connect,
            "localhost:80"
        );
        assert_eq!(parse_http_url("http://localhost").unwrap().path, "/");
        assert!(parse_http_url("https://x/").is_err());
        assert!(parse_http_url("http:///x").is_err());
        assert!(parse_http_url("http://h:port/").is_err());
    }

    #[tokio::test]
    async fn tcp_and_exec_probes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let timeout = Duration::from_secs(2);
        assert_eq!(probe(&Probe::Tcp(address.clone()), timeout).await, Ok(()));
        drop(listener);
        assert!(probe(&Probe::Tcp(address), timeout).await.is_err());
        let fails = Probe::Exec(CommandLine::Shell("echo sick; exit 2".into()));
        assert_eq!(
            probe(&fails, timeout).await,
            Err("exit status 2: sick".to_string())
        );
    }

    #[tokio::test]
    async fn http_probe_wants_2xx() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for status in ["200 OK", "503 Service Unavailable"] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                socket.write_all(response.as_bytes()).await.unwrap();
            }
        });
        let url = Probe::Http(format!("http://{address}/health"));
        assert_eq!(probe(&url, Duration::from_secs(5)).await, Ok(()));
        let err = probe(&url, Duration::from_secs(5)).await.unwrap_err();
        assert!(err.contains("503"), "{err}");
    }
}
