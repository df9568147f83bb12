//! The dialing side of a peer connection: one multiplexed TCP connection to one peer.
//!
//! [`PeerClient::link`] returns the current [`Link`] (connecting first if there is none or the
//! last one died). [`Link::send`] queues a request on that link and returns a future for its
//! answer; requests sent on one link reach the peer in send order. Each link has a
//! generation number, so a caller that needs ordering across reconnects (the forwarder) can
//! tell that a new connection replaced the one its earlier requests went out on.
//!
//! A link dies on any I/O or framing error, on a timed-out request, or when dropped; every
//! request waiting on it then fails with [`CallError::Lost`] (its outcome at the peer unknown).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::wire::{
    self, Hello, HelloReply, PeerRequest, PeerResponse, RequestFrame, ResponseFrame, WireError,
};
use crate::types::NodeId;

/// How long connecting plus the hello exchange may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No connection could be made (nothing was sent).
    #[error("peer {target} at {addr} is unreachable: {reason}")]
    Unreachable {
        target: NodeId,
        addr: String,
        reason: String,
    },
    /// The connection failed after the request was sent: its outcome is unknown.
    #[error("connection to peer {target} lost: {reason}")]
    Lost { target: NodeId, reason: String },
    #[error("peer {target} did not answer within {timeout:?}")]
    Timeout { target: NodeId, timeout: Duration },
    #[error("cannot send to peer {target}: {reason}")]
    Encode { target: NodeId, reason: String },
}

type Waiters = Mutex<HashMap<u64, oneshot::Sender<PeerResponse>>>;

/// One live connection to a peer.
pub struct Link {
    target: NodeId,
    generation: u64,
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
    waiters: Arc<Waiters>,
    dead: Arc<AtomicBool>,
    next_id: AtomicU64,
    /// Ends the reader and writer tasks when the last handle goes.
    _tasks: TaskGuard,
}

struct TaskGuard(Vec<tokio::task::JoinHandle<()>>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// An answer not yet received.
pub struct PendingCall {
    target: NodeId,
    answer: oneshot::Receiver<PeerResponse>,
    dead: Arc<AtomicBool>,
}

impl PendingCall {
    /// Waits for the answer; on timeout the link is marked dead (later requests reconnect).
    pub async fn wait(self, timeout: Duration) -> Result<PeerResponse, CallError> {
        match tokio::time::timeout(timeout, self.answer).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(CallError::Lost {
                target: self.target,
                reason: "connection closed before the answer".into(),
            }),
            Err(_) => {
                // The peer may be stuck or partitioned; do not queue more behind it.
                self.dead.store(true, Ordering::Release);
                Err(CallError::Timeout {
                    target: self.target,
                    timeout,
                })
            }
        }
    }
}

impl Link {
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Queues `body`; requests sent on one link are written in send order.
    pub fn send(&self, body: PeerRequest) -> Result<PendingCall, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = wire::encode(&RequestFrame { id, body }).map_err(|e| CallError::Encode {
            target: self.target,
            reason: e.to_string(),
        })?;
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().insert(id, tx);
        if self.is_dead() || self.outgoing.send(frame).is_err() {
            self.waiters.lock().remove(&id);
            return Err(CallError::Lost {
                target: self.target,
                reason: "connection closed".into(),
            });
        }
        Ok(PendingCall {
            target: self.target,
            answer: rx,
            dead: self.dead.clone(),
        })
    }
}

/// Connections to one peer, re-made on demand.
pub struct PeerClient {
    cluster: String,
    me: NodeId,
    target: NodeId,
    addr: String,
    current: tokio::sync::Mutex<Option<Arc<Link>>>,
    generations: AtomicU64,
}

impl PeerClient {
    pub fn new(cluster: &str, me: NodeId, target: NodeId, addr: &str) -> PeerClient {
        PeerClient {
            cluster: cluster.to_owned(),
            me,
            target,
            addr: addr.to_owned(),
            current: tokio::sync::Mutex::new(None),
            generations: AtomicU64::new(0),
        }
    }

    pub fn target(&self) -> NodeId {
        self.target
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The live link, connecting if needed.
    pub async fn link(&self) -> Result<Arc<Link>, CallError> {
        let mut current = self.current.lock().await;
        if let Some(link) = current.as_ref() {
            if !link.is_dead() {
                return Ok(link.clone());
            }
        }
        *current = None;
        let unreachable = |reason: String| CallError::Unreachable {
            target: self.target,
            addr: self.addr.clone(),
            reason,
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let link = Arc::new(start_link(self.target, generation, stream));
        *current = Some(link.clone());
        Ok(link)
    }

    /// Sends one request and waits for its answer.
    pub async fn call(
        &self,
        body: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        let pending = self.link().await?.send(body)?;
        pending.wait(timeout).await
    }

    async fn connect(&self) -> Result<TcpStream, WireError> {
        let mut stream = TcpStream::connect(&self.addr).await?;
        let _ = stream.set_nodelay(true);
        let hello = Hello {
            cluster: self.cluster.clone(),
            from: self.me,
            to: self.target,
        };
        wire::write_message(&mut stream, &hello).await?;
        match wire::read_message::<_, HelloReply>(&mut stream).await? {
            HelloReply::Welcome => Ok(stream),
            HelloReply::WrongNode { actual } => Err(WireError::Decode(format!(
                "{} is node {actual}, not node {}",
                self.addr, self.target
            ))),
            HelloReply::WrongCluster { actual } => Err(WireError::Decode(format!(
                "{} belongs to cluster {actual:?}, not {:?}",
                self.addr, self.cluster
            ))),
        }
    }
}

fn start_link(target: NodeId, generation: u64, stream: TcpStream) -> Link {
    let (read_half, mut write_half) = stream.into_split();
    let (outgoing, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
    let waiters: Arc<Waiters> = Arc::default();
    let dead = Arc::new(AtomicBool::new(false));

    let writer_dead = dead.clone();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut buf = Vec::new();
        while let Some(frame) = queue.recv().await {
            buf.clear();
            buf.extend_from_slice(&frame);
            // Coalesce what is already queued into one write.
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
        writer_dead.store(true, Ordering::Release);
    });

    let reader_waiters = waiters.clone();
    let reader_dead = dead.clone();
    let reader = tokio::spawn(async move {
        let mut reader = BufReader::with_capacity(256 * 1024, read_half);
        loop {
            let body = match wire::read_frame(&mut reader).await {
                Ok(Some(body)) => body,
                Ok(None) | Err(_) => break,
            };
            let Ok(frame) = wire::decode::<ResponseFrame>(&body) else {
                tracing::warn!(
                    peer = target,
                    "undecodable answer from peer; dropping the link"
                );
                break;
            };
            if let Some(waiter) = reader_waiters.lock().remove(&frame.id) {
                let _ = waiter.send(frame.body);
            }
        }
        reader_dead.store(true, Ordering::Release);
        // Fail everything still waiting on this link.
        reader_waiters.lock().clear();
    });

    Link {
        target,
        generation,
        outgoing,
        waiters,
        dead,
        next_id: AtomicU64::new(1),
        _tasks: TaskGuard(vec![writer, reader]),
    }
}
