//! The records of `zookeeper.jute` that travel between clients and servers.
//!
//! Field names follow the jute definitions (in snake case); fields that carry enumerations keep
//! their raw wire type (`i32`) so any frame round-trips unchanged, with typed accessors beside.

use crate::error::ErrorCode;
use crate::jute::{DecodeError, Reader, Record, Writer};
use crate::opcode::OpCode;
use crate::types::{Acl, AddWatchMode, CreateMode, EventType, KeeperState, WatcherType};

/// Declares a record struct whose wire form is its fields in order, each a [`Record`].
macro_rules! jute_record {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )+
        }

        impl Record for $name {
            const MIN_ENCODED_LEN: usize = 0 $( + <$ty as Record>::MIN_ENCODED_LEN )+;

            fn encode(&self, w: &mut Writer) {
                $( Record::encode(&self.$field, w); )+
            }

            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($name { $( $field: <$ty as Record>::decode(r)?, )+ })
            }
        }
    };
}

/// The first frame a client sends. `read_only` is a trailing byte that clients before
/// ZooKeeper 3.4 omit; `has_read_only` remembers whether it was there, because the server only
/// appends the flag to its `ConnectResponse` for clients that sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub password: Vec<u8>,
    pub read_only: bool,
    /// Whether the trailing `read_only` byte is (to be) present on the wire. When `false`,
    /// `read_only` is not encoded.
    pub has_read_only: bool,
}

impl Record for ConnectRequest {
    const MIN_ENCODED_LEN: usize = 4 + 8 + 4 + 8 + 4;

    fn encode(&self, w: &mut Writer) {
        w.write_i32(self.protocol_version);
        w.write_i64(self.last_zxid_seen);
        w.write_i32(self.timeout_ms);
        w.write_i64(self.session_id);
        w.write_buffer(&self.password);
        if self.has_read_only {
            w.write_bool(self.read_only);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol_version = r.read_i32()?;
        let last_zxid_seen = r.read_i64()?;
        let timeout_ms = r.read_i32()?;
        let session_id = r.read_i64()?;
        let password = r.read_buffer()?;
        let has_read_only = !r.is_empty();
        let read_only = has_read_only && r.read_bool()?;
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            timeout_ms,
            session_id,
            password,
            read_only,
            has_read_only,
        })
    }
}

/// The server's answer to a [`ConnectRequest`]; `read_only` is present iff the client sent one.
/// A refused session (expired, wrong password) is answered with timeout 0 and session id 0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub password: Vec<u8>,
    pub read_only: bool,
    /// Whether the trailing `read_only` byte is (to be) present on the wire.
    pub has_read_only: bool,
}

impl Record for ConnectResponse {
    const MIN_ENCODED_LEN: usize = 4 + 4 + 8 + 4;

    fn encode(&self, w: &mut Writer) {
        w.write_i32(self.protocol_version);
        w.write_i32(self.timeout_ms);
        w.write_i64(self.session_id);
        w.write_buffer(&self.password);
        if self.has_read_only {
            w.write_bool(self.read_only);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol_version = r.read_i32()?;
        let timeout_ms = r.read_i32()?;
        let session_id = r.read_i64()?;
        let password = r.read_buffer()?;
        let has_read_only = !r.is_empty();
        let read_only = has_read_only && r.read_bool()?;
        Ok(ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            password,
            read_only,
            has_read_only,
        })
    }
}

jute_record! {
    /// Precedes every request body after the handshake.
    RequestHeader {
        xid: i32,
        /// The opcode (`RequestHeader.type` in jute).
        op: i32,
    }
}

impl RequestHeader {
    pub fn new(xid: i32, op: OpCode) -> Self {
        RequestHeader { xid, op: op.code() }
    }

    pub fn op_code(&self) -> Option<OpCode> {
        OpCode::from_code(self.op)
    }
}

jute_record! {
    /// Precedes every reply body and every notification.
    ReplyHeader {
        xid: i32,
        zxid: i64,
        err: i32,
    }
}

impl ReplyHeader {
    pub fn new(xid: i32, zxid: i64, err: ErrorCode) -> Self {
        ReplyHeader {
            xid,
            zxid,
            err: err.code(),
        }
    }

    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.err)
    }
}

jute_record! {
    /// Precedes each operation of a multi request and each result of a multi response.
    MultiHeader {
        /// The operation's opcode, or `-1` for an error result / the terminator.
        op: i32,
        /// `true` only on the terminating header.
        done: bool,
        err: i32,
    }
}

impl MultiHeader {
    /// The header that ends every multi request and response.
    pub const END: MultiHeader = MultiHeader {
        op: -1,
        done: true,
        err: -1,
    };
}

jute_record! {
    /// A watch notification (sent with xid -1).
    WatcherEvent {
        event_type: i32,
        state: i32,
        path: String,
    }
}

impl WatcherEvent {
    pub fn new(event_type: EventType, state: KeeperState, path: impl Into<String>) -> Self {
        WatcherEvent {
            event_type: event_type.code(),
            state: state.code(),
            path: path.into(),
        }
    }

    pub fn event(&self) -> Option<EventType> {
        EventType::from_code(self.event_type)
    }

    pub fn keeper_state(&self) -> Option<KeeperState> {
        KeeperState::from_code(self.state)
    }
}

jute_record! {
    /// `addauth` (opcode auth, xid -4).
    AuthPacket {
        /// Unused by ZooKeeper (clients send 0).
        auth_type: i32,
        scheme: String,
        auth: Vec<u8>,
    }
}

jute_record! {
    /// One identity of the caller in a `whoAmI` reply.
    ClientInfo {
        auth_scheme: String,
        user: String,
    }
}

jute_record! {
    /// create, create2, createContainer (and their multi ops).
    CreateRequest {
        path: String,
        data: Vec<u8>,
        acl: Vec<Acl>,
        /// The `CreateMode` flags.
        flags: i32,
    }
}

impl CreateRequest {
    pub fn create_mode(&self) -> Option<CreateMode> {
        CreateMode::from_flags(self.flags)
    }
}

jute_record! {
    /// createTTL.
    CreateTtlRequest {
        path: String,
        data: Vec<u8>,
        acl: Vec<Acl>,
        flags: i32,
        /// Milliseconds.
        ttl: i64,
    }
}

impl CreateTtlRequest {
    pub fn create_mode(&self) -> Option<CreateMode> {
        CreateMode::from_flags(self.flags)
    }
}

jute_record! {
    DeleteRequest {
        path: String,
        /// `-1` matches any version.
        version: i32,
    }
}

jute_record! {
    ExistsRequest {
        path: String,
        watch: bool,
    }
}

jute_record! {
    GetDataRequest {
        path: String,
        watch: bool,
    }
}

jute_record! {
    SetDataRequest {
        path: String,
        data: Vec<u8>,
        version: i32,
    }
}

jute_record! {
    GetAclRequest {
        path: String,
    }
}

jute_record! {
    SetAclRequest {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    }
}

jute_record! {
    GetChildrenRequest {
        path: String,
        watch: bool,
    }
}

jute_record! {
    GetChildren2Request {
        path: String,
        watch: bool,
    }
}

jute_record! {
    SyncRequest {
        path: String,
    }
}

jute_record! {
    /// check (standalone or in a multi).
    CheckVersionRequest {
        path: String,
        version: i32,
    }
}

jute_record! {
    /// reconfig. Unset strings are null on the wire, which ZooKeeper distinguishes from empty.
    ReconfigRequest {
        joining_servers: Option<String>,
        leaving_servers: Option<String>,
        new_members: Option<String>,
        /// `-1` for "any".
        cur_config_id: i64,
    }
}

jute_record! {
    CheckWatchesRequest {
        path: String,
        /// The `WatcherType` (children 1, data 2, any 3).
        watcher_type: i32,
    }
}

impl CheckWatchesRequest {
    pub fn watcher_type(&self) -> Option<WatcherType> {
        WatcherType::from_code(self.watcher_type)
    }
}

jute_record! {
    RemoveWatchesRequest {
        path: String,
        /// The `WatcherType` (children 1, data 2, any 3).
        watcher_type: i32,
    }
}

impl RemoveWatchesRequest {
    pub fn watcher_type(&self) -> Option<WatcherType> {
        WatcherType::from_code(self.watcher_type)
    }
}

jute_record! {
    /// setWatches (xid -8): re-registers a reconnecting client's one-time watches.
    SetWatches {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
    }
}

jute_record! {
    /// setWatches2 (xid -8): setWatches plus persistent and persistent-recursive watches.
    SetWatches2 {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
        persistent_watches: Vec<String>,
        persistent_recursive_watches: Vec<String>,
    }
}

jute_record! {
    /// A SASL token from the client (opcode sasl).
    GetSaslRequest {
        token: Vec<u8>,
    }
}

jute_record! {
    GetEphemeralsRequest {
        prefix_path: String,
    }
}

jute_record! {
    GetAllChildrenNumberRequest {
        path: String,
    }
}

jute_record! {
    AddWatchRequest {
        path: String,
        /// The `AddWatchMode` (persistent 0, persistent-recursive 1).
        mode: i32,
    }
}

impl AddWatchRequest {
    pub fn watch_mode(&self) -> Option<AddWatchMode> {
        AddWatchMode::from_code(self.mode)
    }
}

jute_record! {
    /// A bare error code (the body of an addWatch reply and of multi error results).
    ErrorResponse {
        err: i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Record + PartialEq + std::fmt::Debug>(value: &T) {
        let bytes = value.to_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(&T::decode(&mut r).expect("decodes"), value);
        assert!(r.is_empty(), "decoder left {} bytes", r.remaining());
    }

    fn connect_request(has_read_only: bool) -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x10,
            timeout_ms: 30_000,
            session_id: 0,
            password: vec![0; 16],
            read_only: has_read_only,
            has_read_only,
        }
    }

    /// The bytes a 3.x Java client sends for a new session, written out by hand.
    fn known_connect_bytes(read_only_byte: Option<u8>) -> Vec<u8> {
        let mut bytes = vec![
            0, 0, 0, 0, // protocolVersion
            0, 0, 0, 0, 0, 0, 0, 0x10, // lastZxidSeen
            0, 0, 0x75, 0x30, // timeOut = 30000
            0, 0, 0, 0, 0, 0, 0, 0, // sessionId
            0, 0, 0, 16, // passwd length
        ];
        bytes.extend_from_slice(&[0; 16]);
        bytes.extend(read_only_byte);
        bytes
    }

    #[test]
    fn connect_request_with_read_only_matches_known_bytes() {
        let req = connect_request(true);
        let expected = known_connect_bytes(Some(1));
        assert_eq!(expected.len(), 45);
        assert_eq!(req.to_bytes(), expected);
        assert_eq!(ConnectRequest::from_bytes(&expected), Ok(req));
    }

    #[test]
    fn connect_request_without_read_only_matches_known_bytes() {
        let req = connect_request(false);
        let expected = known_connect_bytes(None);
        assert_eq!(expected.len(), 44);
        assert_eq!(req.to_bytes(), expected);
        let decoded = ConnectRequest::from_bytes(&expected).expect("decodes");
        assert!(!decoded.has_read_only);
        assert!(!decoded.read_only);
        assert_eq!(decoded, req);
    }

    #[test]
    fn connect_request_read_only_false_is_remembered_as_present() {
        let decoded = ConnectRequest::from_bytes(&known_connect_bytes(Some(0))).expect("decodes");
        assert!(decoded.has_read_only);
        assert!(!decoded.read_only);
    }

    #[test]
    fn connect_request_truncated_at_every_prefix_is_an_error() {
        let bytes = known_connect_bytes(None);
        for len in 0..bytes.len() {
            assert!(
                ConnectRequest::from_bytes(&bytes[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
    }

    #[test]
    fn connect_response_round_trips_with_and_without_read_only() {
        for has_read_only in [false, true] {
            let rsp = ConnectResponse {
                protocol_version: 0,
                timeout_ms: 4000,
                session_id: 0x0123_4567_89ab_cdef,
                password: (0..16).collect(),
                read_only: has_read_only,
                has_read_only,
            };
            round_trip(&rsp);
            assert_eq!(rsp.to_bytes().len(), 36 + usize::from(has_read_only));
        }
    }

    #[test]
    fn headers_have_the_jute_layout() {
        let h = ReplyHeader::new(-2, 0x0102, ErrorCode::NoNode);
        assert_eq!(
            h.to_bytes(),
            [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 1, 2, 0xff, 0xff, 0xff, 0x9b]
        );
        assert_eq!(h.error_code(), Some(ErrorCode::NoNode));
        round_trip(&h);

        let rh = RequestHeader::new(7, OpCode::GetData);
        assert_eq!(rh.to_bytes(), [0, 0, 0, 7, 0, 0, 0, 4]);
        assert_eq!(rh.op_code(), Some(OpCode::GetData));

        assert_eq!(
            MultiHeader::END.to_bytes(),
            [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn watcher_event_round_trips_with_typed_accessors() {
        let ev = WatcherEvent::new(EventType::NodeDeleted, KeeperState::SyncConnected, "/a");
        round_trip(&ev);
        assert_eq!(ev.event(), Some(EventType::NodeDeleted));
        assert_eq!(ev.keeper_state(), Some(KeeperState::SyncConnected));
    }

    #[test]
    fn reconfig_keeps_null_apart_from_empty() {
        let req = ReconfigRequest {
            joining_servers: Some("server.4=h:1:2".into()),
            leaving_servers: Some(String::new()),
            new_members: None,
            cur_config_id: -1,
        };
        round_trip(&req);
        let bytes = req.to_bytes();
        // leaving "" is length 0; newMembers null is length -1.
        let tail = &bytes[bytes.len() - 16..];
        assert_eq!(&tail[..8], [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn min_encoded_len_is_the_size_of_an_all_empty_record() {
        assert_eq!(
            CreateTtlRequest::default().to_bytes().len(),
            CreateTtlRequest::MIN_ENCODED_LEN
        );
        assert_eq!(
            SetWatches2::default().to_bytes().len(),
            SetWatches2::MIN_ENCODED_LEN
        );
        assert_eq!(
            ClientInfo::default().to_bytes().len(),
            ClientInfo::MIN_ENCODED_LEN
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic_the_connect_decoders(
            bytes in prop::collection::vec(any::<u8>(), 0..96),
        ) {
            let _ = ConnectRequest::from_bytes(&bytes);
            let _ = ConnectResponse::from_bytes(&bytes);
            let _ = RequestHeader::from_bytes(&bytes);
            let _ = ReplyHeader::from_bytes(&bytes);
            let _ = WatcherEvent::from_bytes(&bytes);
        }

        #[test]
        fn connect_requests_round_trip(
            protocol_version in any::<i32>(),
            last_zxid_seen in any::<i64>(),
            timeout_ms in any::<i32>(),
            session_id in any::<i64>(),
            password in prop::collection::vec(any::<u8>(), 0..32),
            read_only in any::<bool>(),
            has_read_only in any::<bool>(),
        ) {
            let req = ConnectRequest {
                protocol_version,
                last_zxid_seen,
                timeout_ms,
                session_id,
                password,
                read_only: read_only && has_read_only,
                has_read_only,
            };
            prop_assert_eq!(ConnectRequest::from_bytes(&req.to_bytes()), Ok(req));
        }
    }
}
