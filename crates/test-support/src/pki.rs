//! Test certificate authorities (rcgen): a CA and the leaf certificates it signs, as PEM text
//! and files, for the TLS tests of the client port and of the quorum port.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

pub use rcgen::DnType;

/// What a leaf certificate is for (its extended key usages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A TLS server (serverAuth).
    Server,
    /// A TLS client (clientAuth).
    Client,
    /// An ensemble member: server on its quorum port, client on its links (both usages).
    Peer,
}

/// A self-signed certificate authority.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A signed leaf certificate and its private key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Where [`Leaf::write`] put a certificate and its key.
#[derive(Debug, Clone)]
pub struct LeafFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA with common name `name` (and a fresh key).
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            cert: params.self_signed(&key).expect("self-sign the CA"),
            key,
        }
    }

    /// The CA certificate (a trust file's content).
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// Writes the CA certificate to `dir/name` and returns the path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        write_file(dir, name, &self.pem())
    }

    /// A leaf with `subject`; servers and peers are named `localhost` and `127.0.0.1`.
    pub fn leaf(&self, subject: &[(DnType, &str)], usage: Usage) -> Leaf {
        let names: &[&str] = match usage {
            Usage::Client => &[],
            Usage::Server | Usage::Peer => &["localhost", "127.0.0.1"],
        };
        self.leaf_named(subject, usage, names)
    }

    /// A leaf with `subject` whose subjectAltName holds `names` (IP addresses where they
    /// parse as one, DNS names otherwise).
    pub fn leaf_named(&self, subject: &[(DnType, &str)], usage: Usage, names: &[&str]) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("leaf parameters");
        for (kind, value) in subject {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*name).try_into().expect("a DNS name")),
            })
            .collect();
        params.extended_key_usages = match usage {
            Usage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Usage::Peer => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        };
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign the leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Leaf {
    /// Writes `dir/<stem>.pem` (certificate) and `dir/<stem>.key`.
    pub fn write(&self, dir: &Path, stem: &str) -> LeafFiles {
        LeafFiles {
            cert: write_file(dir, &format!("{stem}.pem"), &self.cert_pem),
            key: write_file(dir, &format!("{stem}.key"), &self.key_pem),
        }
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}
