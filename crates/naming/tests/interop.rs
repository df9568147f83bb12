//! Interop with the real clients, on one `arbor server`: a Curator ServiceDiscovery program
//! (Debian's Curator 5.4, payloads as Spring Cloud Zookeeper writes them) and the `arbor naming`
//! CLI against the registry, the HTTP API handler and each other.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arbor_coord::api::{ApiHandler, ApiRequest};
use arbor_coord::remote::ZkCoord;
use arbor_coord::{Coordination, CreateKind};
use arbor_naming::query::InstanceQuery;
use arbor_naming::{NamingApi, Registry, RegistryLayout, ServiceInstance};
use arbor_test_support::{arbor_bin, compile_java, free_port, ArborOptions, ArborServer};
use serde_json::Value;

/// The Curator program's session timeout: short, so kill -9 shows quickly.
const CURATOR_SESSION_MS: u64 = 4000;

/// A running Java program with line-based stdin/stdout.
struct JavaProgram {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl JavaProgram {
    fn start(classpath: &str, main: &str, args: &[&str]) -> JavaProgram {
        let mut child = Command::new("java")
            .args([
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-cp",
                classpath,
                main,
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start java");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        JavaProgram {
            child,
            stdin,
            lines,
        }
    }

    fn expect_line(&self, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == wanted => return,
                Ok(line) if line.starts_with("FAIL") => panic!("java: {line}"),
                Ok(_) => {}
                Err(err) => panic!("java never printed {wanted:?}: {err}"),
            }
        }
    }

    /// Curator's `queryForInstances(service)`: one line per instance, sorted.
    fn query(&mut self, service: &str) -> Vec<String> {
        writeln!(self.stdin, "query {service}").expect("write to java");
        self.stdin.flush().expect("flush");
        let mut found = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line == "END" => break,
                Ok(line) if line.starts_with("INSTANCE ") => {
                    found.push(line["INSTANCE ".len()..].to_string())
                }
                Ok(line) => panic!("java: {line}"),
                Err(err) => panic!("java did not answer the query: {err}"),
            }
        }
        found.sort();
        found
    }
}

impl Drop for JavaProgram {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn java_sources() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/java");
    vec![
        dir.join("CuratorNaming.java"),
        dir.join("org/springframework/cloud/zookeeper/discovery/ZookeeperInstance.java"),
    ]
}

/// Runs `arbor naming ARGS --server SERVER`.
fn arbor_naming(server: &str, args: &[&str]) -> Output {
    Command::new(arbor_bin())
        .arg("naming")
        .args(args)
        .args(["--server", server, "--timeout", "5s"])
        .output()
        .expect("run arbor naming")
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn api_get(api: &NamingApi<ZkCoord>, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let response = api
        .handle(ApiRequest {
            method: "GET".into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ApiRequest::default()
        })
        .await;
    let body = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_and_arbor_share_one_registry() {
    let server = ArborServer::start(ArborOptions::new());
    let connect = server.connect_string();
    let classes = tempfile::tempdir().expect("tempdir");
    let classpath =
        compile_java(&java_sources(), classes.path()).expect("compile the Java program");

    let mut curator = JavaProgram::start(
        &classpath,
        "CuratorNaming",
        &[&connect, &CURATOR_SESSION_MS.to_string()],
    );
    curator.expect_line("REGISTERED");

    let coord = ZkCoord::connect(&connect, Duration::from_secs(10))
        .await
        .expect("connect");
    let registry = Registry::new(coord.clone(), RegistryLayout::default());
    let api = NamingApi::new(Registry::new(coord.clone(), RegistryLayout::default()));

    // Curator's instances, as Arbor's registry reads them.
    let all = registry
        .query("curator-svc", &InstanceQuery::any())
        .await
        .unwrap();
    assert!(all.warnings.is_empty(), "{:?}", all.warnings);
    let seen: Vec<String> = all
        .selection
        .instances
        .iter()
        .map(|r| {
            let i = &r.instance;
            format!(
                "{} {:?} {:?} {} {:?} {}",
                i.id,
                i.address,
                i.port,
                i.health(),
                i.zone(),
                i.weight()
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            r#"c-1 Some("10.9.0.1") Some(9001) UP Some("eu") 5"#,
            r#"c-2 Some("10.9.0.2") Some(9002) OUT_OF_SERVICE Some("us") 1"#,
        ]
    );
    assert!(all.selection.instances.iter().all(|r| r.is_ephemeral()));
    let passing = registry
        .query("curator-svc", &InstanceQuery::default())
        .await
        .unwrap();
    assert_eq!(passing.selection.instances.len(), 1);
    assert_eq!(passing.selection.instances[0].instance.id, "c-1");

    // ...through the HTTP API...
    let (status, body) = api_get(&api, "/api/v1/services/curator-svc", &[]).await;
    assert_eq!(status, 200, "{body}");
    let instances = body["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{body}");
    assert_eq!(instances[0]["address"], "10.9.0.1");
    assert_eq!(instances[0]["port"], 9001);
    assert_eq!(instances[0]["uri"], "http://10.9.0.1:9001");
    assert_eq!(instances[0]["metadata"]["zone"], "eu");
    assert_eq!(
        instances[0]["instance"]["payload"]["@class"],
        "org.springframework.cloud.zookeeper.discovery.ZookeeperInstance"
    );
    let (status, list) = api_get(&api, "/api/v1/services", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        list["services"],
        serde_json::json!([{"name": "curator-svc", "instances": 2, "passing": 1, "index": list["services"][0]["index"]}])
    );

    // ...and through the CLI.
    let get = arbor_naming(&connect, &["get", "curator-svc", "--health", "any"]);
    assert_eq!(get.status.code(), Some(0), "{}", text(&get));
    let table = stdout(&get);
    let c2 = table
        .lines()
        .find(|l| l.starts_with("c-2"))
        .unwrap_or_else(|| panic!("{table}"));
    for cell in ["10.9.0.2", "9002", "OUT_OF_SERVICE", "us", "DYNAMIC"] {
        assert!(c2.split_whitespace().any(|c| c == cell), "{cell} in {c2:?}");
    }
    let ls = arbor_naming(&connect, &["ls"]);
    assert_eq!(ls.status.code(), Some(0), "{}", text(&ls));
    assert!(
        stdout(&ls)
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["curator-svc", "2", "1"]),
        "{}",
        text(&ls)
    );
    let json = arbor_naming(&connect, &["get", "curator-svc", "--json"]);
    let parsed: Value =
        serde_json::from_slice(&json.stdout).unwrap_or_else(|_| panic!("{}", text(&json)));
    assert_eq!(parsed["instances"][0]["id"], "c-1");
    let picked = arbor_naming(&connect, &["get", "curator-svc", "--pick"]);
    assert_eq!(
        stdout(&picked).trim(),
        "http://10.9.0.1:9001",
        "{}",
        text(&picked)
    );

    // Instances registered through Arbor are what Curator's queryForInstances returns.
    registry
        .register(
            &ServiceInstance::new("arbor-svc", "a-1")
                .with_address("10.8.0.1")
                .with_port(8001)
                .with_registration_time(1)
                .with_zone("eu")
                .with_tags(&["canary"]),
        )
        .await
        .unwrap();
    let put = api
        .handle(ApiRequest {
            method: "PUT".into(),
            path: "/api/v1/services/arbor-svc/a-2".into(),
            body: br#"{"address":"10.8.0.2","port":8002,"payload":{"@class":"org.springframework.cloud.zookeeper.discovery.ZookeeperInstance","metadata":{"weight":"3"}}}"#.to_vec(),
            ..ApiRequest::default()
        })
        .await;
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let register = arbor_naming(
        &connect,
        &[
            "register",
            "arbor-svc",
            "--address",
            "10.8.0.3",
            "--port",
            "8003",
            "--type",
            "static",
            "--meta",
            "team=core",
        ],
    );
    assert_eq!(register.status.code(), Some(0), "{}", text(&register));
    assert_eq!(
        curator.query("arbor-svc"),
        vec![
            "10.8.0.3:8003 10.8.0.3 8003 null STATIC true http://10.8.0.3:8003 instance_status=UP,team=core",
            "a-1 10.8.0.1 8001 null DYNAMIC true http://10.8.0.1:8001 tags=canary,zone=eu",
            "a-2 10.8.0.2 8002 null STATIC true http://10.8.0.2:8002 weight=3",
        ]
    );

    // A DYNAMIC registration held by `arbor naming register` lasts as long as the command.
    let mut holder = Command::new(arbor_bin())
        .args([
            "naming",
            "register",
            "arbor-svc",
            "--address",
            "10.8.0.4",
            "--port",
            "8004",
            "--id",
            "held",
        ])
        .args(["--server", &connect, "--timeout", "5s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start arbor naming register");
    let mut holder_out = BufReader::new(holder.stdout.take().unwrap());
    let mut first = String::new();
    holder_out.read_line(&mut first).unwrap();
    assert!(
        first.starts_with("registered /services/arbor-svc/held"),
        "{first}"
    );
    assert!(curator
        .query("arbor-svc")
        .iter()
        .any(|l| l.starts_with("held 10.8.0.4 8004")));
    let status = Command::new("kill")
        .args(["-TERM", &holder.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(holder.wait().unwrap().code(), Some(0));
    assert!(registry.get("arbor-svc", "held").await.unwrap().is_none());

    // kill -9 the Curator process: its instances leave every view within the session timeout.
    let started = Instant::now();
    curator.child.kill().expect("kill -9 java");
    curator.child.wait().unwrap();
    wait_until(
        "Curator's instances to go with its session",
        Duration::from_millis(CURATOR_SESSION_MS * 3 + 5000),
        || async {
            registry
                .query("curator-svc", &InstanceQuery::any())
                .await
                .unwrap()
                .selection
                .instances
                .is_empty()
        },
    )
    .await;
    eprintln!(
        "Curator instances gone {:?} after kill -9",
        started.elapsed()
    );
    let (_, body) = api_get(&api, "/api/v1/services/curator-svc", &[("health", "any")]).await;
    assert_eq!(body["instances"], serde_json::json!([]), "{body}");
    let get = arbor_naming(&connect, &["get", "curator-svc", "--health", "any"]);
    assert_eq!(get.status.code(), Some(0));
    assert_eq!(
        stdout(&get).lines().count(),
        1,
        "only the header: {}",
        text(&get)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_exit_codes_watch_and_dubbo_view() {
    let server = ArborServer::start(ArborOptions::new());
    let connect = server.connect_string();
    let coord = ZkCoord::connect(&connect, Duration::from_secs(10))
        .await
        .expect("connect");
    let registry = Registry::new(coord.clone(), RegistryLayout::default());

    // Usage (2), refused (1), unreachable (3).
    let code = |output: Output| output.status.code();
    assert_eq!(
        code(arbor_naming(
            &connect,
            &["get", "web", "--health", "sleepy"]
        )),
        Some(2)
    );
    assert_eq!(
        code(arbor_naming(
            &connect,
            &["register", "web", "--address", "h", "--weight", "-1"]
        )),
        Some(2)
    );
    assert_eq!(
        code(arbor_naming(&connect, &["get"])),
        Some(2),
        "clap usage error"
    );
    assert_eq!(
        code(arbor_naming(&connect, &["deregister", "web", "nobody"])),
        Some(1)
    );
    let closed = format!("127.0.0.1:{}", free_port());
    let unreachable = Command::new(arbor_bin())
        .args(["naming", "ls", "--server", &closed, "--timeout", "1s"])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(3), "{}", text(&unreachable));

    // A bad node is reported on stderr and skipped; the query still answers.
    registry
        .register(
            &ServiceInstance::new("web", "w-1")
                .with_address("10.0.0.1")
                .with_port(80),
        )
        .await
        .unwrap();
    coord
        .create(
            "/services/web/garbage",
            b"\x00\x01not json",
            CreateKind::Persistent,
        )
        .await
        .unwrap();
    let get = arbor_naming(&connect, &["get", "web"]);
    assert_eq!(get.status.code(), Some(0), "{}", text(&get));
    assert!(stdout(&get).contains("w-1"), "{}", text(&get));
    assert!(
        String::from_utf8_lossy(&get.stderr).contains("skipped /services/web/garbage"),
        "{}",
        text(&get)
    );

    // A DYNAMIC instance of a live session is refused without --force.
    let other = ZkCoord::connect(&connect, Duration::from_secs(10))
        .await
        .unwrap();
    Registry::new(other.clone(), RegistryLayout::default())
        .register(
            &ServiceInstance::new("web", "w-2")
                .with_address("10.0.0.2")
                .with_port(80),
        )
        .await
        .unwrap();
    let refused = arbor_naming(&connect, &["deregister", "web", "w-2"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    let forced = arbor_naming(&connect, &["deregister", "web", "w-2", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));

    // watch prints the state, then again on a change.
    let mut watch = Command::new(arbor_bin())
        .args([
            "naming", "watch", "web", "--count", "1", "--server", &connect,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut watch_out = BufReader::new(watch.stdout.take().unwrap());
    let mut header = String::new();
    watch_out.read_line(&mut header).unwrap();
    assert!(header.starts_with("# web at index "), "{header}");
    // The first table is printed; now change the service.
    registry
        .set_health("web", "w-1", arbor_naming::HealthStatus::Down)
        .await
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut watch_out, &mut rest).unwrap();
    assert_eq!(watch.wait().unwrap().code(), Some(0));
    let tables: Vec<&str> = rest.split("# web at index ").collect();
    assert_eq!(tables.len(), 2, "one change printed: {rest}");
    assert!(rest.contains("w-1"), "the first table lists w-1: {rest}");
    assert!(
        !tables[1].contains("w-1"),
        "after the change w-1 is not passing: {rest}"
    );

    // Dubbo's registry, URL-decoded.
    coord
        .ensure_path("/dubbo/com.example.Greeter/providers")
        .await
        .unwrap();
    coord
        .ensure_path("/dubbo/com.example.Greeter/consumers")
        .await
        .unwrap();
    coord
        .create(
            "/dubbo/com.example.Greeter/providers/dubbo%3A%2F%2F10.0.0.7%3A20880%2Fcom.example.Greeter%3Fapplication%3Ddemo%26methods%3Dhello%2Cbye%26version%3D1.0.0",
            b"",
            CreateKind::Ephemeral,
        )
        .await
        .unwrap();
    let dubbo = arbor_naming(&connect, &["ls", "--dubbo"]);
    assert_eq!(dubbo.status.code(), Some(0), "{}", text(&dubbo));
    assert_eq!(
        stdout(&dubbo),
        "com.example.Greeter (1 provider)\n  10.0.0.7:20880  dubbo  application=demo version=1.0.0 methods=hello,bye\n"
    );
    let _ = other.session_id();
}
