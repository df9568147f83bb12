//! The accepting side of peer connections, on the quorum port.
//!
//! Each connection: with `sslQuorum`, the TLS handshake first (the dialer must present a
//! certificate the acceptor's verifier accepts; see [`super::tls`]); then the dialer's `Hello`
//! is checked (cluster name and target id), then requests are read in order and handed to the
//! [`PeerService`] one by one. `serve` runs synchronously in arrival order (so a service can
//! enqueue forwarded txns in the order the peer sent them); the future it returns is awaited
//! concurrently with later requests, and the answers go back as they complete, matched by
//! request id. Plain and TLS connections share everything after the handshake.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use super::tls::{PeerTls, RefusalLog, HANDSHAKE_TIMEOUT};
use super::wire::{
    self, Hello, HelloReply, PeerRequest, PeerResponse, RequestFrame, ResponseFrame,
};
use crate::types::NodeId;

/// How long a dialer may take to say hello once connected.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

pub type ServeFuture = Pin<Box<dyn Future<Output = PeerResponse> + Send + 'static>>;

/// What a node does with requests from its peers.
pub trait PeerService: Send + Sync + 'static {
    /// Called in arrival order per connection; the future is awaited concurrently.
    fn serve(&self, from: NodeId, request: PeerRequest) -> ServeFuture;
}

/// Accepts peer connections until the task is aborted; aborting it also ends every
/// connection it accepted (a stopped node must not keep answering on old connections).
/// With `tls`, every connection must complete a mutual TLS handshake first; one that fails
/// (another CA's certificate, none, plaintext) is logged and closed.
pub async fn run(
    listener: TcpListener,
    cluster: String,
    me: NodeId,
    service: Arc<dyn PeerService>,
    tls: Option<PeerTls>,
) {
    let acceptor = tls.map(|tls| TlsAcceptor::from(tls.acceptor));
    let refusals = Arc::new(RefusalLog::default());
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, peer)) => {
                let service = service.clone();
                let cluster = cluster.clone();
                let acceptor = acceptor.clone();
                let refusals = refusals.clone();
                connections.spawn(async move {
                    let served = match acceptor {
                        None => serve_plain(stream, peer, &cluster, me, service).await,
                        Some(acceptor) => match accept_tls(&acceptor, stream, peer).await {
                            Ok(tls) => {
                                let (read_half, write_half) = tokio::io::split(tls);
                                let connection = Connection {
                                    peer,
                                    cluster: &cluster,
                                    me,
                                    service,
                                };
                                connection.serve(read_half, write_half).await
                            }
                            Err(e) => {
                                refusals.refused(
                                    peer.ip(),
                                    format_args!("refused a peer connection from {peer}: {e}"),
                                );
                                return;
                            }
                        },
                    };
                    if let Err(e) = served {
                        tracing::debug!(%peer, "peer connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("quorum port accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_plain(
    stream: TcpStream,
    peer: SocketAddr,
    cluster: &str,
    me: NodeId,
    service: Arc<dyn PeerService>,
) -> Result<(), wire::WireError> {
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = stream.into_split();
    let connection = Connection {
        peer,
        cluster,
        me,
        service,
    };
    connection.serve(read_half, write_half).await
}

/// The TLS handshake of an accepted connection, bounded by [`HANDSHAKE_TIMEOUT`].
async fn accept_tls(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, wire::WireError> {
    let _ = stream.set_nodelay(true);
    let remote = peer.ip();
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(source)) => Err(wire::WireError::Tls { remote, source }),
        Err(_) => Err(wire::WireError::TlsTimeout {
            remote,
            timeout: HANDSHAKE_TIMEOUT,
        }),
    }
}

/// One accepted connection, after the TLS handshake if there is one.
struct Connection<'a> {
    peer: SocketAddr,
    cluster: &'a str,
    me: NodeId,
    service: Arc<dyn PeerService>,
}

impl Connection<'_> {
    async fn serve<R, W>(self, read_half: R, write_half: W) -> Result<(), wire::WireError>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let Connection {
            peer,
            cluster,
            me,
            service,
        } = self;
        let mut reader = BufReader::with_capacity(256 * 1024, read_half);
        let mut write_half = write_half;
        let hello: Hello = tokio::time::timeout(HELLO_TIMEOUT, wire::read_message(&mut reader))
            .await
            .map_err(|_| wire::WireError::Decode(format!("no hello within {HELLO_TIMEOUT:?}")))??;
        let reply = if hello.cluster != cluster {
            HelloReply::WrongCluster {
                actual: cluster.to_owned(),
            }
        } else if hello.to != me {
            HelloReply::WrongNode { actual: me }
        } else {
            HelloReply::Welcome
        };
        let welcome = reply == HelloReply::Welcome;
        wire::write_message(&mut write_half, &reply).await?;
        if !welcome {
            tracing::warn!(%peer, ?hello, "refused a peer connection: {reply:?}");
            return Ok(());
        }
        let from = hello.from;

        let (answers, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
        // The writer and the answering tasks live in this set: if the connection is dropped
        // (its node stops), they are aborted with it.
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(async move { wire::write_queued(&mut queue, &mut write_half).await });

        let outcome = loop {
            let body = match wire::read_frame(&mut reader).await {
                Ok(Some(body)) => body,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            let frame: RequestFrame = match wire::decode(&body) {
                Ok(frame) => frame,
                Err(e) => break Err(e),
            };
            let answer = service.serve(from, frame.body);
            let answers = answers.clone();
            let id = frame.id;
            while tasks.try_join_next().is_some() {}
            tasks.spawn(async move {
                let body = answer.await;
                let encoded = wire::encode(&ResponseFrame { id, body }).or_else(|e| {
                    wire::encode(&ResponseFrame {
                        id,
                        body: PeerResponse::Failed(e.to_string()),
                    })
                });
                if let Ok(frame) = encoded {
                    let _ = answers.send(frame);
                }
            });
        };
        drop(answers);
        // Answers still being computed keep their sender clones; the writer ends after them.
        while tasks.join_next().await.is_some() {}
        outcome
    }
}
