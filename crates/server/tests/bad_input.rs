//! Malformed input over raw TCP against the real `arbor server`: each bad connection is
//! answered or closed on its own, and the server keeps serving everyone else.

mod common;

use std::time::Duration;

use arbor_proto::frame::{encode_frame, framed};
use arbor_proto::records::{CreateRequest, DeleteRequest, ExistsRequest, SetDataRequest};
use arbor_proto::{
    Acl, CreateMode, ErrorCode, OpCode, Reader, Record, ReplyHeader, Request, RequestHeader,
    DEFAULT_MAX_FRAME_LEN,
};
use arbor_test_support::{ArborServer, ZkReference};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::raw::{connect_request, Outcome, RawConn};

const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The server process is alive, answers `ruok`, and serves a fresh session end to end.
fn assert_healthy(server: &ArborServer, marker: &str) {
    common::assert_serving(server);
    let (mut conn, _) = RawConn::new_session(server.addr(), 10_000);
    let path = format!("/health-{marker}");
    assert_eq!(
        conn.create(&path, marker.as_bytes(), CreateMode::Persistent),
        Some(ErrorCode::Ok),
        "log:\n{}",
        server.log_tail()
    );
    assert_eq!(conn.get_data(&path), Ok(marker.as_bytes().to_vec()));
}

/// Sends `bytes` on a new connection (before any handshake) and asserts the server closes it.
fn assert_closes_before_handshake(server: &ArborServer, what: &str, bytes: &[u8]) {
    let mut conn = RawConn::open(server.addr());
    // The server may close while we still write: that is fine.
    let _ = conn.send(bytes);
    assert!(
        conn.closed_within(CLOSE_TIMEOUT),
        "{what}: the connection stayed open"
    );
}

#[test]
fn garbage_and_impossible_lengths_close_only_that_connection() {
    let server = common::start_arbor(&[]);
    assert_closes_before_handshake(&server, "0xff bytes (length -1)", &[0xff; 64]);
    assert_closes_before_handshake(
        &server,
        "an HTTP request",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_closes_before_handshake(&server, "length 0x7fffffff", &0x7fff_ffffi32.to_be_bytes());
    let mut over = ((DEFAULT_MAX_FRAME_LEN + 1) as i32).to_be_bytes().to_vec();
    over.extend_from_slice(&[0; 1024]);
    assert_closes_before_handshake(&server, "a ConnectRequest over jute.maxbuffer", &over);
    assert_healthy(&server, "garbage");

    // After the handshake the same limits hold, and the session's other state is unharmed.
    let (mut conn, _) = RawConn::new_session(server.addr(), 10_000);
    let _ = conn.send(&0x7fff_ffffi32.to_be_bytes());
    assert!(
        conn.closed_within(CLOSE_TIMEOUT),
        "length 0x7fffffff in a session"
    );
    assert_healthy(&server, "huge-prefix");
}

#[test]
fn a_frame_just_over_jute_maxbuffer_closes_the_connection_one_at_the_limit_does_not() {
    let server = common::start_arbor(&[]);
    let create = |data_len: usize| {
        Request::Create(CreateRequest {
            path: "/big".into(),
            data: vec![b'x'; data_len],
            acl: Acl::open_unsafe(),
            flags: CreateMode::Persistent.flags(),
        })
    };
    // Size the data so the frame body is exactly the limit, then one byte more.
    let overhead = create(0).to_frame(1).len() - 4;
    let at_limit = create(DEFAULT_MAX_FRAME_LEN - overhead);
    let over_limit = create(DEFAULT_MAX_FRAME_LEN - overhead + 1);
    assert_eq!(over_limit.to_frame(1).len() - 4, DEFAULT_MAX_FRAME_LEN + 1);

    let (mut conn, _) = RawConn::new_session(server.addr(), 10_000);
    let _ = conn.send(&over_limit.to_frame(1));
    assert!(conn.closed_within(CLOSE_TIMEOUT), "over the limit");
    assert_healthy(&server, "over");

    let (mut conn, _) = RawConn::new_session(server.addr(), 10_000);
    let reply = conn.call(&at_limit);
    assert_eq!(reply.error(), Some(ErrorCode::Ok), "at the limit");
    assert_eq!(
        conn.get_data("/big").map(|d| d.len()),
        Ok(DEFAULT_MAX_FRAME_LEN - overhead)
    );
}

#[test]
fn truncated_frames_then_close_leave_the_server_serving() {
    let server = common::start_arbor(&[]);
    let connect = framed(|w| connect_request(0, 0, vec![0; 16], 10_000).encode(w));
    let create = Request::Create(CreateRequest {
        path: "/never".into(),
        data: b"x".to_vec(),
        acl: Acl::open_unsafe(),
        flags: 0,
    })
    .to_frame(1);
    // Cuts inside the length prefix, inside the ConnectRequest, and inside a request.
    let cuts: Vec<Vec<u8>> = vec![
        connect[..2].to_vec(),
        connect[..connect.len() - 5].to_vec(),
        [&connect[..], &create[..3]].concat(),
        [&connect[..], &create[..create.len() - 1]].concat(),
    ];
    for (i, bytes) in cuts.iter().enumerate() {
        let mut conn = RawConn::open(server.addr());
        conn.send(bytes).expect("send");
        // Then the client goes away mid-frame.
        drop(conn);
        assert_healthy(&server, &format!("cut{i}"));
    }
    let (mut conn, _) = RawConn::new_session(server.addr(), 10_000);
    assert_eq!(
        conn.get_data("/never"),
        Err(ErrorCode::NoNode),
        "a partial create did not run"
    );
}

#[test]
fn invalid_connect_requests_are_closed_without_a_session() {
    let server = common::start_arbor(&[]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty frame", encode_frame(&[])),
        ("five bytes", encode_frame(b"hello")),
        ("password length past the frame", {
            let mut body = Vec::new();
            body.extend_from_slice(&0i32.to_be_bytes());
            body.extend_from_slice(&0i64.to_be_bytes());
            body.extend_from_slice(&10_000i32.to_be_bytes());
            body.extend_from_slice(&0i64.to_be_bytes());
            body.extend_from_slice(&1_000_000i32.to_be_bytes());
            body.extend_from_slice(&[0; 16]);
            encode_frame(&body)
        }),
    ];
    for (what, frame) in cases {
        let mut conn = RawConn::open(server.addr());
        let _ = conn.send(&frame);
        match conn.read_frame(CLOSE_TIMEOUT) {
            Outcome::Closed => {}
            other => panic!("{what}: expected the connection closed, got {other:?}"),
        }
    }
    assert_healthy(&server, "connect");
}

#[test]
fn a_wrong_session_password_gets_a_zero_session_then_close() {
    let server = common::start_arbor(&[]);
    let (mut owner, established) = RawConn::new_session(server.addr(), 10_000);
    assert_eq!(
        owner.create("/owned", b"", CreateMode::Ephemeral),
        Some(ErrorCode::Ok)
    );

    let mut wrong = established.password.clone();
    wrong[0] ^= 1;
    for (what, session, password) in [
        ("wrong password", established.session_id, wrong),
        (
            "unknown session",
            established.session_id ^ 0x5555,
            established.password.clone(),
        ),
    ] {
        let mut conn = RawConn::open(server.addr());
        let response = conn
            .handshake(&connect_request(0, session, password, 10_000))
            .unwrap_or_else(|| panic!("{what}: closed without a ConnectResponse"));
        assert_eq!((response.session_id, response.timeout_ms), (0, 0), "{what}");
        assert!(
            conn.closed_within(CLOSE_TIMEOUT),
            "{what}: must close after refusing"
        );
    }
    // The real owner is unaffected.
    assert_eq!(owner.get_data("/owned"), Ok(Vec::new()));
    assert_healthy(&server, "password");
}

/// Error codes (or `OK`) of requests naming `path`: create, delete, setData, exists, getData.
fn path_results(conn: &mut RawConn, path: &str) -> Vec<(&'static str, Option<ErrorCode>)> {
    let create = conn.create(path, b"", CreateMode::Persistent);
    let sequential = conn.create(path, b"", CreateMode::PersistentSequential);
    let delete = conn
        .call(&Request::Delete(DeleteRequest {
            path: path.into(),
            version: -1,
        }))
        .error();
    let set = conn
        .call(&Request::SetData(SetDataRequest {
            path: path.into(),
            data: vec![],
            version: -1,
        }))
        .error();
    let exists = conn
        .call(&Request::Exists(ExistsRequest {
            path: path.into(),
            watch: false,
        }))
        .error();
    let get = conn.get_data(path).err().or(Some(ErrorCode::Ok));
    vec![
        ("create", create),
        ("create sequential", sequential),
        ("delete", delete),
        ("setData", set),
        ("exists", exists),
        ("getData", get),
    ]
}

const INVALID_PATHS: [&str; 7] = ["a", "/a/", "//", "/a/../b", "/a/./b", "", "/a\u{0}b"];

/// What ZooKeeper 3.8 answers for `INVALID_PATHS` (measured with
/// `invalid_path_answers_match_the_reference_zookeeper`). Its server validates paths only partly
/// (clients validate first): setData validates first; create and delete reject a path with no
/// `/` or with a NUL, then look the parent up (NONODE for `/a/..`), then validate; reads only
/// look the node up (`""` is the root), and exists also rejects a NUL.
fn zookeeper_answer(op: &str, path: &str) -> ErrorCode {
    use ErrorCode::{BadArguments, NoNode, Ok};
    let dot_segments = path.contains("/../") || path.contains("/./");
    match (op, path) {
        (_, "a") if op.starts_with("create") || op == "delete" || op == "setData" => BadArguments,
        ("exists" | "getData", "a" | "/a/" | "//") => NoNode,
        ("exists" | "getData", "") => Ok,
        ("exists", p) if p.contains('\0') => BadArguments,
        ("getData", p) if p.contains('\0') => NoNode,
        ("create sequential", "/a/") => Ok,
        ("delete", "/a/" | "//") => NoNode,
        ("create" | "create sequential" | "delete" | "exists" | "getData", _) if dot_segments => {
            NoNode
        }
        _ => BadArguments,
    }
}

#[test]
fn invalid_paths_get_zookeepers_answers_and_keep_the_connection() {
    let server = common::start_arbor(&[]);
    let (mut conn, _) = RawConn::new_session(server.addr(), 10_000);
    assert_eq!(
        conn.create("/a", b"", CreateMode::Persistent),
        Some(ErrorCode::Ok)
    );
    for path in INVALID_PATHS {
        for (op, result) in path_results(&mut conn, path) {
            assert_eq!(result, Some(zookeeper_answer(op, path)), "{op} {path:?}");
        }
    }
    // "/a/" is a valid prefix for a sequential create: it made /a/0000000000.
    assert_eq!(conn.get_data("/a/0000000000"), Ok(Vec::new()));
    assert_healthy(&server, "paths");
}

/// The same invalid-path requests against ZooKeeper: Arbor answers with the same codes for
/// every operation, reads included (see `zookeeper_answer`).
#[test]
fn invalid_path_answers_match_the_reference_zookeeper() {
    if !ZkReference::available() {
        eprintln!(
            "SKIPPED: ZooKeeper or {} is not available",
            ZkReference::script().display()
        );
        return;
    }
    let server = common::start_arbor(&[]);
    let reference = ZkReference::standalone();
    let mut arbor = RawConn::new_session(server.addr(), 10_000).0;
    let mut zookeeper = RawConn::new_session(reference.addr(), 10_000).0;
    for conn in [&mut arbor, &mut zookeeper] {
        assert_eq!(
            conn.create("/a", b"", CreateMode::Persistent),
            Some(ErrorCode::Ok)
        );
    }
    for path in INVALID_PATHS {
        assert_eq!(
            path_results(&mut arbor, path),
            path_results(&mut zookeeper, path),
            "path {path:?} (left: arbor, right: ZooKeeper)"
        );
    }
}

/// One random frame: a known or unknown opcode with a random, mangled or truncated body.
fn random_frame(rng: &mut StdRng, xid: i32) -> Vec<u8> {
    const OPS: [OpCode; 12] = [
        OpCode::Create,
        OpCode::Create2,
        OpCode::Delete,
        OpCode::Exists,
        OpCode::GetData,
        OpCode::SetData,
        OpCode::GetChildren2,
        OpCode::Multi,
        OpCode::SetWatches2,
        OpCode::AddWatch,
        OpCode::GetAcl,
        OpCode::Check,
    ];
    let op = if rng.gen_bool(0.9) {
        OPS[rng.gen_range(0..OPS.len())].code()
    } else {
        rng.gen()
    };
    let body: Vec<u8> = match rng.gen_range(0..3) {
        // Pure noise.
        0 => (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect(),
        // A well-formed create with bytes flipped.
        1 => {
            let mut body = Request::Create(CreateRequest {
                path: format!("/fuzz/n{}", rng.gen_range(0..20)),
                data: b"fuzz".to_vec(),
                acl: Acl::open_unsafe(),
                flags: rng.gen_range(-1..8),
            })
            .to_bytes();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..body.len());
                body[at] = rng.gen();
            }
            body
        }
        // Big counts and lengths with nothing behind them.
        _ => {
            let mut body = vec![0, 0, 0, 2, b'/', b'x'];
            body.extend_from_slice(&rng.gen_range(0x1000..i32::MAX).to_be_bytes());
            body
        }
    };
    framed(|w| {
        RequestHeader { xid, op }.encode(w);
        w.write_raw(&body);
    })
}

#[test]
fn two_hundred_random_frames_then_a_health_check() {
    let server = common::start_arbor(&[]);
    let mut rng = StdRng::seed_from_u64(0x0a4b_0b0a);
    let (mut conn, _) = RawConn::new_session(server.addr(), 10_000);
    assert_eq!(
        conn.create("/fuzz", b"", CreateMode::Persistent),
        Some(ErrorCode::Ok)
    );
    let probe = Request::Exists(ExistsRequest {
        path: "/fuzz".into(),
        watch: false,
    });
    let mut closed = 0;
    for i in 0..200 {
        let xid = 1000 + i * 2;
        let probe_xid = xid + 1;
        // A random frame followed by a known-good one: replies come in order, so the probe's
        // reply (or a close) bounds the wait.
        let mut bytes = random_frame(&mut rng, xid);
        bytes.extend_from_slice(&probe.to_frame(probe_xid));
        let alive = conn.send(&bytes).is_ok()
            && loop {
                match conn.read_frame(CLOSE_TIMEOUT) {
                    Outcome::Frame(body) => {
                        let header = ReplyHeader::decode(&mut Reader::new(&body))
                            .expect("every reply has a header");
                        if header.xid == probe_xid {
                            assert_eq!(header.error_code(), Some(ErrorCode::Ok), "frame {i}");
                            break true;
                        }
                    }
                    Outcome::Closed => break false,
                    Outcome::Silent => panic!(
                        "frame {i}: neither a reply nor a close; log:\n{}",
                        server.log_tail()
                    ),
                }
            };
        if !alive {
            closed += 1;
            common::assert_serving(&server);
            conn = RawConn::new_session(server.addr(), 10_000).0;
        }
    }
    eprintln!("{closed} of 200 random frames closed their connection");
    assert_healthy(&server, "fuzz");
}
