//! TLS between ensemble members (`sslQuorum`) on real `arbor server` processes: a TLS
//! ensemble elects, replicates and takes back a member killed with kill -9; a member whose
//! certificate comes from another CA never joins while the others keep serving; a plaintext
//! peer gets no answer on a TLS quorum port; bad settings stop the server at start. The
//! certificates come from `arbor_test_support::pki`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use arbor_quorum::peer::wire::{self, Hello};
use arbor_test_support::pki::{DnType, TestCa, Usage};
use arbor_test_support::{
    send_four_letter, ArborEnsemble, ArborOptions, ArborServer, EnsembleOptions, HarnessError,
};

use common::zk::{connect, persistent};

/// Short ticks as in the other ensemble tests, TLS on the quorum port trusting `trust_file`.
fn tls_opts(trust_file: &Path) -> ArborOptions {
    ArborOptions::new()
        .config("tickTime", 1000)
        .config("sslQuorum", "true")
        .config("ssl.quorum.trustFile", trust_file.display())
        .startup_timeout(Duration::from_secs(30))
}

/// Member `id`'s own certificate from `ca` (named 127.0.0.1, its server.N host), written to
/// `dir` and set with the `ssl.quorum.*` keys.
fn with_member_certificate(
    members: EnsembleOptions,
    dir: &Path,
    ca: &TestCa,
    id: u64,
) -> EnsembleOptions {
    let files = ca
        .leaf(&[(DnType::CommonName, &format!("arbor-{id}"))], Usage::Peer)
        .write(dir, &format!("member-{id}"));
    members
        .member_config(id, "ssl.quorum.certFile", files.cert.display())
        .member_config(id, "ssl.quorum.keyFile", files.key.display())
}

/// Writes `path` with `data` through `writer` and reads it back through `reader` after a sync.
async fn replicated(writer: &ArborServer, reader: &ArborServer, path: &str, data: &[u8]) {
    let writing = connect(&writer.connect_string()).await;
    writing.create(path, data, &persistent()).await.unwrap();
    let reading = connect(&reader.connect_string()).await;
    reading.sync(path).await.unwrap();
    let (read, _) = reading.get_data(path).await.unwrap();
    assert_eq!(read, data, "{path} read through another member");
}

/// Polls `check` every 100 ms for up to `timeout`.
fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// Sends a plaintext peer hello to `addr` and reads until the other side closes. `Err` if the
/// connection stays open for 10 s.
fn plaintext_hello(addr: &str, to: u64) -> Result<Vec<u8>, String> {
    let hello = Hello {
        cluster: "arbor".into(),
        from: 99,
        to,
    };
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(&wire::encode(&hello).unwrap())
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => Ok(reply),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(reply),
        Err(e) => Err(format!("still open after {} bytes: {e}", reply.len())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_ensemble_elects_replicates_and_takes_back_a_killed_member() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Arbor Quorum CA");
    let trust = ca.write(dir.path(), "ca.pem");
    // Member 1 names its certificate with the client-port keys: ssl.quorum.* fall back to them.
    let member_1 = ca
        .leaf(&[(DnType::CommonName, "arbor-1")], Usage::Peer)
        .write(dir.path(), "member-1");
    let mut members = EnsembleOptions::default()
        .member_config(1, "ssl.certFile", member_1.cert.display())
        .member_config(1, "ssl.keyFile", member_1.key.display());
    for id in [2, 3] {
        members = with_member_certificate(members, dir.path(), &ca, id);
    }
    let mut ensemble = ArborEnsemble::try_start_with(3, 0, tls_opts(&trust), members)
        .unwrap_or_else(|e| panic!("{e}"));

    let leader = ensemble.wait_for_leader(Duration::from_secs(10));
    let followers: Vec<u64> = ensemble.ids().filter(|&id| id != leader).collect();
    replicated(
        ensemble.member(followers[0]),
        ensemble.member(followers[1]),
        "/over-tls",
        b"first",
    )
    .await;

    // kill -9 the leader: the other two elect a new one over TLS and keep writing.
    ensemble.member_mut(leader).kill9();
    let new_leader = ensemble.wait_for_leader(Duration::from_secs(15));
    assert_ne!(new_leader, leader);
    let survivor = followers
        .iter()
        .copied()
        .find(|&id| id != new_leader)
        .unwrap();
    replicated(
        ensemble.member(survivor),
        ensemble.member(new_leader),
        "/while-down",
        b"second",
    )
    .await;

    // Restarted, it rejoins over TLS and catches up with what was written without it.
    ensemble.member_mut(leader).restart();
    let rejoined = connect(&ensemble.member(leader).connect_string()).await;
    rejoined.sync("/while-down").await.unwrap();
    assert_eq!(rejoined.get_data("/while-down").await.unwrap().0, b"second");
    replicated(
        ensemble.member(leader),
        ensemble.member(survivor),
        "/after-rejoin",
        b"third",
    )
    .await;

    // A plaintext peer on a TLS quorum port gets no hello reply: at most a TLS alert (0x15),
    // then the connection is closed.
    for id in ensemble.ids() {
        let reply = plaintext_hello(&ensemble.quorum_addr(id), id)
            .unwrap_or_else(|e| panic!("member {id}: {e}"));
        assert!(
            reply.is_empty() || reply[0] == 0x15,
            "member {id} answered a plaintext hello with {reply:?}"
        );
    }
    // ...and the refusal is logged.
    assert!(
        eventually(Duration::from_secs(5), || ensemble.ids().any(|id| ensemble
            .member(id)
            .log()
            .contains("refused a peer connection"))),
        "no member logged the plaintext peer"
    );
    for id in ensemble.ids() {
        assert!(ensemble.mode(id).is_some(), "member {id} stopped serving");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_another_cas_certificate_cannot_join() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Arbor Quorum CA");
    let trust = ca.write(dir.path(), "ca.pem");
    let mut members = EnsembleOptions::default();
    for id in [1, 2] {
        members = with_member_certificate(members, dir.path(), &ca, id);
    }
    // Member 3 has a certificate (and trust) of its own CA.
    let rogue_ca = TestCa::new("Someone Else's CA");
    let rogue_dir = tempfile::tempdir().unwrap();
    members = with_member_certificate(members, rogue_dir.path(), &rogue_ca, 3)
        .member_config(
            3,
            "ssl.quorum.trustFile",
            rogue_ca.write(rogue_dir.path(), "ca.pem").display(),
        )
        .not_serving(3);
    let ensemble = ArborEnsemble::try_start_with(3, 0, tls_opts(&trust), members)
        .unwrap_or_else(|e| panic!("{e}"));

    // Two of three form a quorum.
    let leader = ensemble.wait_for_leader(Duration::from_secs(10));
    assert_ne!(leader, 3);
    replicated(
        ensemble.member(1),
        ensemble.member(2),
        "/two-of-three",
        b"x",
    )
    .await;

    // Member 3 runs and answers, but never serves.
    let rogue = ensemble.member(3);
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(3) {
        assert!(
            rogue.pid().is_some(),
            "member 3 exited:\n{}",
            rogue.log_tail()
        );
        let srvr = send_four_letter(rogue.addr(), "srvr").unwrap();
        assert!(
            srvr.contains("not currently serving"),
            "member 3 serves with another CA's certificate:\n{srvr}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Both sides log the refused handshakes: the members verify its certificate, it
    // verifies theirs.
    let good_logs_refusal = || {
        [1, 2].iter().any(|&id| {
            let log = ensemble.member(id).log();
            log.contains("refused a peer connection") && log.contains("TLS handshake")
        })
    };
    assert!(
        eventually(Duration::from_secs(5), good_logs_refusal),
        "members 1 and 2 did not log a TLS refusal:\n{}",
        ensemble.member(1).log_tail()
    );
    assert!(
        eventually(Duration::from_secs(5), || rogue
            .log()
            .contains("TLS handshake")),
        "member 3 did not log a TLS refusal:\n{}",
        rogue.log_tail()
    );

    // The others still serve and replicate.
    replicated(
        ensemble.member(2),
        ensemble.member(1),
        "/still-serving",
        b"y",
    )
    .await;
    assert!(ensemble.mode(1).is_some() && ensemble.mode(2).is_some());
    assert_eq!(ensemble.mode(3), None);
}

/// The server exits at start, and its log names `key`.
fn assert_refused_at_start(opts: ArborOptions, key: &str) {
    match ArborServer::try_start(opts) {
        Err(HarnessError::ExitedEarly {
            status, log_tail, ..
        }) => {
            assert!(!status.contains("exit status: 0"), "{status}");
            assert!(log_tail.contains(key), "{key} not named:\n{log_tail}");
        }
        Err(other) => panic!("{key}: expected an early exit, got {other}"),
        Ok(_) => panic!("{key}: the server started"),
    }
}

#[test]
fn bad_quorum_tls_settings_stop_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Arbor Quorum CA");
    let trust = ca.write(dir.path(), "ca.pem");
    let member = ca
        .leaf(&[(DnType::CommonName, "arbor-1")], Usage::Peer)
        .write(dir.path(), "member");
    let missing = dir.path().join("absent.pem");

    // sslQuorum without a trust file (neither ssl.quorum.trustFile nor ssl.trustFile).
    assert_refused_at_start(
        ArborOptions::new()
            .config("sslQuorum", "true")
            .config("ssl.quorum.certFile", member.cert.display())
            .config("ssl.quorum.keyFile", member.key.display()),
        "sslQuorum=true needs ssl.quorum.trustFile",
    );
    // A certificate file that does not exist.
    assert_refused_at_start(
        ArborOptions::new()
            .config("sslQuorum", "true")
            .config("ssl.quorum.certFile", missing.display())
            .config("ssl.quorum.keyFile", member.key.display())
            .config("ssl.quorum.trustFile", trust.display()),
        &format!("ssl.quorum.certFile {}", missing.display()),
    );
}
