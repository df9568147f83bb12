//! The hyper side of the admin listener: accept connections, read each request (body bounded
//! by [`super::MAX_BODY_BYTES`]), hand it to [`super::Admin::handle`], write the answer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arbor_coord::api::ApiResponse;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use super::{Admin, HttpRequest, Surface, MAX_BODY_BYTES};

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections until the task is aborted; with `tls`, each one is a TLS connection
/// (a failed handshake drops it).
pub async fn serve(
    listener: TcpListener,
    admin: Arc<Admin>,
    surface: Surface,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let admin = admin.clone();
                match acceptor.clone() {
                    None => {
                        tokio::spawn(serve_connection(stream, peer, admin, surface));
                    }
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            if let Some((tls, _)) =
                                crate::tls::accept(&acceptor, stream, peer, None).await
                            {
                                serve_connection(tls, peer, admin, surface).await;
                            }
                        });
                    }
                }
            }
            Err(e) => {
                tracing::warn!("admin listener: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves HTTP/1.1 on one connection (plain TCP or TLS).
pub async fn serve_connection<S>(stream: S, peer: SocketAddr, admin: Arc<Admin>, surface: Surface)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let admin = admin.clone();
        async move { Ok::<_, Infallible>(respond(&admin, request, peer, surface).await) }
    });
    // A client that never finishes its request headers does not hold the connection forever.
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!("admin connection: {e}");
    }
}

async fn respond(
    admin: &Admin,
    request: Request<Incoming>,
    peer: SocketAddr,
    surface: Surface,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Err(e) => {
            return into_hyper(ApiResponse::error(
                400,
                &format!("cannot read the request body: {e}"),
            ))
        }
    };
    let request = HttpRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        authorization: parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
        remote: Some(peer),
    };
    into_hyper(admin.handle(request, surface).await)
}

fn too_large() -> Response<Full<Bytes>> {
    into_hyper(ApiResponse::error(
        413,
        &format!("request body larger than {MAX_BODY_BYTES} bytes"),
    ))
}

fn into_hyper(response: ApiResponse) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from(response.body)));
    *out.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = HeaderValue::from_str(response.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    out.headers_mut().insert(CONTENT_TYPE, content_type);
    if response.status == 401 {
        out.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"arbor\""),
        );
    }
    out
}
