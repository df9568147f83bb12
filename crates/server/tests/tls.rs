//! TLS on a real `arbor server`: the ZooKeeper Java client (Netty, `zookeeper.client.secure`)
//! connects with a keytool truststore and a client certificate that becomes its `x509`
//! identity; a wrong or missing client certificate and a plaintext client are refused; the
//! admin port serves HTTPS. The test CA comes from `arbor_test_support::pki` (rcgen).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use arbor_test_support::pki::{DnType, TestCa, Usage};
use arbor_test_support::{free_port, java_available, JavaProgram};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zookeeper_client as zk;

const STORE_PASSWORD: &str = "changeit";

struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    /// Key and certificate in one PEM file (the Java client's PEM keystore).
    client: PathBuf,
    client_cert: PathBuf,
    /// The same subject, signed by another CA.
    rogue_client: PathBuf,
    truststore: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    let ca = TestCa::new("Arbor Test CA");
    let rogue = TestCa::new("Someone Else's CA");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let server = ca
        .leaf(&[(DnType::CommonName, "arbor-server")], Usage::Server)
        .write(dir, "server");
    let client_dn = [
        (DnType::OrganizationName, "Arbor Test"),
        (DnType::CommonName, "tls-client"),
    ];
    let client = ca.leaf(&client_dn, Usage::Client);
    let rogue_client = rogue.leaf(&client_dn, Usage::Client);
    let pki = Pki {
        ca: ca.write(dir, "ca.pem"),
        server_cert: server.cert,
        server_key: server.key,
        client: write(
            "client.pem",
            &format!("{}{}", client.key_pem, client.cert_pem),
        ),
        client_cert: write("client-cert.pem", &client.cert_pem),
        rogue_client: write(
            "rogue.pem",
            &format!("{}{}", rogue_client.key_pem, rogue_client.cert_pem),
        ),
        truststore: dir.join("trust.p12"),
    };
    let keytool = Command::new("keytool")
        .args([
            "-importcert",
            "-noprompt",
            "-alias",
            "arbor-ca",
            "-storetype",
            "PKCS12",
        ])
        .arg("-file")
        .arg(&pki.ca)
        .arg("-keystore")
        .arg(&pki.truststore)
        .args(["-storepass", STORE_PASSWORD])
        .output()
        .expect("run keytool");
    assert!(
        keytool.status.success(),
        "keytool: {}",
        String::from_utf8_lossy(&keytool.stderr)
    );
    pki
}

/// The Java client's TLS properties, with `keystore` as its client certificate (if any).
fn java_tls(
    pki: &Pki,
    keystore: Option<&Path>,
    connect_seconds: u32,
) -> Vec<(&'static str, String)> {
    let mut props = vec![
        ("zookeeper.client.secure", "true".to_owned()),
        (
            "zookeeper.clientCnxnSocket",
            "org.apache.zookeeper.ClientCnxnSocketNetty".to_owned(),
        ),
        (
            "zookeeper.ssl.trustStore.location",
            pki.truststore.display().to_string(),
        ),
        (
            "zookeeper.ssl.trustStore.password",
            STORE_PASSWORD.to_owned(),
        ),
        ("zookeeper.ssl.trustStore.type", "PKCS12".to_owned()),
        ("connectSeconds", connect_seconds.to_string()),
    ];
    if let Some(keystore) = keystore {
        props.push((
            "zookeeper.ssl.keyStore.location",
            keystore.display().to_string(),
        ));
        props.push(("zookeeper.ssl.keyStore.type", "PEM".to_owned()));
        props.push(("zookeeper.ssl.keyStore.password", String::new()));
    }
    props
}

fn rustls_client(pki: &Pki, with_cert: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&pki.ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = if with_cert {
        let chain: Vec<_> = CertificateDer::pem_file_iter(&pki.client_cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&pki.client).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(config)
}

/// Sends `request` over TLS to `addr` and reads until the server closes.
async fn tls_exchange(
    config: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    request: &[u8],
) -> std::io::Result<Vec<u8>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = ServerName::IpAddress(addr.ip().into());
    let mut tls = connector.connect(name, stream).await?;
    tls.write_all(request).await?;
    tls.flush().await?;
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut reply))
        .await
        .map_err(|_| std::io::Error::other("no end of reply within 10 s"))??;
    Ok(reply)
}

/// What a plaintext client gets from a TLS port: never a ZooKeeper answer.
fn plaintext_reply(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

#[tokio::test(flavor = "multi_thread")]
async fn java_client_over_tls_with_x509_identity_and_refusals() {
    if !java_available() {
        if std::env::var("SKIP_INSTALL").as_deref() == Ok("1") {
            eprintln!("SKIPPED java_client_over_tls...: no Java client and SKIP_INSTALL=1");
            return;
        }
        panic!(
            "javac/java or /usr/share/java/zookeeper.jar missing (scripts/test.sh installs them)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let secure_port = free_port();
    let server = common::start_arbor(&[
        ("secureClientPort", &secure_port.to_string()),
        ("ssl.certFile", &pki.server_cert.display().to_string()),
        ("ssl.keyFile", &pki.server_key.display().to_string()),
        ("ssl.trustFile", &pki.ca.display().to_string()),
        ("ssl.clientAuth", "need"),
        ("admin.forceHttps", "true"),
    ]);
    let secure = SocketAddr::from(([127, 0, 0, 1], secure_port));
    let hosts = secure.to_string();

    let java_dir = tempfile::tempdir().unwrap();
    let program = JavaProgram::compile(
        java_dir.path(),
        "TlsClient",
        include_str!("java/TlsClient.java"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let program = Arc::new(program);

    // A client certificate from the trusted CA: connected, and its subject is its identity.
    let run = program
        .run(
            &java_tls(&pki, Some(&pki.client), 15),
            &[
                hosts.clone(),
                "x509".into(),
                pki.client_cert.display().to_string(),
            ],
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines.contains(&"CONNECTED"), "{}", run.stdout);
    // Java's own name for the certificate's subject (X500Principal.getName(), RFC 2253)...
    let subject = lines
        .iter()
        .find_map(|l| l.strip_prefix("SUBJECT "))
        .unwrap_or_else(|| panic!("no SUBJECT line:\n{}", run.stdout));
    let mut parts: Vec<&str> = subject.split(',').collect();
    parts.sort_unstable();
    assert_eq!(parts, ["CN=tls-client", "O=Arbor Test"], "{subject}");
    // ...is the x509 identity Arbor gives the connection.
    assert!(
        lines.contains(&format!("WHOAMI x509 {subject}").as_str()),
        "Arbor's x509 identity must be the subject as Java names it:\n{}",
        run.stdout
    );
    assert!(lines.contains(&"READ hidden"), "{}", run.stdout);
    assert!(lines.contains(&"OK"), "{}", run.stdout);

    // The node is protected by that identity: a plaintext client without it may not read.
    let plain = common::zk::connect(&server.connect_string()).await;
    assert!(plain.check_stat("/tls-secret").await.unwrap().is_some());
    assert!(
        matches!(plain.get_data("/tls-secret").await, Err(zk::Error::NoAuth)),
        "a client without the certificate must get NoAuth"
    );

    // A certificate from another CA, and no certificate at all: refused (in parallel, each
    // waits out its connect timeout).
    let refused: Vec<_> = [Some(pki.rogue_client.clone()), None]
        .into_iter()
        .map(|keystore| {
            let (program, props, hosts) = (
                program.clone(),
                java_tls(&pki, keystore.as_deref(), 4),
                hosts.clone(),
            );
            std::thread::spawn(move || {
                program
                    .run(&props, &[hosts, "connect".into()], Duration::from_secs(60))
                    .unwrap()
            })
        })
        .collect();
    for (case, handle) in ["another CA's certificate", "no certificate"]
        .iter()
        .zip(refused)
    {
        let run = handle.join().unwrap();
        assert_eq!(run.code, Some(3), "{case}: {}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("NOT_CONNECTED"),
            "{case}: {}",
            run.stdout
        );
    }

    // A plaintext client on the TLS port gets no ZooKeeper answer (at most a TLS alert).
    for bytes in [b"ruok".to_vec(), connect_request_frame()] {
        let reply = plaintext_reply(secure, &bytes);
        assert!(
            reply.is_empty() || reply[0] == 0x15,
            "plaintext got {reply:?} from the TLS port"
        );
    }

    // A Rust TLS client with the certificate: four-letter words work over TLS too.
    let reply = tls_exchange(rustls_client(&pki, true), secure, b"ruok")
        .await
        .unwrap();
    assert_eq!(reply, b"imok");

    // The admin port serves HTTPS only.
    let admin = server.admin_addr();
    let reply = tls_exchange(
        rustls_client(&pki, false),
        admin,
        b"GET /commands/ruok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"command\": \"ruok\""), "{text}");
    let plain_http = plaintext_reply(
        admin,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(
        !String::from_utf8_lossy(&plain_http).contains("200 OK"),
        "plain HTTP must not be served when admin.forceHttps=true"
    );
    // The plain client port still serves.
    assert_eq!(server.four_letter("ruok"), "imok");
}

/// A ConnectRequest frame as a ZooKeeper client sends it first.
fn connect_request_frame() -> Vec<u8> {
    use arbor_proto::Record as _;
    let request = common::raw::connect_request(0, 0, vec![0; 16], 10_000);
    arbor_proto::frame::framed(|w| request.encode(w))
}
