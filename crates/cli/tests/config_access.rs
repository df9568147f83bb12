//! Who may change the config center, end to end on a real `arbor server`: with
//! `configCenter.auth` its nodes are readable and watchable by any plain ZooKeeper client but
//! writable only by the config center's credential (the API's own session, `arbor config
//! --auth`); without it nothing changes. With `admin.tokensFile`, an API push records the
//! token's name as the author in the history and one audit line; a refused push changes neither.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use arbor_test_support::{
    api_call, arbor_bin, until_success, ArborOptions, ArborServer, HttpResponse,
};
use serde_json::Value;
use zookeeper_client as zk;

const DEPLOYER: &str = "deployer-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";
/// The config center's credential (`configCenter.auth=digest:<this>`).
const CREDENTIAL: &str = "arbor-config:s3cret-pw";
const DOC: &str = "/api/v1/config/prod/web/application.yml";
const NODE: &str = "/arbor/config/prod/web/application.yml";
const API_TIMEOUT: Duration = Duration::from_secs(20);

/// Writes a tokens file with a write token (`deployer`) and a read token (`viewer`).
fn tokens_file(dir: &Path) -> String {
    let path = dir.join("tokens");
    std::fs::write(
        &path,
        format!("deployer write {DEPLOYER}\nviewer read {VIEWER}\n"),
    )
    .unwrap();
    path.display().to_string()
}

/// `arbor config --server <server> ARGS...`.
fn arbor_config(server: &ArborServer, args: &[&str]) -> Output {
    Command::new(arbor_bin())
        .arg("config")
        .args(["--server", &server.connect_string()])
        .args(args)
        .env("USER", "tester")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", arbor_bin().display()))
}

fn expect_exit(output: &Output, code: i32) -> String {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    if code == 0 {
        stdout
    } else {
        stderr
    }
}

/// The doc's history through the API, newest first.
fn api_history(server: &ArborServer, token: Option<&str>) -> Vec<Value> {
    let response = api_call(
        server.admin_addr(),
        "GET",
        &format!("{DOC}/history"),
        token,
        b"",
    );
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["history"].as_array().unwrap().clone()
}

fn push(server: &ArborServer, token: Option<&str>, body: &str) -> HttpResponse {
    api_call(
        server.admin_addr(),
        "PUT",
        &format!("{DOC}?message=from+the+api"),
        token,
        body.as_bytes(),
    )
}

async fn plain_client(server: &ArborServer) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&server.connect_string())
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", server.connect_string()))
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// `(scheme, id, permission)` of each ACL entry, sorted.
fn acl_entries(acls: &[zk::Acl]) -> Vec<(String, String, zk::Permission)> {
    let mut entries: Vec<_> = acls
        .iter()
        .map(|acl| {
            (
                acl.scheme().to_owned(),
                acl.id().to_owned(),
                acl.permission(),
            )
        })
        .collect();
    entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    entries
}

fn protected_acl() -> Vec<(String, String, zk::Permission)> {
    // As a client without ADMIN permission sees it: ZooKeeper (and Arbor) replace the digest's
    // hash with `x` in getACL answers to such clients.
    vec![
        (
            "digest".into(),
            "arbor-config:x".into(),
            zk::Permission::ALL,
        ),
        ("world".into(), "anyone".into(), zk::Permission::READ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_credential_plain_clients_read_and_watch_but_only_the_config_center_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = ArborServer::start(
        ArborOptions::new()
            .config("admin.tokensFile", tokens_file(dir.path()))
            .config("configCenter.auth", format!("digest:{CREDENTIAL}")),
    );
    let v1 = "server:\n  port: 8080\n";
    let pushed = until_success("push through the API", API_TIMEOUT, || {
        push(&server, Some(DEPLOYER), v1)
    });
    assert_eq!(pushed.json()["version"], 1);

    // A plain ZooKeeper client reads and watches the document...
    let client = plain_client(&server).await;
    let (data, _, watcher) = client.get_and_watch_data(NODE).await.unwrap();
    assert_eq!(data, v1.as_bytes());
    for path in [
        "/arbor",
        "/arbor/config/prod/web",
        NODE,
        "/arbor/history/prod/web/application.yml/v-0000000001",
    ] {
        let (acls, _) = client.get_acl(path).await.unwrap();
        assert_eq!(acl_entries(&acls), protected_acl(), "{path}");
    }
    // ...but cannot change it, add to it or remove it: the API's tokens cannot be bypassed.
    assert_eq!(
        client.set_data(NODE, b"server:\n  port: 1\n", None).await,
        Err(zk::Error::NoAuth)
    );
    assert_eq!(
        client
            .create("/arbor/config/prod/web/evil.yml", b"x: 1\n", &persistent())
            .await
            .map(|_| ()),
        Err(zk::Error::NoAuth)
    );
    assert_eq!(
        client
            .create("/arbor/config/staging", b"", &persistent())
            .await
            .map(|_| ()),
        Err(zk::Error::NoAuth)
    );
    assert_eq!(client.delete(NODE, None).await, Err(zk::Error::NoAuth));
    assert_eq!(
        client
            .create(
                "/arbor/history/prod/web/application.yml/v-0000000002",
                b"{}",
                &persistent()
            )
            .await
            .map(|_| ()),
        Err(zk::Error::NoAuth)
    );

    // A push through the API reaches the plain client's watch.
    let v2 = "server:\n  port: 9090\n";
    let pushed = push(&server, Some(DEPLOYER), v2);
    assert_eq!(pushed.status, 200, "{}", pushed.text());
    assert_eq!(pushed.json()["version"], 2);
    let event = tokio::time::timeout(Duration::from_secs(10), watcher.changed())
        .await
        .expect("the watch fires");
    assert_eq!(event.event_type, zk::EventType::NodeDataChanged);

    // The CLI changes it with the credential, and is told what is missing without it.
    let file = dir.path().join("application.yml");
    std::fs::write(&file, "server:\n  port: 7070\n").unwrap();
    let file = file.display().to_string();
    let target = ["--env", "prod", "--app", "web"];
    let denied = expect_exit(
        &arbor_config(&server, &[&["push", &file][..], &target].concat()),
        1,
    );
    assert!(
        denied.contains("not authorized") && denied.contains("--auth"),
        "{denied}"
    );
    let out = expect_exit(
        &arbor_config(
            &server,
            &[&["--auth", CREDENTIAL, "push", &file][..], &target].concat(),
        ),
        0,
    );
    assert_eq!(out.trim(), "prod/web/application.yml: version 3");
    // Reading needs nothing.
    let got = expect_exit(
        &arbor_config(
            &server,
            &[&["get"][..], &target, &["--name", "application.yml"]].concat(),
        ),
        0,
    );
    assert_eq!(got, "server:\n  port: 7070\n");
    let (data, _) = client.get_data(NODE).await.unwrap();
    assert_eq!(data, b"server:\n  port: 7070\n");
    // A CLI push that creates new levels protects them as the server does.
    let out = expect_exit(
        &arbor_config(
            &server,
            &[
                "--auth", CREDENTIAL, "push", &file, "--env", "staging", "--app", "api",
            ],
        ),
        0,
    );
    assert_eq!(out.trim(), "staging/api/application.yml: version 1");
    for path in [
        "/arbor/config/staging",
        "/arbor/config/staging/api/application.yml",
        "/arbor/history/staging/api/application.yml",
    ] {
        let (acls, _) = client.get_acl(path).await.unwrap();
        assert_eq!(acl_entries(&acls), protected_acl(), "{path}");
    }
    // A bad --auth is a usage error, found before connecting.
    let usage = expect_exit(&arbor_config(&server, &["--auth", "nopassword", "ls"]), 2);
    assert!(usage.contains("--auth"), "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_credential_nothing_changes_and_the_bypass_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        ArborServer::start(ArborOptions::new().config("admin.tokensFile", tokens_file(dir.path())));
    let pushed = until_success("push through the API", API_TIMEOUT, || {
        push(&server, Some(DEPLOYER), "a: 1\n")
    });
    assert_eq!(pushed.json()["version"], 1);
    assert!(
        server.log_tail().contains("configCenter.auth is not"),
        "{}",
        server.log_tail()
    );
    // Open ACLs, as before: a plain client may write the node directly.
    let client = plain_client(&server).await;
    let (acls, _) = client.get_acl(NODE).await.unwrap();
    assert_eq!(
        acl_entries(&acls),
        vec![("world".into(), "anyone".into(), zk::Permission::ALL)]
    );
    client.set_data(NODE, b"a: 2\n", None).await.unwrap();
    let current = api_call(server.admin_addr(), "GET", DOC, Some(VIEWER), b"").json();
    assert_eq!(current["content"], "a: 2\n");
    assert_eq!(current["modified_outside"], true);
    // The CLI needs no credential.
    let file = dir.path().join("application.yml");
    std::fs::write(&file, "a: 3\n").unwrap();
    let out = expect_exit(
        &arbor_config(
            &server,
            &[
                "push",
                &file.display().to_string(),
                "--env",
                "prod",
                "--app",
                "web",
            ],
        ),
        0,
    );
    assert_eq!(out.trim(), "prod/web/application.yml: version 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_added_later_protects_what_was_written_before() {
    let mut server = ArborServer::start(ArborOptions::new());
    let file = server.dir().join("db.properties");
    std::fs::write(&file, "url=jdbc:x\n").unwrap();
    let file = file.display().to_string();
    expect_exit(
        &arbor_config(&server, &["push", &file, "--env", "prod", "--app", "web"]),
        0,
    );
    expect_exit(
        &arbor_config(&server, &["spring", "--env", "prod", "--app", "web", "on"]),
        0,
    );

    let mut zoo_cfg = std::fs::read_to_string(server.config_path()).unwrap();
    zoo_cfg.push_str(&format!("configCenter.auth=digest:{CREDENTIAL}\n"));
    std::fs::write(server.config_path(), zoo_cfg).unwrap();
    server.restart();

    // The server's API session protects the existing nodes once it is up.
    let client = plain_client(&server).await;
    let node = "/arbor/config/prod/web/db.properties";
    let deadline = Instant::now() + API_TIMEOUT;
    loop {
        let (acls, _) = client.get_acl(node).await.unwrap();
        if acl_entries(&acls) == protected_acl() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not protected: {}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        client.set_data(node, b"url=jdbc:evil\n", None).await,
        Err(zk::Error::NoAuth)
    );
    // Everything the config center owns, the Spring projection context included; Spring's
    // shared root stays open.
    let deadline = Instant::now() + API_TIMEOUT;
    while !server.log_tail().contains("config center ACLs:") {
        assert!(Instant::now() < deadline, "{}", server.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
    for path in [
        "/arbor",
        "/arbor/config",
        "/arbor/history/prod/web/db.properties/v-0000000001",
        "/config/web,prod",
        "/config/web,prod/url",
    ] {
        let (acls, _) = client.get_acl(path).await.unwrap();
        assert_eq!(acl_entries(&acls), protected_acl(), "{path}");
    }
    let (acls, _) = client.get_acl("/config").await.unwrap();
    assert_eq!(
        acl_entries(&acls),
        vec![("world".into(), "anyone".into(), zk::Permission::ALL)]
    );
    // The API (open: no tokens file) still writes, through its authenticated session.
    let pushed = api_call(
        server.admin_addr(),
        "PUT",
        "/api/v1/config/prod/web/db.properties",
        None,
        b"url=jdbc:y\n",
    );
    assert_eq!(pushed.status, 200, "{}", pushed.text());
    assert_eq!(pushed.json()["version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_pushes_are_audited_and_their_token_is_the_author_in_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = ArborServer::start(
        ArborOptions::new()
            .config("admin.tokensFile", tokens_file(dir.path()))
            .config("configCenter.auth", format!("digest:{CREDENTIAL}")),
    );
    let audit_log = server.data_dir().join("audit.log");
    let audit_lines = || -> Vec<Value> {
        std::fs::read_to_string(&audit_log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let body = "server:\n  port: 8080\n";
    // The API session may still be connecting: 503 "starting" until it is mounted. Those
    // attempts are audited as failed; what matters is what follows the first success.
    until_success("push through the API", API_TIMEOUT, || {
        push(&server, Some(DEPLOYER), body)
    });
    let audited = audit_lines();
    let done = audited.last().unwrap();
    assert!(
        audited[..audited.len() - 1]
            .iter()
            .all(|line| line["status"] == 503),
        "{audited:?}"
    );
    assert_eq!(done["principal"], "deployer");
    assert_eq!(done["method"], "PUT");
    assert_eq!(done["path"], DOC);
    assert_eq!(done["query"], "message=from+the+api");
    assert_eq!(done["status"], 200);
    assert_eq!(done["outcome"], "done");
    assert_eq!(done["body_bytes"], body.len());

    // The history names the token, through the API and through the CLI.
    let history = api_history(&server, Some(VIEWER));
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["author"], "deployer");
    assert_eq!(history[0]["message"], "from the api");
    let cli_history = expect_exit(
        &arbor_config(
            &server,
            &[
                "history",
                "--env",
                "prod",
                "--app",
                "web",
                "--name",
                "application.yml",
            ],
        ),
        0,
    );
    let lines: Vec<&str> = cli_history.lines().collect();
    assert_eq!(lines.len(), 1, "{cli_history}");
    assert!(
        lines[0].starts_with("v1 ") && lines[0].contains(" deployer "),
        "{cli_history}"
    );

    // A read token's push is refused: the history does not change, the audit records the
    // refused attempt after the successful write, which stays as it was.
    let refused = push(&server, Some(VIEWER), "server:\n  port: 1\n");
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(refused.text().contains("needs write"), "{}", refused.text());
    assert_eq!(api_history(&server, Some(VIEWER)), history);
    let current = api_call(server.admin_addr(), "GET", DOC, Some(VIEWER), b"").json();
    assert_eq!(current["content"], body);
    assert_eq!(current["version"], 1);
    let after = audit_lines();
    assert_eq!(after.len(), audited.len() + 1, "{after:?}");
    assert_eq!(&after[..audited.len()], &audited[..]);
    let refusal = after.last().unwrap();
    assert_eq!(refusal["principal"], "viewer");
    assert_eq!(refusal["status"], 403);
    assert_eq!(refusal["outcome"], "refused");
    assert_eq!(refusal["path"], DOC);
    // Reads are not audited.
    assert_eq!(audit_lines().len(), after.len());
}
