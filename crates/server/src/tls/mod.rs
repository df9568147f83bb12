//! TLS for the client port (`secureClientPort`) and the admin port (`admin.forceHttps`), with
//! rustls and certificates from PEM files (`ssl.certFile`, `ssl.keyFile`, `ssl.trustFile`).
//!
//! A client certificate verified against `ssl.trustFile` becomes the connection's `x509`
//! identity: its subject in RFC 2253 form ([`subject::subject_dn`]), usable in ACLs as
//! `x509:<dn>` and reported by `whoAmI`, as with ZooKeeper's X509AuthenticationProvider.
//! `X509AuthenticationProvider.superUser` names a subject that is also `super`.
//!
//! [`peer`] builds the mutual-TLS configurations of the quorum port (`sslQuorum`).

pub mod peer;
pub mod subject;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arbor_proto::Id;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::config::{ClientAuth, TlsConfig};
use crate::conn;
use crate::server::Shared;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} {path}: {message}")]
    File {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client certificate verification ({path}): {message}")]
    Verifier { path: PathBuf, message: String },
    #[error("peer certificate verification ({path}): {message}")]
    PeerVerifier { path: PathBuf, message: String },
    #[error("{key} is not set (sslQuorum=true)")]
    PeerFileNotSet { key: &'static str },
}

fn file_error(what: &'static str, path: &Path, message: impl ToString) -> TlsError {
    TlsError::File {
        what,
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The CA certificates of `path` (named by the key `what`) as a root store.
fn trust_roots(what: &'static str, path: &Path) -> Result<Arc<rustls::RootCertStore>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(what, path)? {
        roots.add(cert).map_err(|e| file_error(what, path, e))?;
    }
    Ok(Arc::new(roots))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration for `tls`, asking for client certificates as `client_auth` says.
pub fn server_config(
    tls: &TlsConfig,
    client_auth: ClientAuth,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let missing = |key: &'static str| file_error(key, Path::new(""), "is not set");
    let cert_file = tls
        .cert_file
        .as_deref()
        .ok_or_else(|| missing("ssl.certFile"))?;
    let key_file = tls
        .key_file
        .as_deref()
        .ok_or_else(|| missing("ssl.keyFile"))?;
    let chain = certificates("ssl.certFile", cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| file_error("ssl.keyFile", key_file, e))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let builder = match (client_auth, tls.trust_file.as_deref()) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => return Err(missing("ssl.trustFile")),
        (policy, Some(trust_file)) => {
            let roots = trust_roots("ssl.trustFile", trust_file)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let verifier = if policy == ClientAuth::Want {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| TlsError::Verifier {
                path: trust_file.to_path_buf(),
                message: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols.clear();
    Ok(Arc::new(config))
}

/// The identities a verified client certificate gives a connection: `x509:<subject>`, plus
/// `super` when the subject is `super_user`.
pub fn identities(
    peer_certificates: Option<&[CertificateDer<'_>]>,
    super_user: Option<&str>,
) -> Vec<Id> {
    let Some(subject) = peer_certificates
        .and_then(|chain| chain.first())
        .and_then(|leaf| subject::subject_dn(leaf))
    else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    if super_user == Some(subject.as_str()) {
        ids.push(Id::new("super", ""));
    }
    ids.push(Id::new("x509", subject));
    ids
}

/// Accepts a TLS connection: the handshake (bounded by [`HANDSHAKE_TIMEOUT`]) and the client
/// certificate's identities. `None` when the handshake fails (a plaintext client, an unknown
/// or missing certificate): the connection is dropped.
pub async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    super_user: Option<&str>,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Vec<Id>)> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let ids = identities(tls.get_ref().1.peer_certificates(), super_user);
            Some((tls, ids))
        }
        Ok(Err(e)) => {
            tracing::info!(%peer, "TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// Accepts TLS client connections until the task is aborted: the handshake runs in the
/// connection's own task, then the connection is served like a plain one, with the client
/// certificate's identities.
pub async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if crate::server::too_many_connections_from(&shared, peer) {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let (shared, acceptor) = (shared.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let super_user = shared.config.tls.x509_super_user.clone();
                    let Some((tls, ids)) =
                        accept(&acceptor, stream, peer, super_user.as_deref()).await
                    else {
                        return;
                    };
                    let (read_half, write_half) = tokio::io::split(tls);
                    conn::serve_halves(shared, read_half, write_half, peer, ids).await;
                });
            }
            Err(e) => {
                tracing::warn!("TLS accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Binds a TLS listener's socket.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
