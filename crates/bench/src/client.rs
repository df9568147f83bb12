//! A minimal pipelined ZooKeeper client: one TCP connection, one session.
//!
//! Any number of requests may be outstanding. A writer task gives each request the next xid and
//! writes whatever is queued in one `write_all`; a reader task matches replies to requests. The
//! server answers the requests of one connection in order, so the oldest outstanding request is
//! always the one a reply belongs to (its xid is checked). Replies with xid -1 are watch
//! notifications, -2 answers our pings. A third task pings at a third of the negotiated session
//! timeout so an idle session stays alive.
//!
//! Server error codes are not [`ClientError`]s: they come back in [`Reply::err`], because the
//! benchmark counts them instead of failing.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use arbor_proto::frame::framed;
use arbor_proto::opcode::xid;
use arbor_proto::{
    split_frame, ConnectRequest, ConnectResponse, DecodeError, ErrorCode, OpCode, Reader, Record,
    ReplyHeader, Request, Response, WatcherEvent,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::ClientError;

/// The largest reply frame accepted. Far above `jute.maxbuffer` on purpose: listing the
/// children of a directory the create workload filled can exceed 1 MiB, and servers send it.
pub const MAX_REPLY_LEN: usize = 256 << 20;

/// How long TCP connect plus the session handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `closeSession` may take before the connection is dropped anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Stop adding queued requests to one write once this many bytes are buffered.
const WRITE_BATCH_BYTES: usize = 256 << 10;

/// The server's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The zxid in the reply header (the server's last committed zxid, or the request's own).
    pub zxid: i64,
    /// The error code in the reply header; 0 is success.
    pub err: i32,
    /// The reply body after the header (usually empty when `err != 0`).
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        self.err == ErrorCode::Ok.code()
    }

    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.err)
    }

    /// Decodes the body of a successful reply to a request with opcode `op`.
    pub fn response(&self, op: OpCode) -> Result<Response, DecodeError> {
        Response::decode_for(op, &self.body)
    }
}

/// The reply to a submitted request, as a future. Resolves to [`ClientError::ConnectionLost`]
/// if the connection ends first.
#[derive(Debug)]
pub struct PendingReply(oneshot::Receiver<Reply>);

impl Future for PendingReply {
    type Output = Result<Reply, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|result| result.map_err(|_| ClientError::ConnectionLost))
    }
}

enum Outgoing {
    Request {
        request: Request,
        reply: oneshot::Sender<Reply>,
    },
    Ping,
}

struct Outstanding {
    xid: i32,
    reply: oneshot::Sender<Reply>,
}

/// Requests written and not yet answered, oldest first. `None` once the reader has stopped:
/// nothing will be answered any more, so the writer must not queue further requests.
#[derive(Default)]
struct OutstandingQueue(Mutex<Option<VecDeque<Outstanding>>>);

impl OutstandingQueue {
    fn open() -> Self {
        OutstandingQueue(Mutex::new(Some(VecDeque::new())))
    }

    fn lock(&self) -> MutexGuard<'_, Option<VecDeque<Outstanding>>> {
        // The queue holds plain data; a panic elsewhere cannot leave it inconsistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a request; `false` (and the reply sender dropped) if the connection is closed.
    fn push(&self, outstanding: Outstanding) -> bool {
        match self.lock().as_mut() {
            Some(queue) => {
                queue.push_back(outstanding);
                true
            }
            None => false,
        }
    }

    fn pop(&self) -> Option<Outstanding> {
        self.lock().as_mut().and_then(VecDeque::pop_front)
    }

    /// Drops every outstanding reply sender (their callers see `ConnectionLost`).
    fn close(&self) {
        self.lock().take();
    }
}

/// One connected session. Dropping it drops the connection without `closeSession` (the server
/// then expires the session after its timeout); call [`Client::close`] to end it cleanly.
pub struct Client {
    addr: SocketAddr,
    session_id: i64,
    password: Vec<u8>,
    session_timeout: Duration,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    notifications: Option<mpsc::UnboundedReceiver<WatcherEvent>>,
    tasks: Vec<JoinHandle<()>>,
}

/// An existing session to resume on (another) server, as a client does after a connection loss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub session_id: i64,
    pub password: Vec<u8>,
    /// The newest zxid the client has seen (a server that is behind it refuses the session).
    pub last_zxid_seen: i64,
}

impl Client {
    /// Connects and creates a new session, asking for `session_timeout`.
    pub async fn connect(
        addr: SocketAddr,
        session_timeout: Duration,
    ) -> Result<Client, ClientError> {
        Self::connect_with(addr, session_timeout, None, CONNECT_TIMEOUT).await
    }

    /// Connects and creates a new session, or resumes `resume`; gives up after `timeout`.
    pub async fn connect_with(
        addr: SocketAddr,
        session_timeout: Duration,
        resume: Option<&Resume>,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let timeout_error = || ClientError::ConnectTimeout {
            addr: addr.to_string(),
            seconds: timeout.as_secs(),
        };
        tokio::time::timeout(timeout, Self::handshake(addr, session_timeout, resume))
            .await
            .map_err(|_| timeout_error())?
    }

    async fn handshake(
        addr: SocketAddr,
        session_timeout: Duration,
        resume: Option<&Resume>,
    ) -> Result<Client, ClientError> {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        stream.set_nodelay(true)?;
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: resume.map_or(0, |r| r.last_zxid_seen),
            timeout_ms: i32::try_from(session_timeout.as_millis()).unwrap_or(i32::MAX),
            session_id: resume.map_or(0, |r| r.session_id),
            password: resume.map_or_else(|| vec![0; 16], |r| r.password.clone()),
            read_only: false,
            has_read_only: true,
        };
        stream.write_all(&framed(|w| request.encode(w))).await?;

        let mut buf = Vec::with_capacity(64 << 10);
        let response = loop {
            if let Some(frame) = split_frame(&buf, MAX_REPLY_LEN)? {
                let response = ConnectResponse::from_bytes(frame.body)?;
                let consumed = frame.consumed();
                buf.drain(..consumed);
                break response;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(ClientError::ClosedDuringHandshake);
            }
        };
        if response.session_id == 0 || response.timeout_ms <= 0 {
            return Err(ClientError::SessionRefused {
                addr: addr.to_string(),
            });
        }
        let session_timeout =
            Duration::from_millis(u64::try_from(response.timeout_ms).unwrap_or(1));
        Ok(Self::start(
            addr,
            stream,
            buf,
            (response.session_id, response.password),
            session_timeout,
        ))
    }

    /// Spawns the writer, reader and pinger tasks; `leftover` holds bytes read after the
    /// connect response.
    fn start(
        addr: SocketAddr,
        stream: TcpStream,
        leftover: Vec<u8>,
        (session_id, password): (i64, Vec<u8>),
        session_timeout: Duration,
    ) -> Client {
        let (source, sink) = stream.into_split();
        let queue = Arc::new(OutstandingQueue::open());
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let (notify_tx, notifications) = mpsc::unbounded_channel();

        let writer = tokio::spawn(write_loop(outgoing_rx, sink, Arc::clone(&queue)));
        let reader_queue = Arc::clone(&queue);
        let reader = tokio::spawn(async move {
            // Why the connection ended does not matter to the benchmark: every outstanding
            // and later request fails with ConnectionLost, which it counts.
            let _ = read_loop(source, leftover, &reader_queue, &notify_tx).await;
            reader_queue.close();
        });
        let pinger = tokio::spawn(ping_loop(outgoing.clone(), session_timeout / 3));

        Client {
            addr,
            session_id,
            password,
            session_timeout,
            outgoing,
            notifications: Some(notifications),
            tasks: vec![writer, reader, pinger],
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// What [`Client::connect_with`] needs to resume this session elsewhere.
    pub fn resume(&self, last_zxid_seen: i64) -> Resume {
        Resume {
            session_id: self.session_id,
            password: self.password.clone(),
            last_zxid_seen,
        }
    }

    /// Whether the connection is still up (its reader has not stopped).
    pub fn is_connected(&self) -> bool {
        self.tasks
            .get(1)
            .is_some_and(|reader| !reader.is_finished())
    }

    /// The timeout the server negotiated.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// Queues `request` and returns its reply as a future; the request is sent even if the
    /// future is never awaited.
    pub fn submit(&self, request: Request) -> Result<PendingReply, ClientError> {
        let (reply, reply_rx) = oneshot::channel();
        self.outgoing
            .send(Outgoing::Request { request, reply })
            .map_err(|_| ClientError::ConnectionLost)?;
        Ok(PendingReply(reply_rx))
    }

    /// Sends `request` and waits for its reply.
    pub async fn call(&self, request: Request) -> Result<Reply, ClientError> {
        self.submit(request)?.await
    }

    /// Watch notifications (xid -1) in arrival order. Taken once; later calls return `None`.
    /// Until taken, notifications are buffered.
    pub fn take_notifications(&mut self) -> Option<mpsc::UnboundedReceiver<WatcherEvent>> {
        self.notifications.take()
    }

    /// Ends the session with `closeSession` (the server deletes its ephemerals) and drops the
    /// connection.
    pub async fn close(self) -> Result<(), ClientError> {
        let seconds = CLOSE_TIMEOUT.as_secs();
        tokio::time::timeout(CLOSE_TIMEOUT, self.call(Request::CloseSession))
            .await
            .map_err(|_| ClientError::Timeout { seconds })??;
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn write_loop(
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    mut sink: OwnedWriteHalf,
    queue: Arc<OutstandingQueue>,
) {
    let mut next_xid: i32 = 1;
    let mut buf = Vec::with_capacity(64 << 10);
    while let Some(first) = outgoing.recv().await {
        buf.clear();
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Outgoing::Ping => buf.extend_from_slice(&Request::Ping.to_frame(xid::PING)),
                Outgoing::Request { request, reply } => {
                    let xid = next_xid;
                    // Wrap before the reserved negative xids.
                    next_xid = next_xid.checked_add(1).unwrap_or(1);
                    // Queued before it is written, so the reader always finds it.
                    if !queue.push(Outstanding { xid, reply }) {
                        return;
                    }
                    buf.extend_from_slice(&request.to_frame(xid));
                }
            }
            if buf.len() < WRITE_BATCH_BYTES {
                next = outgoing.try_recv().ok();
            }
        }
        if sink.write_all(&buf).await.is_err() {
            queue.close();
            return;
        }
    }
}

async fn read_loop(
    mut source: OwnedReadHalf,
    mut buf: Vec<u8>,
    queue: &OutstandingQueue,
    notifications: &mpsc::UnboundedSender<WatcherEvent>,
) -> Result<(), ClientError> {
    loop {
        let mut consumed = 0;
        while let Some(frame) = split_frame(&buf[consumed..], MAX_REPLY_LEN)? {
            consumed += frame.consumed();
            dispatch(frame.body, queue, notifications)?;
        }
        buf.drain(..consumed);
        buf.reserve(64 << 10);
        if source.read_buf(&mut buf).await? == 0 {
            return Err(ClientError::ConnectionLost);
        }
    }
}

/// Routes one reply frame: a notification, a ping answer, or the oldest request's reply.
fn dispatch(
    body: &[u8],
    queue: &OutstandingQueue,
    notifications: &mpsc::UnboundedSender<WatcherEvent>,
) -> Result<(), ClientError> {
    let mut reader = Reader::new(body);
    let header = ReplyHeader::decode(&mut reader)?;
    match header.xid {
        xid::NOTIFICATION => {
            let event = WatcherEvent::decode(&mut reader)?;
            // Nobody listening is fine: the benchmark only listens when it set watches.
            let _ = notifications.send(event);
        }
        xid::PING | xid::AUTH | xid::SET_WATCHES => {}
        got => {
            let outstanding = queue.pop().ok_or(ClientError::UnexpectedReply(got))?;
            if outstanding.xid != got {
                return Err(ClientError::XidMismatch {
                    expected: outstanding.xid,
                    got,
                });
            }
            // The caller may have stopped waiting; that is its business.
            let _ = outstanding.reply.send(Reply {
                zxid: header.zxid,
                err: header.err,
                body: reader.rest().to_vec(),
            });
        }
    }
    Ok(())
}

async fn ping_loop(outgoing: mpsc::UnboundedSender<Outgoing>, period: Duration) {
    let period = period.max(Duration::from_millis(100));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        ticks.tick().await;
        if outgoing.send(Outgoing::Ping).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_proto::records::GetDataRequest;
    use arbor_proto::{
        notification_frame, reply_frame, EventType, KeeperState, RequestHeader, Stat,
    };
    use tokio::net::TcpListener;

    /// Reads one frame body from `stream`.
    async fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await.expect("length");
        let mut body = vec![0; i32::from_be_bytes(len) as usize];
        stream.read_exact(&mut body).await.expect("body");
        body
    }

    /// Accepts one connection and answers the handshake with `session_id`.
    async fn accept_session(listener: &TcpListener, session_id: i64) -> TcpStream {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let request = ConnectRequest::from_bytes(&read_frame(&mut stream).await).expect("connect");
        let response = ConnectResponse {
            protocol_version: 0,
            timeout_ms: request.timeout_ms,
            session_id,
            password: vec![1; 16],
            read_only: false,
            has_read_only: true,
        };
        stream
            .write_all(&framed(|w| response.encode(w)))
            .await
            .expect("write");
        stream
    }

    fn get(path: &str) -> Request {
        Request::GetData(GetDataRequest {
            path: path.into(),
            watch: false,
        })
    }

    async fn listener() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        (listener, addr)
    }

    #[tokio::test]
    async fn pipelines_requests_with_increasing_xids_and_matches_replies() {
        let (listener, addr) = listener().await;
        let server = tokio::spawn(async move {
            let mut stream = accept_session(&listener, 77).await;
            // All three requests arrive before any reply is sent: they are pipelined.
            let mut xids = Vec::new();
            for _ in 0..3 {
                let body = read_frame(&mut stream).await;
                let header = RequestHeader::from_bytes(&body).expect("header");
                assert_eq!(header.op, OpCode::GetData.code());
                xids.push(header.xid);
            }
            // A notification in between must not be taken for a reply.
            let event =
                WatcherEvent::new(EventType::NodeDataChanged, KeeperState::SyncConnected, "/w");
            stream
                .write_all(&notification_frame(&event))
                .await
                .expect("write");
            for (i, xid) in xids.iter().enumerate() {
                let err = if i == 1 {
                    ErrorCode::NoNode
                } else {
                    ErrorCode::Ok
                };
                let body = if i == 1 {
                    Response::Empty
                } else {
                    Response::GetData(vec![i as u8], Stat::default())
                };
                let frame = reply_frame(&ReplyHeader::new(*xid, 100 + i as i64, err), &body);
                stream.write_all(&frame).await.expect("write");
            }
            xids
        });

        let mut client = Client::connect(addr, Duration::from_secs(30))
            .await
            .expect("connect");
        assert_eq!(client.session_id(), 77);
        assert_eq!(client.session_timeout(), Duration::from_secs(30));
        let pending: Vec<_> = ["/a", "/b", "/c"]
            .iter()
            .map(|p| client.submit(get(p)).expect("submit"))
            .collect();
        let mut replies = Vec::new();
        for p in pending {
            replies.push(p.await.expect("reply"));
        }
        assert_eq!(server.await.expect("server"), vec![1, 2, 3]);
        assert_eq!(replies[0].zxid, 100);
        assert!(replies[0].is_ok());
        assert_eq!(
            replies[0].response(OpCode::GetData).expect("decode"),
            Response::GetData(vec![0], Stat::default())
        );
        assert_eq!(replies[1].error_code(), Some(ErrorCode::NoNode));
        assert_eq!(replies[2].zxid, 102);
        let mut notifications = client.take_notifications().expect("first take");
        let event = notifications.recv().await.expect("event");
        assert_eq!(event.path, "/w");
        assert_eq!(event.event(), Some(EventType::NodeDataChanged));
        assert!(client.take_notifications().is_none());
    }

    #[tokio::test]
    async fn outstanding_and_later_requests_fail_with_connection_lost() {
        let (listener, addr) = listener().await;
        let server = tokio::spawn(async move {
            let mut stream = accept_session(&listener, 5).await;
            read_frame(&mut stream).await;
            // Close without answering.
        });
        let client = Client::connect(addr, Duration::from_secs(30))
            .await
            .expect("connect");
        let err = client.call(get("/a")).await.unwrap_err();
        assert!(matches!(err, ClientError::ConnectionLost), "{err}");
        server.await.expect("server");
        // The writer may still accept the submission, but it must not hang.
        let later = tokio::time::timeout(Duration::from_secs(5), client.call(get("/b")))
            .await
            .expect("no hang");
        assert!(matches!(later, Err(ClientError::ConnectionLost)));
    }

    #[tokio::test]
    async fn a_reply_with_the_wrong_xid_ends_the_connection() {
        let (listener, addr) = listener().await;
        tokio::spawn(async move {
            let mut stream = accept_session(&listener, 5).await;
            let body = read_frame(&mut stream).await;
            let header = RequestHeader::from_bytes(&body).expect("header");
            let frame = reply_frame(
                &ReplyHeader::new(header.xid + 10, 1, ErrorCode::Ok),
                &Response::Empty,
            );
            stream.write_all(&frame).await.expect("write");
            // Keep the socket open: the client must give up on its own.
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let client = Client::connect(addr, Duration::from_secs(30))
            .await
            .expect("connect");
        let result = tokio::time::timeout(Duration::from_secs(5), client.call(get("/a")))
            .await
            .expect("no hang");
        assert!(matches!(result, Err(ClientError::ConnectionLost)));
    }

    #[tokio::test]
    async fn a_refused_session_is_an_error() {
        let (listener, addr) = listener().await;
        tokio::spawn(async move {
            let _stream = accept_session(&listener, 0).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        let err = Client::connect(addr, Duration::from_secs(30))
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, ClientError::SessionRefused { .. }), "{err}");
    }

    #[tokio::test]
    async fn pings_at_a_third_of_the_session_timeout() {
        let (listener, addr) = listener().await;
        let server = tokio::spawn(async move {
            let mut stream = accept_session(&listener, 9).await;
            let body = read_frame(&mut stream).await;
            RequestHeader::from_bytes(&body).expect("header")
        });
        let started = std::time::Instant::now();
        let _client = Client::connect(addr, Duration::from_millis(600))
            .await
            .expect("connect");
        let header = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("a ping arrives")
            .expect("server");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(header.xid, xid::PING);
        assert_eq!(header.op, OpCode::Ping.code());
    }
}
