//! Mutual TLS on the quorum port (`sslQuorum`).
//!
//! The quorum crate takes ready rustls configurations ([`PeerTls`]); the server builds them
//! from its PEM files and decides how certificates are verified. Here they are applied: the
//! listener requires the handshake before the hello, and a dialer verifies the peer as the host
//! of its `host:quorumPort` address (an IP address or a DNS name, checked against the
//! certificate's subjectAltName unless the server's verifier skips the name check).
//!
//! Refusals are logged at warn, but at most once per [`REFUSAL_LOG_INTERVAL`] per remote
//! address: a refused peer retries every few hundred milliseconds and would flood the log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustls::pki_types::ServerName;

/// How long a TLS handshake on the quorum port may take, on either side. A peer that stalls
/// mid-handshake is dropped instead of holding a connection slot or a dialer's link lock.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the same remote address is logged at warn for refused handshakes.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Remote addresses are forgotten past this many (a scan from many addresses must not grow it).
const REFUSAL_LOG_CAPACITY: usize = 1024;

/// TLS for every peer connection, both directions. Peers always authenticate each other:
/// `acceptor` must require a client certificate, `connector` must present one.
#[derive(Debug, Clone)]
pub struct PeerTls {
    /// The listener's side: this node's certificate, and the verifier of dialers' certificates.
    pub acceptor: Arc<rustls::ServerConfig>,
    /// The dialer's side: this node's certificate, and the verifier of the listeners' ones.
    pub connector: Arc<rustls::ClientConfig>,
}

/// Why a peer address cannot be used as a TLS server name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{addr:?} has no host usable as a TLS server name")]
pub struct BadServerName {
    pub addr: String,
}

/// The name a dialer expects in the certificate of the peer at `addr` (`host:port`,
/// `[v6]:port`): the host, as an IP address when it is one.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, BadServerName> {
    let bad = || BadServerName {
        addr: addr.to_owned(),
    };
    let (host, _port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned()).map_err(|_| bad())
}

/// Rate-limits the warnings about refused handshakes, per remote address.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    last_warned: Mutex<HashMap<IpAddr, Instant>>,
}

impl RefusalLog {
    /// Logs `what` about `remote`: at warn when `remote` was not warned about recently, else
    /// at debug.
    pub(crate) fn refused(&self, remote: IpAddr, what: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        let warn = {
            let mut last = self.last_warned.lock();
            if last.len() >= REFUSAL_LOG_CAPACITY {
                last.retain(|_, at| now.duration_since(*at) < REFUSAL_LOG_INTERVAL);
            }
            match last.get(&remote) {
                Some(at) if now.duration_since(*at) < REFUSAL_LOG_INTERVAL => false,
                _ => {
                    last.insert(remote, now);
                    true
                }
            }
        };
        if warn {
            tracing::warn!(%remote, "{what}");
        } else {
            tracing::debug!(%remote, "{what}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host_of_the_address() {
        assert_eq!(
            server_name("127.0.0.1:2888").unwrap(),
            ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into())
        );
        assert_eq!(
            server_name("[::1]:2888").unwrap(),
            ServerName::IpAddress("::1".parse::<IpAddr>().unwrap().into())
        );
        assert_eq!(
            server_name("zk-1.zk.svc:2888").unwrap(),
            ServerName::try_from("zk-1.zk.svc").unwrap()
        );
        for bad in ["no-port", ":2888", "bad host!:2888", "[]:1"] {
            assert!(server_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_warn_once_per_address_and_interval() {
        let log = RefusalLog::default();
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        log.refused(a, format_args!("first"));
        let first = log.last_warned.lock()[&a];
        log.refused(a, format_args!("again"));
        assert_eq!(log.last_warned.lock()[&a], first, "not warned again");
        log.refused(b, format_args!("other"));
        assert_eq!(log.last_warned.lock().len(), 2);
    }
}

/// Both sides of the transport over TLS, in one process: a listener and dialers with
/// certificates from the right CA, another CA, none, and no TLS at all.
#[cfg(test)]
mod transport_tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
    };
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::server::WebPkiClientVerifier;

    use super::PeerTls;
    use crate::peer::client::{CallError, Dialer, PeerClient};
    use crate::peer::listener::{self, PeerService, ServeFuture};
    use crate::peer::wire::{PeerRequest, PeerResponse};
    use crate::types::NodeId;

    struct Authority {
        cert: rcgen::Certificate,
        key: KeyPair,
    }

    fn authority() -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        Authority {
            cert: params.self_signed(&key).unwrap(),
            key,
        }
    }

    /// A member certificate (server and client use) naming 127.0.0.1 only.
    fn member(ca: &Authority) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
        let key = PrivatePkcs8KeyDer::from(key.serialize_der()).into();
        (vec![cert.der().clone()], key)
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// Mutual TLS trusting `trusted`, presenting a certificate from `issuer` (none: `None`).
    fn peer_tls(trusted: &Authority, issuer: Option<&Authority>) -> PeerTls {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(trusted.cert.der().clone()).unwrap();
        let roots = Arc::new(roots);
        let (chain, key) = member(issuer.unwrap_or(trusted));
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .unwrap();
        let acceptor = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .unwrap();
        let connector = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let connector = match issuer {
            Some(_) => connector.with_client_auth_cert(chain, key).unwrap(),
            None => connector.with_no_client_auth(),
        };
        PeerTls {
            acceptor: Arc::new(acceptor),
            connector: Arc::new(connector),
        }
    }

    struct Touch;

    impl PeerService for Touch {
        fn serve(&self, _from: NodeId, _request: PeerRequest) -> ServeFuture {
            Box::pin(async { PeerResponse::Touched })
        }
    }

    async fn call(dialer: &Dialer, addr: &str) -> Result<PeerResponse, CallError> {
        PeerClient::new(dialer, 2, addr)
            .call(PeerRequest::TouchSessions(vec![7]), Duration::from_secs(5))
            .await
    }

    #[tokio::test]
    async fn only_dialers_with_a_trusted_certificate_get_through() {
        let ca = authority();
        let other_ca = authority();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let serving = tokio::spawn(listener::run(
            listener,
            "arbor".into(),
            2,
            Arc::new(Touch),
            Some(peer_tls(&ca, Some(&ca))),
        ));
        let addr = format!("127.0.0.1:{port}");

        let trusted = Dialer::new("arbor", 1, Some(&peer_tls(&ca, Some(&ca))));
        assert!(matches!(
            call(&trusted, &addr).await,
            Ok(PeerResponse::Touched)
        ));
        // Requests keep flowing on the same link (writes are flushed through TLS).
        let client = PeerClient::new(&trusted, 2, &addr);
        for _ in 0..20 {
            let answer = client
                .call(PeerRequest::TouchSessions(vec![1]), Duration::from_secs(5))
                .await;
            assert!(matches!(answer, Ok(PeerResponse::Touched)), "{answer:?}");
        }

        let refused = [
            // A certificate from another CA (it trusts the listener's CA itself).
            (
                "another CA",
                Dialer::new("arbor", 1, Some(&peer_tls(&ca, Some(&other_ca)))),
            ),
            (
                "no certificate",
                Dialer::new("arbor", 1, Some(&peer_tls(&ca, None))),
            ),
            ("plaintext", Dialer::new("arbor", 1, None)),
        ];
        for (case, dialer) in refused {
            let answer = call(&dialer, &addr).await;
            match answer {
                Err(CallError::Unreachable { reason, .. }) => {
                    // A TLS dialer learns that its certificate was refused.
                    if case != "plaintext" {
                        assert!(reason.contains("TLS handshake"), "{case}: {reason}");
                    }
                }
                other => panic!("{case}: {other:?}"),
            }
        }
        // The listener's certificate names 127.0.0.1, not "localhost": refused by name.
        let answer = call(&trusted, &format!("localhost:{port}")).await;
        match answer {
            Err(CallError::Unreachable { reason, .. }) => {
                assert!(reason.contains("TLS"), "{reason}")
            }
            other => panic!("a wrong server name must be refused: {other:?}"),
        }
        serving.abort();
    }
}
