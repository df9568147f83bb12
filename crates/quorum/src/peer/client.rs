//! The dialing side of a peer connection: one multiplexed connection to one peer, over TCP or,
//! with `sslQuorum`, over mutual TLS (see [`super::tls`]); the framing is the same on both.
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
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsConnector;

use super::tls::{self, PeerTls, RefusalLog};
use super::wire::{
    self, Hello, HelloReply, PeerRequest, PeerResponse, RequestFrame, ResponseFrame, WireError,
};
use crate::types::NodeId;

/// How long connecting, the TLS handshake (if any) and the hello exchange may take together:
/// a peer that stalls anywhere in them cannot hold the link lock longer.
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

/// Who this node is when it dials a peer (the hello's cluster and id) and whether it speaks
/// TLS there. Cheap to clone: every [`PeerClient`] of a node gets one.
#[derive(Clone)]
pub struct Dialer {
    cluster: Arc<str>,
    me: NodeId,
    tls: Option<TlsConnector>,
    refusals: Arc<RefusalLog>,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("cluster", &self.cluster)
            .field("me", &self.me)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Dialer {
    /// Dials over plain TCP, or over mutual TLS with `tls`.
    pub fn new(cluster: &str, me: NodeId, tls: Option<&PeerTls>) -> Dialer {
        Dialer {
            cluster: cluster.into(),
            me,
            tls: tls.map(|tls| TlsConnector::from(tls.connector.clone())),
            refusals: Arc::default(),
        }
    }

    pub fn me(&self) -> NodeId {
        self.me
    }
}

/// Connections to one peer, re-made on demand.
pub struct PeerClient {
    dialer: Dialer,
    target: NodeId,
    addr: String,
    current: tokio::sync::Mutex<Option<Arc<Link>>>,
    generations: AtomicU64,
}

impl PeerClient {
    pub fn new(dialer: &Dialer, target: NodeId, addr: &str) -> PeerClient {
        PeerClient {
            dialer: dialer.clone(),
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
        let link = tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| {
                if let WireError::Tls { remote, .. } = &e {
                    self.dialer
                        .refusals
                        .refused(*remote, format_args!("peer {}: {e}", self.target));
                }
                unreachable(e.to_string())
            })?;
        let link = Arc::new(link);
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

    /// Connects (TCP, then TLS when configured), says hello and starts the link's tasks.
    async fn connect(&self) -> Result<Link, WireError> {
        let stream = TcpStream::connect(&self.addr).await?;
        let _ = stream.set_nodelay(true);
        match &self.dialer.tls {
            None => {
                let (mut read_half, mut write_half) = stream.into_split();
                self.hello(&mut read_half, &mut write_half).await?;
                Ok(self.start_link(read_half, write_half))
            }
            Some(connector) => {
                let remote = stream.peer_addr()?.ip();
                let name = tls::server_name(&self.addr)?;
                let stream = connector
                    .connect(name, stream)
                    .await
                    .map_err(|source| WireError::Tls { remote, source })?;
                let (mut read_half, mut write_half) = tokio::io::split(stream);
                // With TLS 1.3 the listener checks this node's certificate after the dialer's
                // handshake is done: its refusal arrives as an alert during the hello.
                match self.hello(&mut read_half, &mut write_half).await {
                    Err(WireError::Io(source)) if carries_tls_error(&source) => {
                        Err(WireError::Tls { remote, source })
                    }
                    hello => hello,
                }?;
                Ok(self.start_link(read_half, write_half))
            }
        }
    }

    fn start_link<R, W>(&self, read_half: R, write_half: W) -> Link
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        start_link(self.target, generation, read_half, write_half)
    }

    /// The hello exchange: who this node is, whom it means to reach; the peer's answer.
    async fn hello<R, W>(&self, read_half: &mut R, write_half: &mut W) -> Result<(), WireError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let hello = Hello {
            cluster: self.dialer.cluster.to_string(),
            from: self.dialer.me,
            to: self.target,
        };
        wire::write_message(write_half, &hello).await?;
        match wire::read_message::<_, HelloReply>(read_half).await? {
            HelloReply::Welcome => Ok(()),
            HelloReply::WrongNode { actual } => Err(WireError::Decode(format!(
                "{} is node {actual}, not node {}",
                self.addr, self.target
            ))),
            HelloReply::WrongCluster { actual } => Err(WireError::Decode(format!(
                "{} belongs to cluster {actual:?}, not {:?}",
                self.addr, self.dialer.cluster
            ))),
        }
    }
}

/// Whether an I/O error of a TLS stream is rustls's (an alert from the peer, a bad record)
/// rather than the socket's.
fn carries_tls_error(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

fn start_link<R, W>(target: NodeId, generation: u64, read_half: R, mut write_half: W) -> Link
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (outgoing, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
    let waiters: Arc<Waiters> = Arc::default();
    let dead = Arc::new(AtomicBool::new(false));

    let writer_dead = dead.clone();
    let writer = tokio::spawn(async move {
        wire::write_queued(&mut queue, &mut write_half).await;
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
