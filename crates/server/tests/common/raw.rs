//! A minimal blocking ZooKeeper wire client built on `arbor_proto`, for sending exactly the
//! bytes a test wants (including malformed ones) and observing what the server does.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use arbor_proto::records::{
    AddWatchRequest, CreateRequest, DeleteRequest, ExistsRequest, GetChildrenRequest,
    GetDataRequest, SetDataRequest, SyncRequest,
};
use arbor_proto::{
    split_frame, Acl, AddWatchMode, ConnectRequest, ConnectResponse, CreateMode, ErrorCode, OpCode,
    Reader, Record, ReplyHeader, Request, Response, Stat, WatcherEvent,
};

/// How long a read waits before the test concludes the server is silent.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames larger than this are not expected from the server in these tests.
const MAX_REPLY_LEN: usize = 16 << 20;

/// What the server did with the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A whole frame arrived (body without the length prefix).
    Frame(Vec<u8>),
    /// The server closed the connection (EOF or reset) before a whole frame arrived.
    Closed,
    /// Nothing complete arrived within the timeout; the connection is still open.
    Silent,
}

/// One reply to a request: its header and its raw body.
#[derive(Debug)]
pub struct Reply {
    pub header: ReplyHeader,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn error(&self) -> Option<ErrorCode> {
        self.header.error_code()
    }
}

/// A TCP connection speaking length-prefixed frames.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Watch notifications that arrived while waiting for a reply.
    pub events: VecDeque<WatcherEvent>,
    next_xid: i32,
    /// The newest zxid of a reply (not a notification), as ZooKeeper's Java client tracks
    /// it for its reconnects (`lastZxidSeen`) and `setWatches` (`relativeZxid`).
    pub last_zxid: i64,
}

impl RawConn {
    /// Opens a TCP connection (no handshake).
    pub fn open(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        RawConn {
            stream,
            buf: Vec::new(),
            events: VecDeque::new(),
            next_xid: 1,
            last_zxid: 0,
        }
    }

    /// [`Self::new_session`], retrying for up to `within` while the server refuses (it closes
    /// the connection while it does not serve, e.g. during an election).
    pub fn new_session_within(
        addr: SocketAddr,
        timeout_ms: i32,
        within: Duration,
    ) -> (RawConn, ConnectResponse) {
        let request = connect_request(0, 0, vec![0; 16], timeout_ms);
        let (conn, response) = Self::establish(addr, &request, within);
        assert_ne!(response.session_id, 0, "new session refused: {response:?}");
        (conn, response)
    }

    /// Moves session `session_id` to `addr` as a client that has seen `last_zxid`, retrying
    /// for up to `within` while the server refuses (not serving, or behind `last_zxid`);
    /// panics if the server says the session expired.
    pub fn resume_session(
        addr: SocketAddr,
        session_id: i64,
        password: &[u8],
        last_zxid: i64,
        timeout_ms: i32,
        within: Duration,
    ) -> RawConn {
        let request = connect_request(last_zxid, session_id, password.to_vec(), timeout_ms);
        let (mut conn, response) = Self::establish(addr, &request, within);
        assert_eq!(
            (response.session_id, response.timeout_ms > 0),
            (session_id, true),
            "session {session_id:#x} was not resumed on {addr}: {response:?}"
        );
        conn.last_zxid = last_zxid;
        conn
    }

    fn establish(
        addr: SocketAddr,
        request: &ConnectRequest,
        within: Duration,
    ) -> (RawConn, ConnectResponse) {
        let deadline = Instant::now() + within;
        loop {
            let mut conn = RawConn::open(addr);
            if let Some(response) = conn.handshake(request) {
                return (conn, response);
            }
            assert!(
                Instant::now() < deadline,
                "{addr} refused the ConnectRequest for {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Opens a connection and establishes a new session with `timeout_ms`.
    pub fn new_session(addr: SocketAddr, timeout_ms: i32) -> (RawConn, ConnectResponse) {
        let mut conn = RawConn::open(addr);
        let response = conn
            .handshake(&connect_request(0, 0, vec![0; 16], timeout_ms))
            .expect("the server answered the ConnectRequest");
        assert_ne!(response.session_id, 0, "new session refused: {response:?}");
        (conn, response)
    }

    /// Sends raw bytes. Errors (the server may already have closed) are returned, not fatal.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Sends a ConnectRequest; `None` if the server closed the connection without answering.
    pub fn handshake(&mut self, request: &ConnectRequest) -> Option<ConnectResponse> {
        let frame = arbor_proto::frame::framed(|w| request.encode(w));
        if self.send(&frame).is_err() {
            return None;
        }
        match self.read_frame(IO_TIMEOUT) {
            Outcome::Frame(body) => Some(
                ConnectResponse::decode(&mut Reader::new(&body))
                    .unwrap_or_else(|e| panic!("undecodable ConnectResponse {body:?}: {e}")),
            ),
            Outcome::Closed => None,
            Outcome::Silent => panic!("no answer to the ConnectRequest within {IO_TIMEOUT:?}"),
        }
    }

    /// Sends a ConnectRequest and, in the same write, `then` (xid 1), as a client that
    /// pipelines its first request behind the handshake. `None` if the server closed the
    /// connection without answering the handshake; otherwise the ConnectResponse and the
    /// outcome of `then` (which a refusing server never answers).
    pub fn handshake_then(
        &mut self,
        request: &ConnectRequest,
        then: &Request,
    ) -> Option<(ConnectResponse, Result<Reply, Outcome>)> {
        let xid = self.next_xid;
        self.next_xid += 1;
        let mut bytes = arbor_proto::frame::framed(|w| request.encode(w));
        bytes.extend(then.to_frame(xid));
        if self.send(&bytes).is_err() {
            return None;
        }
        let response = match self.read_frame(IO_TIMEOUT) {
            Outcome::Frame(body) => ConnectResponse::decode(&mut Reader::new(&body))
                .unwrap_or_else(|e| panic!("undecodable ConnectResponse {body:?}: {e}")),
            Outcome::Closed => return None,
            Outcome::Silent => panic!("no answer to the ConnectRequest within {IO_TIMEOUT:?}"),
        };
        Some((response, self.try_reply_for(xid)))
    }

    /// Waits up to `timeout` for one whole frame.
    pub fn read_frame(&mut self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        loop {
            match split_frame(&self.buf, MAX_REPLY_LEN) {
                Ok(Some(frame)) => {
                    let body = frame.body.to_vec();
                    let consumed = frame.consumed();
                    self.buf.drain(..consumed);
                    return Outcome::Frame(body);
                }
                Ok(None) => {}
                Err(e) => panic!("the server sent an invalid frame prefix: {e}"),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Outcome::Silent;
            }
            self.stream
                .set_read_timeout(Some(left))
                .expect("set read timeout");
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Outcome::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Outcome::Silent
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A reset is how a server that closed with unread input looks.
                Err(_) => return Outcome::Closed,
            }
        }
    }

    /// Reads until the server closes the connection, skipping frames; whether it closed within
    /// `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                Outcome::Closed => return true,
                Outcome::Silent => return false,
                Outcome::Frame(_) => {}
            }
        }
    }

    /// Sends `request` with the next xid and waits for its reply, queueing notifications.
    pub fn call(&mut self, request: &Request) -> Reply {
        let xid = self.next_xid;
        self.next_xid += 1;
        self.send(&request.to_frame(xid))
            .unwrap_or_else(|e| panic!("send {request:?}: {e}"));
        self.reply_for(xid)
    }

    /// Sends a ping with the reserved xid -2 (servers answer pings with that xid) and waits
    /// for its reply.
    pub fn ping(&mut self) -> Reply {
        let xid = arbor_proto::opcode::xid::PING;
        self.send(&Request::Ping.to_frame(xid))
            .unwrap_or_else(|e| panic!("send ping: {e}"));
        self.reply_for(xid)
    }

    /// Waits for the reply with `xid`, queueing notifications that arrive first.
    pub fn reply_for(&mut self, xid: i32) -> Reply {
        self.try_reply_for(xid)
            .unwrap_or_else(|outcome| panic!("waiting for the reply to xid {xid}: {outcome:?}"))
    }

    /// [`Self::call`], but a connection that closes (or stays silent) before the reply is an
    /// `Err` with what happened instead of a panic.
    pub fn try_call(&mut self, request: &Request) -> Result<Reply, Outcome> {
        let xid = self.next_xid;
        self.next_xid += 1;
        if self.send(&request.to_frame(xid)).is_err() {
            return Err(Outcome::Closed);
        }
        self.try_reply_for(xid)
    }

    fn try_reply_for(&mut self, xid: i32) -> Result<Reply, Outcome> {
        loop {
            let body = match self.read_frame(IO_TIMEOUT) {
                Outcome::Frame(body) => body,
                other => return Err(other),
            };
            let mut reader = Reader::new(&body);
            let header = ReplyHeader::decode(&mut reader).expect("reply header");
            if header.xid == arbor_proto::opcode::xid::NOTIFICATION {
                let event = WatcherEvent::decode(&mut reader).expect("watcher event");
                self.events.push_back(event);
                continue;
            }
            assert_eq!(header.xid, xid, "replies must come in request order");
            if header.zxid > 0 && xid != arbor_proto::opcode::xid::PING {
                self.last_zxid = self.last_zxid.max(header.zxid);
            }
            return Ok(Reply {
                header,
                body: reader.rest().to_vec(),
            });
        }
    }

    /// Waits up to `timeout` for the next notification.
    pub fn next_event(&mut self, timeout: Duration) -> Option<WatcherEvent> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Outcome::Frame(body) = self.read_frame(left) else {
                return None;
            };
            let mut reader = Reader::new(&body);
            let header = ReplyHeader::decode(&mut reader).expect("reply header");
            if header.xid == arbor_proto::opcode::xid::NOTIFICATION {
                return Some(WatcherEvent::decode(&mut reader).expect("watcher event"));
            }
        }
    }

    /// `create` of a persistent node with an open ACL; the reply's error code.
    pub fn create(&mut self, path: &str, data: &[u8], mode: CreateMode) -> Option<ErrorCode> {
        self.call(&Request::Create(CreateRequest {
            path: path.into(),
            data: data.to_vec(),
            acl: Acl::open_unsafe(),
            flags: mode.flags(),
        }))
        .error()
    }

    /// Sends `request`; panics naming `what` unless the reply is Ok. Returns the decoded body.
    pub fn ok(&mut self, request: &Request, what: &str) -> Response {
        let reply = self.call(request);
        assert_eq!(
            reply.error(),
            Some(ErrorCode::Ok),
            "{what}: {:?}",
            reply.header
        );
        Response::decode_for(request.op_code(), &reply.body)
            .unwrap_or_else(|e| panic!("{what}: undecodable reply: {e}"))
    }

    /// `setData` of any version; the new stat.
    pub fn set_data(&mut self, path: &str, data: &[u8]) -> Stat {
        let request = Request::SetData(SetDataRequest {
            path: path.into(),
            data: data.to_vec(),
            version: -1,
        });
        match self.ok(&request, &format!("setData {path}")) {
            Response::Stat(stat) => stat,
            other => panic!("setData {path}: {other:?}"),
        }
    }

    /// `delete` of any version.
    pub fn delete(&mut self, path: &str) {
        let request = Request::Delete(DeleteRequest {
            path: path.into(),
            version: -1,
        });
        self.ok(&request, &format!("delete {path}"));
    }

    /// `sync`: once answered, this server has applied every write acknowledged before.
    pub fn sync(&mut self, path: &str) {
        self.ok(
            &Request::Sync(SyncRequest { path: path.into() }),
            &format!("sync {path}"),
        );
    }

    /// `exists`, setting a watch if `watch`.
    pub fn exists(&mut self, path: &str, watch: bool) -> Option<Stat> {
        let request = Request::Exists(ExistsRequest {
            path: path.into(),
            watch,
        });
        let reply = self.call(&request);
        match reply.error() {
            Some(ErrorCode::NoNode) => None,
            Some(ErrorCode::Ok) => match Response::decode_for(OpCode::Exists, &reply.body) {
                Ok(Response::Stat(stat)) => Some(stat),
                other => panic!("exists {path}: {other:?}"),
            },
            other => panic!("exists {path}: {other:?}"),
        }
    }

    /// `getData` with a data watch.
    pub fn watch_data(&mut self, path: &str) -> Vec<u8> {
        let request = Request::GetData(GetDataRequest {
            path: path.into(),
            watch: true,
        });
        match self.ok(&request, &format!("getData {path}")) {
            Response::GetData(data, _) => data,
            other => panic!("getData {path}: {other:?}"),
        }
    }

    /// `getChildren` with a child watch.
    pub fn watch_children(&mut self, path: &str) -> Vec<String> {
        let request = Request::GetChildren(GetChildrenRequest {
            path: path.into(),
            watch: true,
        });
        match self.ok(&request, &format!("getChildren {path}")) {
            Response::GetChildren(children) => children,
            other => panic!("getChildren {path}: {other:?}"),
        }
    }

    /// `addWatch` (persistent or persistent-recursive).
    pub fn add_watch(&mut self, path: &str, mode: AddWatchMode) {
        let request = Request::AddWatch(AddWatchRequest {
            path: path.into(),
            mode: mode.code(),
        });
        self.ok(&request, &format!("addWatch {path}"));
    }

    /// The notifications received so far, oldest first.
    pub fn take_events(&mut self) -> Vec<WatcherEvent> {
        self.events.drain(..).collect()
    }

    /// `getData` without a watch: the data, or the error code.
    pub fn get_data(&mut self, path: &str) -> Result<Vec<u8>, ErrorCode> {
        let reply = self.call(&Request::GetData(arbor_proto::records::GetDataRequest {
            path: path.into(),
            watch: false,
        }));
        match reply.error() {
            Some(ErrorCode::Ok) => {
                match Response::decode_for(arbor_proto::OpCode::GetData, &reply.body) {
                    Ok(Response::GetData(data, _)) => Ok(data),
                    other => panic!("getData {path}: unexpected body {other:?}"),
                }
            }
            Some(code) => Err(code),
            None => panic!("getData {path}: unknown error code {}", reply.header.err),
        }
    }
}

/// A ConnectRequest as a 3.5+ client sends it (with the read-only flag byte).
pub fn connect_request(
    last_zxid_seen: i64,
    session_id: i64,
    password: Vec<u8>,
    timeout_ms: i32,
) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen,
        timeout_ms,
        session_id,
        password,
        read_only: false,
        has_read_only: true,
    }
}
