//! The agent's HTTP listener: `GET /metrics` (Prometheus text) and `GET /healthz` (200 while
//! connected to the ensemble, 503 otherwise; the body says which, with counts).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// A running listener; dropping it stops accepting.
pub struct HttpServer {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

pub async fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<HttpServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = &mut stopped => return,
            };
            let Ok((stream, _)) = accepted else { continue };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(respond(&request, &metrics)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(HttpServer { addr, _stop: stop })
}

fn respond<B>(request: &Request<B>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    if request.method() != hyper::Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match request.uri().path() {
        "/metrics" => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics.render(),
        ),
        "/healthz" => {
            let connected = metrics.connected.get() == 1;
            let body = serde_json::json!({
                "status": if connected { "ok" } else { "disconnected" },
                "connected": connected,
                "services": metrics.services_managed.get(),
                "files": metrics.files_managed.get(),
            });
            let status = if connected {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            reply(status, "application/json", format!("{body}\n"))
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request<()> {
        Request::get(path).body(()).unwrap()
    }

    #[test]
    fn routes() {
        let metrics = Metrics::new();
        assert_eq!(
            respond(&get("/healthz"), &metrics).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        metrics.connected.set(1);
        assert_eq!(respond(&get("/healthz"), &metrics).status(), StatusCode::OK);
        assert_eq!(respond(&get("/metrics"), &metrics).status(), StatusCode::OK);
        assert_eq!(
            respond(&get("/nope"), &metrics).status(),
            StatusCode::NOT_FOUND
        );
        let post = Request::post("/metrics").body(()).unwrap();
        assert_eq!(
            respond(&post, &metrics).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
