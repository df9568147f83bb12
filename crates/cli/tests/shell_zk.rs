//! `arbor shell` end to end against a real Apache ZooKeeper 3.8 (the reference server), comparing
//! its output with what zkCli.sh prints for the same commands, and the same scenarios against a
//! real `arbor server` process.
//!
//! One server is started for all scenarios (a JVM start costs seconds on this machine); each
//! scenario works under its own top-level node so they cannot see each other's data.

use std::io::Cursor;

use arbor_cli::shell::{run_with, ShellArgs};
use arbor_test_support::{ArborOptions, ArborServer, ZkReference};

/// `digest` id of user `u` with password `p`: base64(sha1("u:p")).
const DIGEST_U_P: &str = "u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=";

/// What one shell run printed and returned.
#[derive(Debug)]
struct Outcome {
    exit_code: i32,
    out: String,
    err: String,
}

fn args(server: &str, command: &[&str]) -> ShellArgs {
    ShellArgs {
        server: server.to_string(),
        timeout_ms: 10_000,
        command: command.iter().map(|w| w.to_string()).collect(),
    }
}

/// Runs one command in one-shot mode.
async fn one_shot(server: &str, command: &[&str]) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit_code = run_with(args(server, command), std::io::empty(), &mut out, &mut err)
        .await
        .unwrap_or_else(|e| panic!("shell {command:?} failed to run: {e:#}"));
    Outcome {
        exit_code,
        out: String::from_utf8(out).expect("utf-8 output"),
        err: String::from_utf8(err).expect("utf-8 errors"),
    }
}

/// Runs a script of lines in interactive mode, in one session.
async fn interactive(server: &str, script: &str) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let input = Cursor::new(script.as_bytes().to_vec());
    let exit_code = run_with(args(server, &[]), input, &mut out, &mut err)
        .await
        .unwrap_or_else(|e| panic!("interactive shell failed to run: {e:#}"));
    Outcome {
        exit_code,
        out: String::from_utf8(out).expect("utf-8 output"),
        err: String::from_utf8(err).expect("utf-8 errors"),
    }
}

/// Asserts a successful one-shot command and returns its output.
async fn ok(server: &str, command: &[&str]) -> String {
    let outcome = one_shot(server, command).await;
    assert_eq!(outcome.exit_code, 0, "{command:?}: {outcome:?}");
    assert_eq!(outcome.err, "", "{command:?}");
    outcome.out
}

/// Asserts a failed one-shot command with exactly this error message.
async fn fails(server: &str, command: &[&str], exit_code: i32, message: &str) {
    let outcome = one_shot(server, command).await;
    assert_eq!(outcome.exit_code, exit_code, "{command:?}: {outcome:?}");
    assert_eq!(outcome.out, "", "{command:?}");
    assert!(
        outcome.err.ends_with(&format!("{message}\n")),
        "{command:?}: {:?}",
        outcome.err
    );
}

/// The value of one `name = value` line of a printed stat.
fn stat_field<'a>(printed: &'a str, name: &str) -> &'a str {
    printed
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(" = "))
        .unwrap_or_else(|| panic!("no {name} in {printed:?}"))
}

const STAT_FIELDS: [&str; 11] = [
    "cZxid",
    "ctime",
    "mZxid",
    "mtime",
    "pZxid",
    "cversion",
    "dataVersion",
    "aclVersion",
    "ephemeralOwner",
    "dataLength",
    "numChildren",
];

#[tokio::test]
async fn shell_against_reference_zookeeper() {
    if !ZkReference::available() {
        eprintln!(
            "SKIPPED: the zk-reference script or ZooKeeper/java is not installed ({})",
            ZkReference::script().display()
        );
        return;
    }
    let zk = ZkReference::standalone();
    run_scenarios(&zk.connect_string()).await;
}

#[tokio::test]
async fn shell_against_arbor() {
    let arbor = ArborServer::start(ArborOptions::new().config("extendedTypesEnabled", "true"));
    let server = arbor.connect_string();
    run_scenarios(&server).await;
}

async fn run_scenarios(server: &str) {
    create_get_set_stat(server).await;
    errors_and_exit_codes(server).await;
    ls_and_deleteall(server).await;
    acl_and_digest_auth(server).await;
    sequential_and_ephemeral(server).await;
    watches_print_events(server).await;
    interactive_quoting_prompt_and_errors(server).await;
    ttl_and_container_nodes(server).await;
}

async fn create_get_set_stat(server: &str) {
    assert_eq!(
        ok(server, &["create", "/basic", "hello world"]).await,
        "Created /basic\n"
    );
    assert_eq!(ok(server, &["get", "/basic"]).await, "hello world\n");
    assert_eq!(ok(server, &["set", "/basic", "v2"]).await, "");

    let printed = ok(server, &["set", "-s", "/basic", "v3"]).await;
    let names: Vec<&str> = printed
        .lines()
        .map(|l| l.split(" = ").next().unwrap_or_default())
        .collect();
    assert_eq!(names, STAT_FIELDS, "{printed}");
    assert_eq!(stat_field(&printed, "dataVersion"), "2");
    assert_eq!(stat_field(&printed, "dataLength"), "2");
    assert_eq!(stat_field(&printed, "ephemeralOwner"), "0x0");
    assert!(stat_field(&printed, "cZxid").starts_with("0x"));
    assert!(stat_field(&printed, "ctime").contains(" UTC "), "{printed}");

    let got = ok(server, &["get", "-s", "/basic"]).await;
    assert_eq!(got.lines().next(), Some("v3"));
    assert_eq!(&got["v3\n".len()..], ok(server, &["stat", "/basic"]).await);

    // A version that matches succeeds; a stale one fails like zkCli.
    assert_eq!(ok(server, &["set", "-v", "2", "/basic", "v4"]).await, "");
    fails(
        server,
        &["set", "-v", "2", "/basic", "v5"],
        1,
        "version No is not valid : /basic",
    )
    .await;
    fails(
        server,
        &["delete", "-v", "0", "/basic"],
        1,
        "version No is not valid : /basic",
    )
    .await;
    assert_eq!(ok(server, &["delete", "-v", "3", "/basic"]).await, "");
    fails(server, &["get", "/basic"], 1, "Node does not exist: /basic").await;
}

async fn errors_and_exit_codes(server: &str) {
    ok(server, &["create", "/errors"]).await;
    ok(server, &["create", "/errors/child"]).await;
    fails(
        server,
        &["create", "/errors"],
        1,
        "Node already exists: /errors",
    )
    .await;
    fails(server, &["delete", "/errors"], 1, "Node not empty: /errors").await;
    fails(
        server,
        &["stat", "/errors/nope"],
        1,
        "Node does not exist: /errors/nope",
    )
    .await;
    fails(
        server,
        &["ls", "/errors/nope"],
        1,
        "Node does not exist: /errors/nope",
    )
    .await;
    fails(
        server,
        &["create", "/errors/no/parent"],
        1,
        "Node does not exist: /errors/no/parent",
    )
    .await;
    fails(
        server,
        &["getAllChildrenNumber", "/errors/nope"],
        1,
        "Node does not exist: /errors/nope",
    )
    .await;
    fails(
        server,
        &["deleteall", "/errors/nope"],
        1,
        "Node does not exist: /errors/nope",
    )
    .await;
    fails(
        server,
        &["create", "errors"],
        1,
        "Path must start with / character",
    )
    .await;
    fails(server, &["get"], 1, "get [-s] [-w] path").await;
    fails(
        server,
        &["exists", "/errors"],
        127,
        "Command not found: exists",
    )
    .await;

    // An ephemeral parent cannot have children (checked in one session, where it exists).
    let outcome = interactive(server, "create -e /errors/eph\ncreate /errors/eph/c\n").await;
    assert!(
        outcome
            .err
            .contains("Ephemerals cannot have children: /errors/eph/c\n"),
        "{outcome:?}"
    );
}

async fn ls_and_deleteall(server: &str) {
    for path in ["/tree", "/tree/b", "/tree/a", "/tree/a/x"] {
        ok(server, &["create", path, "d"]).await;
    }
    assert_eq!(ok(server, &["ls", "/tree"]).await, "[a, b]\n");
    let with_stat = ok(server, &["ls", "-s", "/tree"]).await;
    assert!(with_stat.starts_with("[a, b]\ncZxid = 0x"), "{with_stat}");
    assert_eq!(stat_field(&with_stat, "numChildren"), "2");
    assert_eq!(
        ok(server, &["ls", "-R", "/tree"]).await,
        "/tree\n/tree/a\n/tree/b\n/tree/a/x\n"
    );
    assert_eq!(ok(server, &["ls", "/tree/a/x"]).await, "[]\n");
    assert_eq!(ok(server, &["getAllChildrenNumber", "/tree"]).await, "3\n");
    assert_eq!(ok(server, &["sync", "/tree"]).await, "Sync is OK\n");

    assert_eq!(ok(server, &["deleteall", "/tree"]).await, "");
    fails(server, &["stat", "/tree"], 1, "Node does not exist: /tree").await;
}

async fn acl_and_digest_auth(server: &str) {
    ok(server, &["create", "/secure", "secret"]).await;
    assert_eq!(
        ok(server, &["getAcl", "/secure"]).await,
        "'world,'anyone\n: cdrwa\n"
    );

    let acl = format!("world:anyone:r,digest:{DIGEST_U_P}:cdrwa");
    assert_eq!(ok(server, &["setAcl", "/secure", &acl]).await, "");
    // Without ADMIN permission the server masks digest hashes (ZooKeeper does since 3.4.x).
    assert_eq!(
        ok(server, &["getAcl", "/secure"]).await,
        "'world,'anyone\n: r\n'digest,'u:x\n: cdrwa\n"
    );
    let authed = interactive(server, "addauth digest u:p\ngetAcl /secure\n").await;
    assert!(
        authed.out.contains(&format!(
            "'world,'anyone\n: r\n'digest,'{DIGEST_U_P}\n: cdrwa\n"
        )),
        "{authed:?}"
    );
    let with_stat = ok(server, &["getAcl", "-s", "/secure"]).await;
    assert_eq!(stat_field(&with_stat, "aclVersion"), "1");

    // Anyone may read, only u may write: NoAuth before addauth, OK after, in one session.
    assert_eq!(ok(server, &["get", "/secure"]).await, "secret\n");
    fails(
        server,
        &["set", "/secure", "x"],
        1,
        "Insufficient permission : /secure",
    )
    .await;
    let session = interactive(
        server,
        "set /secure before\naddauth digest u:p\nset /secure after\nget /secure\nwhoami\n",
    )
    .await;
    assert_eq!(session.exit_code, 0);
    assert_eq!(
        session.err, "Insufficient permission : /secure\n",
        "{session:?}"
    );
    assert!(session.out.contains("after\n"), "{session:?}");
    assert!(
        session
            .out
            .contains("Auth scheme: User\nip: 127.0.0.1\ndigest: u\n"),
        "{session:?}"
    );

    // A wrong password is not u.
    let wrong = interactive(server, "addauth digest u:wrong\nset /secure x\n").await;
    assert_eq!(
        wrong.err, "Insufficient permission : /secure\n",
        "{wrong:?}"
    );

    // Unknown permission letters are reported and dropped, as zkCli does; -v guards setAcl.
    let session = interactive(
        server,
        "addauth digest u:p\nsetAcl -v 7 /secure world:anyone:cdrwa\n",
    )
    .await;
    assert_eq!(
        session.err, "version No is not valid : /secure\n",
        "{session:?}"
    );
    let session = interactive(
        server,
        "addauth digest u:p\nsetAcl -s -v 1 /secure world:anyone:rzw\n",
    )
    .await;
    assert_eq!(session.err, "Unknown perm type: z\n", "{session:?}");
    assert!(session.out.contains("aclVersion = 2\n"), "{session:?}");
    assert_eq!(
        ok(server, &["getAcl", "/secure"]).await,
        "'world,'anyone\n: rw\n"
    );
    fails(
        server,
        &["setAcl", "/secure", "nonsense"],
        1,
        "Acl is not valid : /secure",
    )
    .await;

    // setAcl -R reaches every descendant; create takes an ACL as its last argument.
    ok(server, &["create", "/recursive", "r", "world:anyone:cdrwa"]).await;
    ok(server, &["create", "/recursive/child", "c"]).await;
    ok(server, &["create", "/recursive/child/leaf", "l"]).await;
    // The new ACL keeps READ so the subtree can still be walked.
    assert_eq!(
        ok(server, &["setAcl", "-R", "/recursive", "world:anyone:ra"]).await,
        ""
    );
    for path in ["/recursive", "/recursive/child", "/recursive/child/leaf"] {
        assert_eq!(
            ok(server, &["getAcl", path]).await,
            "'world,'anyone\n: ra\n",
            "{path}"
        );
    }
    fails(
        server,
        &["set", "/recursive/child", "x"],
        1,
        "Insufficient permission : /recursive/child",
    )
    .await;
}

async fn sequential_and_ephemeral(server: &str) {
    ok(server, &["create", "/seq"]).await;
    let session = interactive(
        server,
        "create -s /seq/q- a\ncreate -s /seq/q- b\ncreate -e /seq/eph\ncreate -e -s /seq/es-\n\
         getEphemerals /seq\ngetEphemerals\nstat /seq/eph\n",
    )
    .await;
    assert_eq!(session.err, "", "{session:?}");
    for created in [
        "Created /seq/q-0000000000\n",
        "Created /seq/q-0000000001\n",
        "Created /seq/eph\n",
        "Created /seq/es-0000000003\n",
    ] {
        assert!(session.out.contains(created), "{created} in {session:?}");
    }
    assert_eq!(
        session
            .out
            .matches("[/seq/eph, /seq/es-0000000003]\n")
            .count(),
        2,
        "{session:?}"
    );
    let owner = stat_field(&session.out, "ephemeralOwner");
    assert_ne!(owner, "0x0", "an ephemeral has its session as owner");

    // Leaving the shell closes the session at once: its ephemerals are gone.
    assert_eq!(
        ok(server, &["ls", "/seq"]).await,
        "[q-0000000000, q-0000000001]\n"
    );
    assert_eq!(ok(server, &["getEphemerals", "/seq"]).await, "[]\n");
}

async fn watches_print_events(server: &str) {
    let session = interactive(
        server,
        "create /watched a\nget -w /watched\nset /watched b\nls -w /watched\ncreate /watched/c\n\
         stat -w /watched/later\ncreate /watched/later\nget -w /watched/c\nstat -w /watched/c\ndelete /watched/c\n",
    )
    .await;
    assert_eq!(
        session.err, "Node does not exist: /watched/later\n",
        "{session:?}"
    );
    let events: Vec<&str> = session
        .out
        .lines()
        .filter(|l| l.starts_with("WatchedEvent "))
        .collect();
    assert_eq!(
        events,
        [
            "WatchedEvent state:SyncConnected type:None path:null",
            "WatchedEvent state:SyncConnected type:NodeDataChanged path:/watched",
            "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/watched",
            "WatchedEvent state:SyncConnected type:NodeCreated path:/watched/later",
            // get -w and stat -w on the same node: one event, as zkCli shows it.
            "WatchedEvent state:SyncConnected type:NodeDeleted path:/watched/c",
        ],
        "{}",
        session.out
    );
    // Each event prints right after the command that caused it (here `set`, command 2), in
    // zkCli's layout.
    let prompt = |n: u32| format!("[zk: {server}(CONNECTED) {n}] ");
    let expected = format!(
        "{}\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/watched\n{}",
        prompt(2),
        prompt(3)
    );
    assert!(session.out.contains(&expected), "{}", session.out);
}

async fn interactive_quoting_prompt_and_errors(server: &str) {
    let session = interactive(
        server,
        "create /quoted \"hello world\"\n\nget /quoted\nset /quoted 'single quoted'\nget /quoted\nbogus\n\
         get /quoted/none\nset /quoted \"unterminated\nquit\nget /quoted\n",
    )
    .await;
    assert_eq!(
        session.exit_code, 0,
        "interactive mode ends with 0 after quit"
    );
    assert!(
        session
            .out
            .starts_with(&format!("Connecting to {server}\n")),
        "{session:?}"
    );
    let prompt = |n: u32| format!("[zk: {server}(CONNECTED) {n}] ");
    assert!(
        session
            .out
            .contains(&format!("{}Created /quoted\n", prompt(0))),
        "{session:?}"
    );
    // The empty line is not a command: the count stays.
    assert!(
        session
            .out
            .contains(&format!("{}{}hello world\n", prompt(1), prompt(1))),
        "{session:?}"
    );
    assert!(
        session
            .out
            .contains(&format!("{}single quoted\n", prompt(3))),
        "{session:?}"
    );
    // Nothing after quit runs: the last get would print the data a third time.
    assert_eq!(
        session.out.matches("single quoted\n").count(),
        1,
        "{session:?}"
    );
    assert!(
        session.err.contains("\nCommand not found: bogus\n"),
        "{session:?}"
    );
    assert!(
        session
            .err
            .contains("Node does not exist: /quoted/none\nunterminated quote\n"),
        "{session:?}"
    );
}

async fn ttl_and_container_nodes(server: &str) {
    assert_eq!(
        ok(server, &["create", "-t", "600000", "/ttl", "t"]).await,
        "Created /ttl\n"
    );
    assert_eq!(ok(server, &["get", "/ttl"]).await, "t\n");
    assert_eq!(
        ok(server, &["create", "-c", "/container"]).await,
        "Created /container\n"
    );
    ok(server, &["create", "/container/item"]).await;
    assert_eq!(ok(server, &["ls", "/container"]).await, "[item]\n");
    fails(
        server,
        &["create", "-e", "-t", "5", "/bad"],
        1,
        "TTLs cannot be used with Ephemeral znodes",
    )
    .await;
}

/// Without a server the shell reports the connection failure instead of hanging.
#[tokio::test]
async fn unreachable_server_is_an_error() {
    let port = arbor_test_support::free_port();
    let mut shell_args = args(&format!("127.0.0.1:{port}"), &["ls", "/"]);
    shell_args.timeout_ms = 1_000;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = run_with(shell_args, std::io::empty(), &mut out, &mut err).await;
    let error = result.expect_err("nothing listens there");
    assert!(
        format!("{error:#}").contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{error:#}"
    );
}
