//! The accepting side of peer connections, on the quorum port.
//!
//! Each connection: the dialer's `Hello` is checked (cluster name and target id), then
//! requests are read in order and handed to the [`PeerService`] one by one. `serve` runs
//! synchronously in arrival order (so a service can enqueue forwarded txns in the order the
//! peer sent them); the future it returns is awaited concurrently with later requests, and the
//! answers go back as they complete, matched by request id.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::wire::{
    self, Hello, HelloReply, PeerRequest, PeerResponse, RequestFrame, ResponseFrame,
};
use crate::types::NodeId;

pub type ServeFuture = Pin<Box<dyn Future<Output = PeerResponse> + Send + 'static>>;

/// What a node does with requests from its peers.
pub trait PeerService: Send + Sync + 'static {
    /// Called in arrival order per connection; the future is awaited concurrently.
    fn serve(&self, from: NodeId, request: PeerRequest) -> ServeFuture;
}

/// Accepts peer connections until the task is aborted; aborting it also ends every
/// connection it accepted (a stopped node must not keep answering on old connections).
pub async fn run(
    listener: TcpListener,
    cluster: String,
    me: NodeId,
    service: Arc<dyn PeerService>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, peer)) => {
                let service = service.clone();
                let cluster = cluster.clone();
                connections.spawn(async move {
                    if let Err(e) = serve_connection(stream, peer, &cluster, me, service).await {
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

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    cluster: &str,
    me: NodeId,
    service: Arc<dyn PeerService>,
) -> Result<(), wire::WireError> {
    let _ = stream.set_nodelay(true);
    let hello: Hello = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        wire::read_message(&mut stream),
    )
    .await
    .map_err(|_| wire::WireError::Decode("no hello within 5 s".into()))??;
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
    wire::write_message(&mut stream, &reply).await?;
    if !welcome {
        tracing::warn!(%peer, ?hello, "refused a peer connection: {reply:?}");
        return Ok(());
    }
    let from = hello.from;

    let (read_half, mut write_half) = stream.into_split();
    let (answers, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
    // The writer and the answering tasks live in this set: if the connection is dropped
    // (its node stops), they are aborted with it.
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move {
        let mut buf = Vec::new();
        while let Some(frame) = queue.recv().await {
            buf.clear();
            buf.extend_from_slice(&frame);
            while buf.len() < 1 << 20 {
                match queue.try_recv() {
                    Ok(more) => buf.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if write_half.write_all(&buf).await.is_err() {
                break;
            }
        }
    });

    let mut reader = BufReader::with_capacity(256 * 1024, read_half);
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
