//! Mutual TLS between ensemble members (`sslQuorum`): the rustls configurations handed to the
//! quorum crate ([`arbor_quorum::PeerTls`]), built from the `ssl.quorum.*File` PEM files (each
//! falling back to its `ssl.*File`).
//!
//! Both directions authenticate: the listener requires a client certificate signed by the
//! trust file, and a dialer presents its certificate and verifies the listener's against the
//! same trust file, including (with `ssl.quorum.hostnameVerification`, the default) that it
//! names the host of the peer's `server.N` address. One certificate serves both roles, so it
//! needs both the serverAuth and clientAuth extended key usages (or none).

use std::sync::Arc;

use arbor_quorum::PeerTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::{certificates, file_error, provider, trust_roots, TlsError};
use crate::config::QuorumTlsFiles;

/// Loads the PEM files and builds both sides' configurations.
pub fn peer_tls(files: &QuorumTlsFiles, hostname_verification: bool) -> Result<PeerTls, TlsError> {
    let chain = certificates(files.cert.key, &files.cert.path)?;
    let key = PrivateKeyDer::from_pem_file(&files.key.path)
        .map_err(|e| file_error(files.key.key, &files.key.path, e))?;
    let roots = trust_roots(files.trust.key, &files.trust.path)?;
    let verifier_error = |e: rustls::client::VerifierBuilderError| TlsError::PeerVerifier {
        path: files.trust.path.clone(),
        message: e.to_string(),
    };
    let mismatch = |e: rustls::Error| {
        file_error(
            files.key.key,
            &files.key.path,
            format!("cannot be used with {}: {e}", files.cert.key),
        )
    };

    let client_verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .map_err(verifier_error)?;
    let mut acceptor = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(mismatch)?;
    acceptor.alpn_protocols.clear();

    let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(verifier_error)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let builder = if hostname_verification {
        builder.with_webpki_verifier(server_verifier)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(server_verifier)))
    };
    let connector = builder
        .with_client_auth_cert(chain, key)
        .map_err(mismatch)?;
    Ok(PeerTls {
        acceptor: Arc::new(acceptor),
        connector: Arc::new(connector),
    })
}

/// `ssl.quorum.hostnameVerification=false`: the WebPKI verifier with its name check skipped.
/// WebPKI checks the chain (trust anchor, validity, key usage) before the name, so a
/// name mismatch is the only error that can be excused here: every other refusal stands.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            verified => verified,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use arbor_test_support::pki::{DnType, TestCa, Usage};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::config::PemFile;

    fn files(dir: &Path, ca: &TestCa, issuer: &TestCa, names: &[&str]) -> QuorumTlsFiles {
        let leaf = issuer
            .leaf_named(&[(DnType::CommonName, "member")], Usage::Peer, names)
            .write(dir, &format!("member-{}", names.join("-")));
        let pem = |key, path| PemFile { key, path };
        QuorumTlsFiles {
            cert: pem("ssl.quorum.certFile", leaf.cert),
            key: pem("ssl.quorum.keyFile", leaf.key),
            trust: pem("ssl.quorum.trustFile", ca.write(dir, "ca.pem")),
        }
    }

    /// A handshake between a listener with `server` and a dialer with `client` that expects
    /// the name `name`; a byte goes both ways once it succeeds.
    async fn handshake(server: &PeerTls, client: &PeerTls, name: &str) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(server.acceptor.clone());
        let accepting = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(stream).await.map_err(|e| e.to_string())?;
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
            tls.write_all(&byte).await.map_err(|e| e.to_string())?;
            tls.flush().await.map_err(|e| e.to_string())
        });
        let connector = tokio_rustls::TlsConnector::from(client.connector.clone());
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let dialed = async {
            let mut tls = connector
                .connect(name, stream)
                .await
                .map_err(|e| e.to_string())?;
            tls.write_all(b"x").await.map_err(|e| e.to_string())?;
            tls.flush().await.map_err(|e| e.to_string())?;
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(())
        }
        .await;
        let accepted = accepting.await.unwrap();
        dialed.and(accepted)
    }

    #[tokio::test]
    async fn names_are_verified_unless_hostname_verification_is_off() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Quorum CA");
        let member = files(dir.path(), &ca, &ca, &["127.0.0.1"]);
        let checked = peer_tls(&member, true).unwrap();
        let unchecked = peer_tls(&member, false).unwrap();

        handshake(&checked, &checked, "127.0.0.1").await.unwrap();
        let err = handshake(&checked, &checked, "zk-2.example")
            .await
            .unwrap_err();
        assert!(err.contains("not valid for name"), "{err}");
        handshake(&checked, &unchecked, "zk-2.example")
            .await
            .unwrap();

        // Without the name check the chain still counts: another CA's member is refused in
        // both directions.
        let rogue_ca = TestCa::new("Rogue CA");
        let rogue_dir = tempfile::tempdir().unwrap();
        let rogue = files(rogue_dir.path(), &rogue_ca, &rogue_ca, &["127.0.0.1"]);
        let rogue = peer_tls(&rogue, false).unwrap();
        assert!(handshake(&checked, &rogue, "127.0.0.1").await.is_err());
        assert!(handshake(&rogue, &unchecked, "127.0.0.1").await.is_err());
    }

    #[test]
    fn unreadable_files_are_errors_naming_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("Quorum CA");
        let good = files(dir.path(), &ca, &ca, &["127.0.0.1"]);
        let missing = dir.path().join("absent.pem");
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let cases = [
            (
                QuorumTlsFiles {
                    cert: PemFile {
                        key: "ssl.quorum.certFile",
                        path: missing.clone(),
                    },
                    ..good.clone()
                },
                "ssl.quorum.certFile",
            ),
            (
                QuorumTlsFiles {
                    key: PemFile {
                        key: "ssl.keyFile",
                        path: missing.clone(),
                    },
                    ..good.clone()
                },
                "ssl.keyFile",
            ),
            (
                QuorumTlsFiles {
                    trust: PemFile {
                        key: "ssl.quorum.trustFile",
                        path: not_pem,
                    },
                    ..good.clone()
                },
                "ssl.quorum.trustFile",
            ),
            // A key that is not the certificate's.
            (
                QuorumTlsFiles {
                    key: files(dir.path(), &ca, &ca, &["localhost"]).key,
                    ..good.clone()
                },
                "ssl.quorum.keyFile",
            ),
        ];
        for (files, key) in cases {
            match peer_tls(&files, true) {
                Err(e) => assert!(e.to_string().starts_with(key), "{key}: {e}"),
                Ok(_) => panic!("{key}: accepted"),
            }
        }
    }
}
