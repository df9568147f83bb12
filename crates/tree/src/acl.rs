//! ACL rules as ZooKeeper 3.8 applies them: validating and expanding the ACL of a create or
//! setACL request (`fixupACL`), and deciding whether a requester holds a permission.
//!
//! Schemes: `world` (only `anyone`), `auth` (replaced by the requester's authenticated
//! identities), `digest` (`user:base64(sha1(user:password))`, matched exactly) and `ip`
//! (an IPv4 address with an optional `/bits` mask; ZooKeeper 3.8 rejects IPv6 here), `x509`
//! (a TLS client certificate's subject, matched exactly, as ZooKeeper's
//! X509AuthenticationProvider).
//! A requester holding any `super` identity passes every check.

use arbor_proto::{Acl, ErrorCode, Id};

const WORLD: &str = "world";
const ANYONE: &str = "anyone";
const AUTH: &str = "auth";
const DIGEST: &str = "digest";
const IP: &str = "ip";
const X509: &str = "x509";
const SUPER: &str = "super";

/// Validates a requested ACL and expands `auth` entries, as a create or setACL does.
/// Duplicates are dropped first (keeping the first occurrence); an empty list, an unknown
/// scheme, a malformed id or an `auth` entry with no authenticated identity is `InvalidAcl`.
pub(crate) fn fixup_acl(requested: &[Acl], auth: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(requested.len());
    for acl in requested {
        if !unique.contains(&acl) {
            unique.push(acl);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut fixed = Vec::with_capacity(unique.len());
    for acl in unique {
        let id = &acl.id;
        if id.scheme == WORLD && id.id == ANYONE {
            fixed.push(acl.clone());
        } else if id.scheme == AUTH {
            let before = fixed.len();
            fixed.extend(
                auth.iter()
                    .filter(|who| is_authenticated_scheme(&who.scheme))
                    .map(|who| Acl {
                        perms: acl.perms,
                        id: who.clone(),
                    }),
            );
            if fixed.len() == before {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if is_valid_id(&id.scheme, &id.id) {
            fixed.push(acl.clone());
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    Ok(fixed)
}

/// Identities that stand for an authenticated user (and so can fill an `auth` ACL entry):
/// everything but the connection's address and the pseudo-schemes.
fn is_authenticated_scheme(scheme: &str) -> bool {
    !matches!(scheme, IP | WORLD | SUPER)
}

/// Whether an explicit (non-`auth`, non-`world:anyone`) ACL id is well formed for its scheme.
fn is_valid_id(scheme: &str, id: &str) -> bool {
    match scheme {
        DIGEST => is_valid_digest_id(id),
        IP => parse_ip_acl(id).is_some(),
        X509 => !id.is_empty(),
        _ => false,
    }
}

/// `user:hash`: exactly two parts when split on `:` (Java's `split`, which drops trailing
/// empty parts, so `user:` is invalid while `:hash` is valid).
fn is_valid_digest_id(id: &str) -> bool {
    let mut parts: Vec<&str> = id.split(':').collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.len() == 2
}

/// Whether `auth` grants `perm` under `acl`.
pub(crate) fn allows(acl: &[Acl], perm: i32, auth: &[Id]) -> bool {
    if acl.is_empty() || auth.iter().any(|who| who.scheme == SUPER) {
        return true;
    }
    acl.iter()
        .filter(|entry| entry.perms & perm != 0)
        .any(|entry| {
            let id = &entry.id;
            if id.scheme == WORLD && id.id == ANYONE {
                return true;
            }
            auth.iter()
                .filter(|who| who.scheme == id.scheme)
                .any(|who| match id.scheme.as_str() {
                    DIGEST | X509 => who.id == id.id,
                    IP => ip_matches(&who.id, &id.id),
                    _ => false,
                })
        })
}

/// An `ip` ACL id: address and mask length.
fn parse_ip_acl(expr: &str) -> Option<(u32, u32)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (expr, None),
    };
    let addr = parse_ipv4(addr)?;
    let bits = match bits {
        None => 32,
        Some(bits) => u32::try_from(java_parse_int(bits)?)
            .ok()
            .filter(|b| *b <= 32)?,
    };
    Some((addr, bits))
}

fn ip_matches(remote: &str, expr: &str) -> bool {
    let Some((acl_addr, bits)) = parse_ip_acl(expr) else {
        return false;
    };
    let Some(remote) = parse_ipv4(remote) else {
        return false;
    };
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    remote & mask == acl_addr & mask
}

/// Four dot-separated integers in 0..=255, each parsed like Java's `Integer.parseInt` (so
/// `01` and `+1` are accepted, as ZooKeeper accepts them).
fn parse_ipv4(addr: &str) -> Option<u32> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    parts.iter().try_fold(0u32, |acc, part| {
        let octet = u8::try_from(java_parse_int(part)?).ok()?;
        Some(acc << 8 | u32::from(octet))
    })
}

/// `Integer.parseInt` for ASCII input: optional sign, at least one digit, fits an i32.
fn java_parse_int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_proto::perms;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }

    #[test]
    fn fixup_accepts_and_rejects_like_zookeeper() {
        // Each case was checked against ZooKeeper 3.8.0.
        let valid = [
            ("digest", "user:hash"),
            ("digest", ":hash"),
            ("ip", "10.0.0.0/8"),
            ("ip", "01.2.3.4"),
            ("ip", "1.2.3.4/0"),
            ("world", "anyone"),
        ];
        for (scheme, id) in valid {
            assert!(
                fixup_acl(&[acl(31, scheme, id)], &[]).is_ok(),
                "{scheme}:{id}"
            );
        }
        let invalid = [
            ("digest", "user"),
            ("digest", "user:"),
            ("digest", "u:h:x"),
            ("ip", "10.0.0.0/33"),
            ("ip", "::1"),
            ("ip", "fe80::/10"),
            ("ip", "1.2.3"),
            ("ip", "1.2.3.4/"),
            ("ip", "1.2.3.256"),
            ("ip", "1.2.3.4/ 8"),
            ("world", "foo"),
            ("super", "x"),
            ("auth", ""),
            ("foo", "bar"),
        ];
        for (scheme, id) in invalid {
            assert_eq!(
                fixup_acl(&[acl(31, scheme, id)], &[]),
                Err(ErrorCode::InvalidAcl),
                "{scheme}:{id}"
            );
        }
        assert_eq!(fixup_acl(&[], &[]), Err(ErrorCode::InvalidAcl));
    }

    #[test]
    fn fixup_drops_duplicates_and_keeps_perms_verbatim() {
        let requested = [
            acl(31, "world", "anyone"),
            acl(31, "world", "anyone"),
            acl(1, "world", "anyone"),
            acl(99, "digest", "a:b"),
        ];
        let fixed = fixup_acl(&requested, &[]).unwrap();
        assert_eq!(
            fixed,
            vec![
                acl(31, "world", "anyone"),
                acl(1, "world", "anyone"),
                acl(99, "digest", "a:b")
            ]
        );
    }

    #[test]
    fn auth_entries_expand_to_authenticated_identities() {
        let who = [
            Id::new("ip", "127.0.0.1"),
            Id::new("digest", "alice:x"),
            Id::new("super", ""),
            Id::new("digest", "bob:y"),
        ];
        let fixed = fixup_acl(&[acl(31, "auth", ""), acl(1, "auth", "ignored")], &who).unwrap();
        assert_eq!(
            fixed,
            vec![
                acl(31, "digest", "alice:x"),
                acl(31, "digest", "bob:y"),
                acl(1, "digest", "alice:x"),
                acl(1, "digest", "bob:y"),
            ]
        );
        let ip_only = [Id::new("ip", "127.0.0.1")];
        assert_eq!(
            fixup_acl(&[acl(31, "auth", "")], &ip_only),
            Err(ErrorCode::InvalidAcl)
        );
    }

    #[test]
    fn permission_checks() {
        let alice = Id::new("digest", "alice:x");
        let ip = Id::new("ip", "10.1.2.3");
        let list = [
            acl(perms::READ, "world", "anyone"),
            acl(perms::WRITE, "digest", "alice:x"),
            acl(perms::DELETE, "ip", "10.0.0.0/8"),
            acl(perms::ADMIN, "ip", "10.1.2.4"),
        ];
        assert!(allows(&list, perms::READ, &[]));
        assert!(!allows(&list, perms::WRITE, &[]));
        assert!(allows(&list, perms::WRITE, std::slice::from_ref(&alice)));
        assert!(!allows(
            &list,
            perms::WRITE,
            &[Id::new("digest", "alice:y")]
        ));
        assert!(!allows(&list, perms::WRITE, &[Id::new("ip", "alice:x")]));
        assert!(allows(&list, perms::DELETE, std::slice::from_ref(&ip)));
        assert!(!allows(&list, perms::DELETE, &[Id::new("ip", "11.1.2.3")]));
        assert!(!allows(&list, perms::DELETE, &[Id::new("ip", "::1")]));
        assert!(!allows(&list, perms::ADMIN, &[ip]));
        assert!(allows(&list, perms::ADMIN, &[Id::new("ip", "10.1.2.4")]));
        assert!(!allows(&list, perms::CREATE, &[alice]));
        assert!(allows(&list, perms::CREATE, &[Id::new("super", "")]));
        assert!(allows(&[], perms::ADMIN, &[]), "an empty ACL allows all");
    }

    #[test]
    fn ip_masks() {
        assert!(ip_matches("192.168.1.77", "192.168.1.0/24"));
        assert!(!ip_matches("192.168.2.77", "192.168.1.0/24"));
        assert!(ip_matches("1.2.3.4", "9.9.9.9/0"));
        assert!(ip_matches("10.0.0.1", "10.0.0.1"));
        assert!(!ip_matches("10.0.0.2", "10.0.0.1"));
        assert!(ip_matches("10.0.0.129", "10.0.0.128/25"));
        assert!(!ip_matches("10.0.0.127", "10.0.0.128/25"));
        assert!(!ip_matches("10.0.0.1", "10.0.0.1/40"));
        assert!(!ip_matches("junk", "10.0.0.1"));
    }

    #[test]
    fn java_int_parsing() {
        assert_eq!(java_parse_int("+7"), Some(7));
        assert_eq!(java_parse_int("-0"), Some(0));
        assert_eq!(java_parse_int("007"), Some(7));
        assert_eq!(java_parse_int(""), None);
        assert_eq!(java_parse_int("+"), None);
        assert_eq!(java_parse_int(" 8"), None);
        assert_eq!(java_parse_int("99999999999"), None);
    }

    #[test]
    fn x509_ids_match_the_certificate_subject_exactly() {
        let subject = "CN=client,O=Example";
        let granted = [acl(31, "x509", subject)];
        assert!(fixup_acl(&granted, &[]).is_ok());
        assert!(fixup_acl(&[acl(31, "x509", "")], &[]).is_err());
        let holder = [Id::new("ip", "127.0.0.1"), Id::new("x509", subject)];
        assert!(allows(&granted, 1, &holder));
        assert!(!allows(&granted, 1, &[Id::new("x509", "CN=client")]));
        assert!(!allows(&granted, 1, &[Id::new("digest", subject)]));
        // `auth` expands to the certificate identity like any authenticated one.
        let expanded = fixup_acl(&[acl(31, "auth", "")], &holder).unwrap();
        assert_eq!(expanded, vec![acl(31, "x509", subject)]);
    }
}
