//! One client connection: handshake, then a read loop that decodes requests in order, a
//! pipeline that answers them in order, and a writer that owns the socket's write half.
//!
//! FIFO order (ZooKeeper's per-client guarantee): writes are submitted to consensus as soon as
//! they are read, so many can be in flight, but replies leave in request order, and a read runs
//! only after every earlier request of the same connection has completed, so it sees this
//! client's own earlier writes.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_proto::frame::check_len;
use arbor_proto::{
    reply_frame, split_frame, AuthPacket, ConnectRequest, ConnectResponse, DecodeError, ErrorCode,
    Id, OpCode, Reader, Record, ReplyHeader, Request, RequestHeader, Response,
};
use arbor_quorum::ProposeError;
use arbor_tree::{SessionId, Txn, TxnOp, TxnResult};
use rand::RngCore;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use crate::db::{Outbound, Outbox};
use crate::four_letter;
use crate::ops::{self, Caller, WriteReply};
use crate::server::{now_ms, ConnInfo, Shared};
use crate::watch::ConnId;

type Completion =
    Pin<Box<dyn Future<Output = Result<arbor_quorum::Response, ProposeError>> + Send>>;

/// A reconfig's outcome: the zxid, data and stat of the new `/zookeeper/config`.
type ReconfigCompletion =
    Pin<Box<dyn Future<Output = Result<(i64, Vec<u8>, arbor_proto::Stat), ErrorCode>> + Send>>;

/// A request waiting for its turn to be answered.
enum Pending {
    /// Already answered (errors found on receipt, auth, unimplemented ops).
    Reply(Vec<u8>),
    Read {
        xid: i32,
        request: Request,
        auth: Arc<[Id]>,
        started: Instant,
    },
    Write {
        xid: i32,
        op: OpCode,
        shape: WriteReply,
        done: Completion,
        started: Instant,
    },
    Sync {
        xid: i32,
        path: String,
        done: Pin<Box<dyn Future<Output = Result<i64, ProposeError>> + Send>>,
        started: Instant,
    },
    /// reconfig: the membership change, then the new `/zookeeper/config`.
    Reconfig {
        xid: i32,
        done: ReconfigCompletion,
        started: Instant,
    },
    /// closeSession was committed: reply, then close.
    CloseSession { xid: i32, done: Completion },
    /// Send what came before, then close (e.g. failed authentication).
    Close,
}

/// How many of a connection's requests wait in its pipeline to be answered (`cons`, `mntr`'s
/// outstanding_requests). Reads the channel's occupancy when asked, so it costs the request
/// path nothing; the request being answered at that moment is not counted.
#[derive(Debug)]
pub struct QueueDepth(mpsc::WeakSender<Pending>);

impl QueueDepth {
    pub fn depth(&self) -> usize {
        self.0
            .upgrade()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity())
    }
}

fn error_reply(xid: i32, zxid: i64, err: ErrorCode) -> Vec<u8> {
    reply_frame(&ReplyHeader::new(xid, zxid, err), &Response::Empty)
}

fn reply(xid: i32, zxid: i64, result: Result<Response, ErrorCode>) -> Vec<u8> {
    match result {
        Ok(body) => reply_frame(&ReplyHeader::new(xid, zxid, ErrorCode::Ok), &body),
        Err(e) => error_reply(xid, zxid, e),
    }
}

/// How often a busy connection records its session's activity: at most this much early can
/// an idle session then expire, against timeouts of seconds. Touching on every request took
/// a lock and a map lookup per request.
const TOUCH_INTERVAL: Duration = Duration::from_millis(1);

/// A frame length outside `0..=max_len` (jute.maxbuffer): the stream cannot be trusted.
fn bad_frame(e: arbor_proto::FrameError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

/// A request frame's header and body; `None` if the header itself is cut short.
fn decode_request(frame: &[u8]) -> Option<(RequestHeader, Result<Request, DecodeError>)> {
    let mut r = Reader::new(frame);
    let header = RequestHeader::decode(&mut r).ok()?;
    let request = Request::decode(header.op, r.rest());
    Some((header, request))
}

async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    max_len: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    read_body(reader, i32::from_be_bytes(len), max_len)
        .await
        .map(Some)
}

async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    len: i32,
    max_len: usize,
) -> std::io::Result<Vec<u8>> {
    let mut body = vec![0u8; check_len(len, max_len).map_err(bad_frame)?];
    reader.read_exact(&mut body).await?;
    Ok(body)
}

/// Serves one accepted TCP connection until it closes.
pub async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = stream.into_split();
    serve_halves(shared, read_half, write_half, peer, Vec::new()).await;
}

/// Serves one connection given as its two halves (plain TCP, or a TLS stream split in two)
/// until it closes. `identities` are added to the connection's own (`ip`), e.g. the `x509`
/// identity of a verified client certificate.
pub async fn serve_halves<R, W>(
    shared: Arc<Shared>,
    read_half: R,
    mut write_half: W,
    peer: SocketAddr,
    identities: Vec<Id>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    // Small per-connection buffers: ten thousand mostly idle sessions must not cost a
    // gigabyte. 8 KiB still takes a pipelined burst of ~60 small requests per read, and a
    // frame bigger than the buffer is read past it.
    let mut reader = BufReader::with_capacity(8 * 1024, read_half);
    let mut head = [0u8; 4];
    if reader.read_exact(&mut head).await.is_err() {
        return;
    }
    if let Some(word) = four_letter::parse(&head) {
        let text = four_letter::run(&shared, word);
        let _ = write_half.write_all(text.as_bytes()).await;
        let _ = write_half.shutdown().await;
        return;
    }
    let max_len = shared.config.jute_max_buffer as usize;
    let Ok(body) = read_body(&mut reader, i32::from_be_bytes(head), max_len).await else {
        return;
    };
    let Ok(connect) = ConnectRequest::decode(&mut Reader::new(&body)) else {
        tracing::debug!(%peer, "malformed connect request; closing");
        return;
    };
    let established = match establish(&shared, &connect).await {
        Handshake::Accepted(e) => e,
        Handshake::Expired => {
            // ZooKeeper's refusal: session 0, timeout 0; the client reports it as expired.
            let refusal = connect_response_frame(0, 0, vec![0; 16], connect.has_read_only);
            let _ = write_half.write_all(&refusal).await;
            let _ = write_half.shutdown().await;
            return;
        }
        Handshake::Refused => return,
    };
    let conn_id = shared.next_conn_id();
    let limit = (shared.config.global_outstanding_limit as usize).max(1);
    let (pipeline, pipeline_rx) = mpsc::channel(limit);
    let info = Arc::new(ConnInfo {
        peer,
        session: established.session.into(),
        received: 0.into(),
        sent: 0.into(),
        established_ms: now_ms(),
        queue: QueueDepth(pipeline.downgrade()),
    });
    shared.connections.lock().insert(conn_id, info.clone());

    let (outbox, outbox_rx) = mpsc::unbounded_channel();
    let closed = Arc::new(Notify::new());
    let _ = outbox.send(Outbound::Frame(connect_response_frame(
        established.session,
        established.timeout_ms,
        established.password,
        connect.has_read_only,
    )));
    shared.db.register_connection(conn_id, outbox.clone());
    let previous = shared
        .db
        .sessions()
        .attach(established.session, conn_id, Instant::now());
    if let Some(previous) = previous {
        // The session moved to this connection: the old one must not keep serving it.
        shared.db.close_connection(previous);
    }
    let writer = tokio::spawn(write_loop(
        write_half,
        outbox_rx,
        closed.clone(),
        Counters {
            shared: shared.clone(),
            info: info.clone(),
        },
    ));

    let mut connection = Connection {
        shared: shared.clone(),
        id: conn_id,
        peer,
        session: established.session,
        auth: std::iter::once(Id::new("ip", peer.ip().to_string()))
            .chain(identities)
            .collect(),
        pipeline,
        info,
    };
    let responder = tokio::spawn(respond_loop(
        shared.clone(),
        conn_id,
        established.session,
        pipeline_rx,
        outbox,
    ));
    tokio::select! {
        result = connection.read_loop(&mut reader, max_len) => {
            if let Err(e) = result {
                tracing::debug!(%peer, "connection closed: {e}");
            }
        }
        _ = closed.notified() => {}
    }
    drop(connection);
    shared.db.sessions().detach(established.session, conn_id);
    shared.db.unregister_connection(conn_id);
    shared.connections.lock().remove(&conn_id);
    let _ = responder.await;
    let _ = writer.await;
}

/// A framed ConnectResponse; the readOnly byte is sent only to clients that sent one.
fn connect_response_frame(
    session_id: SessionId,
    timeout_ms: i32,
    password: Vec<u8>,
    has_read_only: bool,
) -> Vec<u8> {
    let response = ConnectResponse {
        protocol_version: 0,
        timeout_ms,
        session_id,
        password,
        read_only: false,
        has_read_only,
    };
    arbor_proto::frame::framed(|w| response.encode(w))
}

struct Established {
    session: SessionId,
    timeout_ms: i32,
    password: Vec<u8>,
}

enum Handshake {
    Accepted(Established),
    /// Unknown/expired session or wrong password: answer with a zero session, then close.
    Expired,
    /// Close without answering (client is ahead of us, or the server cannot commit).
    Refused,
}

async fn establish(shared: &Shared, connect: &ConnectRequest) -> Handshake {
    let db = &shared.db;
    if !shared.quorum.serving() {
        // As ZooKeeper: a server without a quorum does not accept sessions; the client
        // tries the next server of its connect string.
        tracing::debug!("refusing a session request: not serving (no quorum or leader)");
        return Handshake::Refused;
    }
    if connect.last_zxid_seen > db.last_zxid() {
        tracing::info!(
            "refusing session request: client has seen zxid 0x{:x}, our last zxid is 0x{:x}",
            connect.last_zxid_seen,
            db.last_zxid()
        );
        return Handshake::Refused;
    }
    let timeout_ms = shared.config.negotiate_session_timeout(connect.timeout_ms);
    if connect.session_id != 0 {
        let resume = || {
            let known = db
                .read()
                .session(connect.session_id)
                .is_some_and(|(_, password)| password == connect.password.as_slice());
            known && db.sessions().touch(connect.session_id, Instant::now())
        };
        let mut resumed = resume();
        if !resumed && !shared.config.is_standalone() {
            // The session may have been created (or its client may have seen it) through
            // another member, and not be applied here yet: a client need not have seen any
            // zxid. Catch up with the leader's commit index before calling it expired, as a
            // ZooKeeper follower revalidates a session with its leader.
            let wait = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0).max(1000));
            match tokio::time::timeout(wait, shared.quorum.barrier()).await {
                Ok(Ok(_)) => resumed = resume(),
                Ok(Err(e)) => {
                    tracing::debug!("refusing a session resume: cannot catch up ({e})");
                    return Handshake::Refused;
                }
                Err(_) => {
                    tracing::debug!("refusing a session resume: catching up took too long");
                    return Handshake::Refused;
                }
            }
        }
        if resumed {
            return Handshake::Accepted(Established {
                session: connect.session_id,
                timeout_ms,
                password: connect.password.clone(),
            });
        }
        return Handshake::Expired;
    }
    let session = shared.next_session_id();
    let mut password = vec![0u8; 16];
    rand::thread_rng().fill_bytes(&mut password);
    let txn = Txn {
        session,
        time: now_ms(),
        auth: Vec::new().into(),
        op: TxnOp::CreateSession {
            session,
            timeout_ms,
            password: password.clone(),
        },
    };
    match shared.quorum.propose(txn).await {
        Ok(r) if r.applied.result == TxnResult::SessionCreated => {
            Handshake::Accepted(Established {
                session,
                timeout_ms,
                password,
            })
        }
        Ok(r) => {
            tracing::warn!("session creation failed: {:?}", r.applied.result);
            Handshake::Refused
        }
        Err(e) => {
            tracing::warn!("session creation failed: {e}");
            Handshake::Refused
        }
    }
}

struct Connection {
    shared: Arc<Shared>,
    id: ConnId,
    peer: SocketAddr,
    session: SessionId,
    /// The caller's identities; replaced (not mutated) on addauth so queued reads keep theirs.
    auth: Arc<[Id]>,
    pipeline: mpsc::Sender<Pending>,
    info: Arc<ConnInfo>,
}

impl Connection {
    async fn read_loop<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut BufReader<R>,
        max_len: usize,
    ) -> std::io::Result<()> {
        let mut last_touch: Option<Instant> = None;
        loop {
            // A frame wholly in the read buffer (the usual case for pipelined small requests)
            // is decoded where it lies; only one that straddles the buffer is copied out.
            let buffered = reader.fill_buf().await?;
            if buffered.is_empty() {
                break;
            }
            let decoded = match split_frame(buffered, max_len).map_err(bad_frame)? {
                Some(frame) => {
                    let (decoded, consumed) = (decode_request(frame.body), frame.consumed());
                    reader.consume(consumed);
                    decoded
                }
                None => match read_frame(reader, max_len).await? {
                    Some(frame) => decode_request(&frame),
                    None => break,
                },
            };
            self.shared.stats.received();
            self.info.received.fetch_add(1, Ordering::Relaxed);
            let Some((header, request)) = decoded else {
                return Err(invalid("truncated request header"));
            };
            let now = Instant::now();
            if last_touch.is_none_or(|t| now.duration_since(t) >= TOUCH_INTERVAL) {
                self.shared.db.sessions().touch(self.session, now);
                last_touch = Some(now);
            }
            let zxid = self.shared.db.last_zxid();
            let pending = match request {
                Ok(request) => self.accept(header.xid, request).await?,
                Err(DecodeError::UnknownOpCode(op)) => {
                    // As ZooKeeper: UNIMPLEMENTED, then the connection is closed.
                    tracing::debug!(peer = %self.peer, "unimplemented opcode {op}");
                    let _ = self
                        .pipeline
                        .send(Pending::Reply(error_reply(
                            header.xid,
                            zxid,
                            ErrorCode::Unimplemented,
                        )))
                        .await;
                    Pending::Close
                }
                Err(e) => {
                    // As ZooKeeper: a body that does not decode is answered with
                    // MARSHALLINGERROR and the connection stays usable.
                    tracing::debug!(peer = %self.peer, "malformed request: {e}");
                    Pending::Reply(error_reply(header.xid, zxid, ErrorCode::MarshallingError))
                }
            };
            let stop = matches!(pending, Pending::Close | Pending::CloseSession { .. });
            if self.pipeline.send(pending).await.is_err() || stop {
                break;
            }
        }
        // Let the responder finish what is queued; the writer closes once it has sent it.
        Ok(())
    }

    fn txn(&self, op: TxnOp) -> Txn {
        Txn {
            session: self.session,
            time: now_ms(),
            auth: Arc::clone(&self.auth),
            op,
        }
    }

    /// Classifies a request on receipt. Writes are submitted to consensus here, in arrival
    /// order, so the log holds this client's writes in the order it sent them.
    async fn accept(&mut self, xid: i32, request: Request) -> std::io::Result<Pending> {
        let started = Instant::now();
        let zxid = self.shared.db.last_zxid();
        Ok(match request {
            Request::Auth(packet) => self.authenticate(xid, &packet),
            Request::CloseSession => {
                // Detach first: applying the close must not cut this connection before the
                // reply is sent.
                self.shared.db.sessions().detach(self.session, self.id);
                self.shared.db.sessions().begin_close(self.session);
                let done = self
                    .submit(TxnOp::CloseSession {
                        session: self.session,
                    })
                    .await?;
                Pending::CloseSession { xid, done }
            }
            Request::Sync(r) => {
                let quorum = self.shared.quorum.clone();
                Pending::Sync {
                    xid,
                    path: r.path,
                    done: Box::pin(async move { quorum.barrier().await }),
                    started,
                }
            }
            Request::Reconfig(r)
                if self.shared.config.reconfig_enabled && !self.shared.config.is_standalone() =>
            {
                let shared = self.shared.clone();
                let auth = self.auth.clone();
                Pending::Reconfig {
                    xid,
                    done: Box::pin(
                        async move { crate::reconfigure::run(&shared, &r, &auth).await },
                    ),
                    started,
                }
            }
            Request::Reconfig(_) => {
                Pending::Reply(error_reply(xid, zxid, ErrorCode::ReconfigDisabled))
            }
            Request::Sasl(_) => Pending::Reply(error_reply(xid, zxid, ErrorCode::Unimplemented)),
            request if request.is_write() => {
                let opcode = request.op_code();
                match ops::write_op(request) {
                    Ok((op, shape)) => Pending::Write {
                        xid,
                        op: opcode,
                        shape,
                        done: self.submit(op).await?,
                        started,
                    },
                    Err(e) => Pending::Reply(error_reply(xid, zxid, e)),
                }
            }
            request => Pending::Read {
                xid,
                request,
                auth: self.auth.clone(),
                started,
            },
        })
    }

    async fn submit(&self, op: TxnOp) -> std::io::Result<Completion> {
        let txn = self.txn(op);
        match self.shared.quorum.submit_from(self.id, txn).await {
            Ok(done) => Ok(Box::pin(done)),
            Err(e) => Err(std::io::Error::other(format!("cannot submit write: {e}"))),
        }
    }

    /// addauth. The reply echoes the request's xid: the Java client uses -4, others (the
    /// `zookeeper-client` crate) an ordinary xid.
    fn authenticate(&mut self, xid: i32, packet: &AuthPacket) -> Pending {
        let zxid = self.shared.db.last_zxid();
        match packet.scheme.as_str() {
            "digest" => {
                let credential = String::from_utf8_lossy(&packet.auth).into_owned();
                let digest = arbor_tree::digest_credential(&credential);
                let mut ids = self.auth.to_vec();
                if self.shared.config.super_digest.as_deref() == Some(digest.as_str()) {
                    ids.push(Id::new("super", ""));
                }
                let id = Id::new("digest", digest);
                if !ids.contains(&id) {
                    ids.push(id);
                }
                self.auth = Arc::from(ids);
                Pending::Reply(error_reply(xid, zxid, ErrorCode::Ok))
            }
            scheme => {
                tracing::info!(peer = %self.peer, "authentication with unsupported scheme {scheme:?}");
                // ZooKeeper answers AUTH_FAILED and closes the connection.
                let _ = self.pipeline.try_send(Pending::Reply(error_reply(
                    xid,
                    zxid,
                    ErrorCode::AuthFailed,
                )));
                Pending::Close
            }
        }
    }
}

fn invalid(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_owned())
}

/// Answers queued requests strictly in order.
async fn respond_loop(
    shared: Arc<Shared>,
    conn: ConnId,
    session: SessionId,
    mut queue: mpsc::Receiver<Pending>,
    outbox: Outbox,
) {
    let db = &shared.db;
    while let Some(pending) = queue.recv().await {
        let (frame, started) = match pending {
            Pending::Reply(frame) => (frame, None),
            Pending::Read {
                xid,
                request,
                auth,
                started,
            } => {
                if !shared.quorum.serving() {
                    // Checked per read, not only by the periodic sweep that closes
                    // connections: a leader that stepped down, or a member that lost its
                    // leader, must not answer from state that may be stale.
                    tracing::debug!("not serving; closing the connection instead of reading");
                    break;
                }
                let caller = Caller {
                    conn,
                    session,
                    auth: &auth,
                };
                // Replies echo the request's xid, reserved ones (ping -2, setWatches -8)
                // included, as ZooKeeper does.
                let result = ops::read(db, &caller, &request);
                (
                    reply(xid, db.last_zxid(), result),
                    Some((request.op_code(), started)),
                )
            }
            Pending::Write {
                xid,
                op,
                shape,
                done,
                started,
            } => match done.await {
                Ok(r) => (
                    reply(xid, r.zxid, ops::write_reply(&shape, &r.applied.result)),
                    Some((op, started)),
                ),
                Err(e) => {
                    tracing::warn!("write failed: {e}; closing connection");
                    break;
                }
            },
            Pending::Sync {
                xid,
                path,
                done,
                started,
            } => match done.await {
                Ok(zxid) => (
                    reply(xid, zxid, Ok(Response::Sync(path))),
                    Some((OpCode::Sync, started)),
                ),
                Err(e) => {
                    tracing::warn!("sync failed: {e}; closing connection");
                    break;
                }
            },
            Pending::Reconfig { xid, done, started } => {
                let frame = match done.await {
                    Ok((zxid, data, stat)) => reply(xid, zxid, Ok(Response::Reconfig(data, stat))),
                    Err(code) => error_reply(xid, db.last_zxid(), code),
                };
                (frame, Some((OpCode::Reconfig, started)))
            }
            Pending::CloseSession { xid, done } => {
                if let Ok(r) = done.await {
                    let _ = outbox.send(Outbound::Frame(reply(xid, r.zxid, Ok(Response::Empty))));
                }
                let _ = outbox.send(Outbound::Close);
                break;
            }
            Pending::Close => {
                let _ = outbox.send(Outbound::Close);
                break;
            }
        };
        if let Some((op, started)) = started {
            let elapsed = started.elapsed();
            shared.stats.latency(elapsed);
            shared.metrics.requests.observe(op, elapsed);
        }
        if outbox.send(Outbound::Frame(frame)).is_err() {
            break;
        }
    }
    let _ = outbox.send(Outbound::Close);
}

/// Where sent frames are counted (server-wide and per connection).
struct Counters {
    shared: Arc<Shared>,
    info: Arc<ConnInfo>,
}

/// Owns the socket's write half: coalesces queued frames into few writes.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut socket: W,
    mut outbox: mpsc::UnboundedReceiver<Outbound>,
    closed: Arc<Notify>,
    counters: Counters,
) {
    // Grows with the bursts it carries; kept up to WRITE_BUFFER_KEPT between them, so an idle
    // connection holds next to nothing and a busy one does not reallocate per burst.
    const WRITE_BUFFER_KEPT: usize = 64 * 1024;
    let mut buf = Vec::new();
    'outer: while let Some(first) = outbox.recv().await {
        let mut next = Some(first);
        let mut close = false;
        while let Some(msg) = next.take() {
            match msg {
                Outbound::Frame(frame) => {
                    buf.extend_from_slice(&frame);
                    counters.shared.stats.sent();
                    counters.info.sent.fetch_add(1, Ordering::Relaxed);
                }
                Outbound::Close => {
                    close = true;
                    break;
                }
            }
            if buf.len() >= 256 * 1024 {
                break;
            }
            next = outbox.try_recv().ok();
        }
        // Flushing matters for TLS (records may wait in the session); for TCP it is a no-op.
        if !buf.is_empty()
            && (socket.write_all(&buf).await.is_err() || socket.flush().await.is_err())
        {
            break 'outer;
        }
        buf.clear();
        if buf.capacity() > WRITE_BUFFER_KEPT {
            buf = Vec::new();
        }
        if close {
            break;
        }
    }
    let _ = socket.shutdown().await;
    closed.notify_one();
}
