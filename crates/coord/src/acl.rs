//! ACLs a module gives the nodes it creates, and the digest credential a module authenticates
//! with, as ZooKeeper defines them (so they mean the same on Arbor and on Apache ZooKeeper).

use std::fmt;

use base64::Engine;
use sha1::{Digest, Sha1};

/// ZooKeeper's permission bits (`ZooDefs.Perms`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perms(u8);

impl Perms {
    /// getData, getChildren, exists.
    pub const READ: Perms = Perms(1);
    /// setData.
    pub const WRITE: Perms = Perms(2);
    /// Create a child.
    pub const CREATE: Perms = Perms(4);
    /// Delete a child.
    pub const DELETE: Perms = Perms(8);
    /// setACL.
    pub const ADMIN: Perms = Perms(16);
    pub const ALL: Perms = Perms(31);

    /// The bits as the protocol carries them.
    pub fn bits(self) -> i32 {
        i32::from(self.0)
    }

    /// Permissions from protocol bits; bits ZooKeeper does not define are dropped.
    pub fn from_bits(bits: i32) -> Perms {
        Perms((bits & 31) as u8)
    }

    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }
}

impl fmt::Debug for Perms {
    /// zkCli's spelling: `cdrwa` letters for the bits held.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (perm, letter) in [
            (Perms::CREATE, 'c'),
            (Perms::DELETE, 'd'),
            (Perms::READ, 'r'),
            (Perms::WRITE, 'w'),
            (Perms::ADMIN, 'a'),
        ] {
            if self.contains(perm) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// One ACL entry: `scheme:id` may do `perms`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AclEntry {
    pub perms: Perms,
    pub scheme: String,
    pub id: String,
}

impl fmt::Display for AclEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{:?}", self.scheme, self.id, self.perms)
    }
}

/// A node's ACL: the entries in the order they were given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Acl(Vec<AclEntry>);

impl Acl {
    pub fn new(entries: Vec<AclEntry>) -> Acl {
        Acl(entries)
    }

    /// `world:anyone:cdrwa`: ZooKeeper's `OPEN_ACL_UNSAFE`, what every client may do anything with.
    pub fn open() -> Acl {
        Acl(vec![AclEntry {
            perms: Perms::ALL,
            scheme: "world".into(),
            id: "anyone".into(),
        }])
    }

    /// `world:anyone:r` plus `digest:<owner>:cdrwa`: every client may read and watch, only a
    /// session authenticated as `owner` may change, create or delete children, or change the ACL.
    ///
    /// The owner is named explicitly (a `digest` entry) rather than with the `auth` scheme
    /// (`CREATOR_ALL_ACL`): `auth` expands to *every* authenticated identity of the creating
    /// session (a TLS client certificate's `x509` identity too), so which identities could write
    /// would depend on how the creating session happened to connect.
    pub fn readable_by_anyone_owned_by(owner: &DigestCredential) -> Acl {
        Acl(vec![
            AclEntry {
                perms: Perms::READ,
                scheme: "world".into(),
                id: "anyone".into(),
            },
            AclEntry {
                perms: Perms::ALL,
                scheme: "digest".into(),
                id: owner.digest_id(),
            },
        ])
    }

    pub fn entries(&self) -> &[AclEntry] {
        &self.0
    }

    /// Whether the entries are the same, whatever their order (the server keeps them in the
    /// order given, but ACLs mean the same in any order).
    pub fn same_entries(&self, other: &Acl) -> bool {
        self.0.len() == other.0.len() && self.0.iter().all(|entry| other.0.contains(entry))
    }

    /// Bytes the ACL takes in a create request (jute: count, then perms + scheme + id each).
    pub fn encoded_len(&self) -> usize {
        4 + self
            .0
            .iter()
            .map(|entry| 4 + 4 + entry.scheme.len() + 4 + entry.id.len())
            .sum::<usize>()
    }
}

impl Default for Acl {
    /// [`Acl::open`], what the modules used before they could be given credentials.
    fn default() -> Acl {
        Acl::open()
    }
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

/// A `digest` identity (`addauth digest user:password`). The password is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestCredential {
    user: String,
    password: String,
}

/// Why a `user:password` text is not a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("expected user:password")]
    MissingColon,
    #[error("the user name is empty")]
    EmptyUser,
    #[error("the password is empty")]
    EmptyPassword,
    #[error("unknown authentication scheme {0:?} (only digest is supported)")]
    UnknownScheme(String),
}

impl DigestCredential {
    /// `user:password` (the password may contain `:`, as in ZooKeeper).
    pub fn parse(user_password: &str) -> Result<DigestCredential, CredentialError> {
        let (user, password) = user_password
            .split_once(':')
            .ok_or(CredentialError::MissingColon)?;
        if user.is_empty() {
            return Err(CredentialError::EmptyUser);
        }
        if password.is_empty() {
            return Err(CredentialError::EmptyPassword);
        }
        Ok(DigestCredential {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    /// `digest:user:password`, the scheme named first (as a configuration value says it).
    pub fn parse_with_scheme(text: &str) -> Result<DigestCredential, CredentialError> {
        match text.split_once(':') {
            Some(("digest", rest)) => DigestCredential::parse(rest),
            Some((scheme, _)) => Err(CredentialError::UnknownScheme(scheme.to_string())),
            None => Err(CredentialError::MissingColon),
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// What `addauth digest` sends: `user:password`.
    pub fn auth_bytes(&self) -> Vec<u8> {
        format!("{}:{}", self.user, self.password).into_bytes()
    }

    /// The id a `digest` ACL entry names: `user:base64(sha1(user:password))`
    /// (ZooKeeper's `DigestAuthenticationProvider.generateDigest`).
    pub fn digest_id(&self) -> String {
        let hash = Sha1::digest(self.auth_bytes());
        format!(
            "{}:{}",
            self.user,
            base64::engine::general_purpose::STANDARD.encode(hash)
        )
    }
}

impl fmt::Debug for DigestCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DigestCredential({}:<redacted>)", self.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ids_match_zookeeper() {
        // The same value arbor-tree's credential test takes from ZooKeeper 3.8.
        let credential = DigestCredential::parse("alice:secret").unwrap();
        assert_eq!(credential.digest_id(), "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=");
        assert_eq!(credential.auth_bytes(), b"alice:secret");
    }

    #[test]
    fn credentials_parse_and_never_print_the_password() {
        let credential = DigestCredential::parse("ci:pa:ss").unwrap();
        assert_eq!(credential.user(), "ci");
        assert_eq!(credential.auth_bytes(), b"ci:pa:ss");
        assert!(!format!("{credential:?}").contains("pa:ss"));
        assert_eq!(
            DigestCredential::parse("nocolon"),
            Err(CredentialError::MissingColon)
        );
        assert_eq!(
            DigestCredential::parse(":pw"),
            Err(CredentialError::EmptyUser)
        );
        assert_eq!(
            DigestCredential::parse("u:"),
            Err(CredentialError::EmptyPassword)
        );
        assert_eq!(
            DigestCredential::parse_with_scheme("digest:ci:pw").unwrap(),
            DigestCredential::parse("ci:pw").unwrap()
        );
        assert_eq!(
            DigestCredential::parse_with_scheme("sasl:ci:pw"),
            Err(CredentialError::UnknownScheme("sasl".into()))
        );
    }

    #[test]
    fn protected_acl_reads_for_anyone_and_writes_for_the_owner() {
        let owner = DigestCredential::parse("alice:secret").unwrap();
        let acl = Acl::readable_by_anyone_owned_by(&owner);
        assert_eq!(
            acl.to_string(),
            "world:anyone:r,digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa"
        );
        let reversed = Acl::new(acl.entries().iter().rev().cloned().collect());
        assert!(acl.same_entries(&reversed));
        assert!(!acl.same_entries(&Acl::open()));
        assert_eq!(Acl::open().to_string(), "world:anyone:cdrwa");
        // 4 (count) + 4 (perms) + 4 + "world" + 4 + "anyone"
        assert_eq!(Acl::open().encoded_len(), 27);
    }
}
