//! Who may do what on the admin listener: bearer tokens from a file (`admin.tokensFile`), each
//! with a role, checked before a request reaches a command or a module API.
//!
//! The file has one token per line, `<name> <role> <token>`, where role is `read`, `write` or
//! `admin` and the token is the secret itself or `sha256:<hex>` of it (so the file need not
//! hold secrets); `#` starts a comment. Without a tokens file the listener is open, as
//! ZooKeeper's admin server is. `/healthz`, `/readyz` and `/metrics` are always open (probes and
//! scrapers carry no token).

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// GET on commands and module APIs.
    Read,
    /// Also PUT, POST, DELETE on module APIs.
    Write,
    /// Also the commands that change server state (`srst`, `crst`).
    Admin,
}

impl Role {
    fn parse(text: &str) -> Option<Role> {
        match text {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        })
    }
}

/// A line of the tokens file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub struct TokensError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    name: String,
    role: Role,
}

/// The tokens of a tokens file, by the SHA-256 of the secret (a lookup by digest does not
/// compare secrets byte by byte).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], Grant>,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn parse_hex_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Tokens {
    /// Parses a tokens file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Tokens, TokensError> {
        let mut tokens = Tokens::default();
        let mut names = std::collections::HashSet::new();
        for (index, raw) in text.lines().enumerate() {
            let error = |message: String| TokensError {
                origin: origin.to_owned(),
                line: index + 1,
                message,
            };
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, role, secret] = fields.as_slice() else {
                return Err(error(format!(
                    "expected `<name> <role> <token>`, found {} field(s)",
                    fields.len()
                )));
            };
            let role = Role::parse(role)
                .ok_or_else(|| error(format!("role must be read, write or admin, got {role:?}")))?;
            let key = match secret.strip_prefix("sha256:") {
                Some(hex) => parse_hex_digest(hex)
                    .ok_or_else(|| error("sha256: needs 64 hex digits".to_owned()))?,
                None if secret.len() < 16 => {
                    return Err(error("a token must be at least 16 characters".to_owned()))
                }
                None => digest(secret),
            };
            if !names.insert((*name).to_owned()) {
                return Err(error(format!("token name {name:?} is used twice")));
            }
            let grant = Grant {
                name: (*name).to_owned(),
                role,
            };
            if tokens.by_digest.insert(key, grant).is_some() {
                return Err(error(format!(
                    "the token of {name:?} is also another name's"
                )));
            }
        }
        Ok(tokens)
    }

    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

/// Who made a request, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no token, not a bearer token, or an unknown one.
    Unauthenticated(&'static str),
    /// 403: the token's role is below what the request needs.
    Forbidden { principal: Principal, needed: Role },
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Unauthenticated(_) => 401,
            Refusal::Forbidden { .. } => 403,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Unauthenticated(why) => why.to_string(),
            Refusal::Forbidden { principal, needed } => format!(
                "token {:?} has role {}; this request needs {needed}",
                principal.name, principal.role
            ),
        }
    }
}

/// The role a module API request needs: reads (GET, HEAD) need `read`, other methods `write`.
/// (Commands need `read`, or `admin` when they change server state; health, readiness and
/// metrics need nothing.)
pub fn needed_role(method: &str) -> Option<Role> {
    Some(match method {
        "GET" | "HEAD" => Role::Read,
        _ => Role::Write,
    })
}

/// Checks `authorization` (the header's value) against `tokens` for a request needing
/// `needed`. Without tokens everything is allowed, anonymously.
pub fn authorize(
    tokens: Option<&Tokens>,
    authorization: Option<&str>,
    needed: Option<Role>,
) -> Result<Option<Principal>, Refusal> {
    let Some(tokens) = tokens else {
        return Ok(None);
    };
    let Some(needed) = needed else {
        // Open paths (probes, scrapes) ignore whatever token comes with them.
        return Ok(None);
    };
    let presented = authorization.map(|value| {
        let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
        (scheme.eq_ignore_ascii_case("bearer")).then(|| credentials.trim())
    });
    let principal = match presented {
        Some(Some(secret)) if !secret.is_empty() => {
            tokens
                .by_digest
                .get(&digest(secret))
                .map(|grant| Principal {
                    name: grant.name.clone(),
                    role: grant.role,
                })
        }
        Some(_) => {
            return Err(Refusal::Unauthenticated(
                "expected `Authorization: Bearer <token>`",
            ))
        }
        None => None,
    };
    match principal {
        Some(p) if p.role < needed => Err(Refusal::Forbidden {
            principal: p,
            needed,
        }),
        Some(p) => Ok(Some(p)),
        None if presented.is_some() => Err(Refusal::Unauthenticated("unknown token")),
        None => Err(Refusal::Unauthenticated(
            "this API needs a token: `Authorization: Bearer <token>`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# name role token
reader  read  reader-secret-0123456789
ci      write sha256:8c0e2fb5b2bc8c6a2e0ba6f7b96d2e5f3b6c1f84a1f5f6f2a7a8b9c0d1e2f3a4
ops     admin ops-secret-0123456789   # the on-call team
";

    fn tokens() -> Tokens {
        Tokens::parse(FILE, "tokens").unwrap()
    }

    fn bearer(secret: &str) -> String {
        format!("Bearer {secret}")
    }

    #[test]
    fn parses_plain_and_hashed_tokens() {
        let t = tokens();
        assert_eq!(t.len(), 3);
        let hashed = Tokens::parse(
            &format!("w write sha256:{}\n", hex(&digest("a-long-enough-secret"))),
            "t",
        )
        .unwrap();
        let p = authorize(
            Some(&hashed),
            Some(&bearer("a-long-enough-secret")),
            Some(Role::Write),
        );
        assert_eq!(p.unwrap().unwrap().name, "w");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn bad_lines_name_the_line() {
        let cases = [
            ("a read\n", "expected `<name> <role> <token>`"),
            (
                "a root secret-secret-secret\n",
                "role must be read, write or admin",
            ),
            ("a read short\n", "at least 16 characters"),
            ("a read sha256:abc\n", "64 hex digits"),
            (
                "a read secret-secret-secret\na write other-secret-secret\n",
                "used twice",
            ),
            (
                "a read secret-secret-secret\nb write secret-secret-secret\n",
                "also another name's",
            ),
        ];
        for (text, expected) in cases {
            let err = Tokens::parse(&format!("# header\n{text}"), "tokens.txt").unwrap_err();
            assert!(err.to_string().contains(expected), "{text:?}: {err}");
            assert!(err.to_string().starts_with("tokens.txt:"), "{err}");
        }
        assert!(Tokens::parse("# nothing\n\n", "t").unwrap().is_empty());
    }

    #[test]
    fn api_roles_follow_the_method() {
        assert_eq!(needed_role("GET"), Some(Role::Read));
        assert_eq!(needed_role("HEAD"), Some(Role::Read));
        assert_eq!(needed_role("PUT"), Some(Role::Write));
        assert_eq!(needed_role("POST"), Some(Role::Write));
        assert_eq!(needed_role("DELETE"), Some(Role::Write));
    }

    #[test]
    fn authorization_outcomes() {
        let t = tokens();
        let read = bearer("reader-secret-0123456789");
        let admin = bearer("ops-secret-0123456789");
        // Open without a tokens file.
        assert_eq!(authorize(None, None, Some(Role::Admin)), Ok(None));
        // 401: nothing, another scheme, an unknown token.
        for header in [
            None,
            Some("Basic dXNlcjpwdw=="),
            Some("Bearer nope-nope-nope-nope"),
        ] {
            let refusal = authorize(Some(&t), header, Some(Role::Read)).unwrap_err();
            assert_eq!(refusal.status(), 401, "{header:?}");
        }
        // 403: a reader writing.
        let refusal = authorize(Some(&t), Some(&read), Some(Role::Write)).unwrap_err();
        assert_eq!(refusal.status(), 403);
        assert!(
            refusal.message().contains("\"reader\" has role read"),
            "{}",
            refusal.message()
        );
        // Allowed, with the principal.
        let p = authorize(Some(&t), Some(&read), Some(Role::Read))
            .unwrap()
            .unwrap();
        assert_eq!((p.name.as_str(), p.role), ("reader", Role::Read));
        let p = authorize(Some(&t), Some(&admin), Some(Role::Write))
            .unwrap()
            .unwrap();
        assert_eq!(p.role, Role::Admin);
        // Open paths ignore tokens, right or wrong.
        assert_eq!(authorize(Some(&t), None, None), Ok(None));
        assert_eq!(
            authorize(Some(&t), Some("Bearer wrong-wrong-wrong-wrong"), None),
            Ok(None)
        );
        // The scheme is case-insensitive.
        assert!(authorize(
            Some(&t),
            Some("bearer reader-secret-0123456789"),
            Some(Role::Read)
        )
        .unwrap()
        .is_some());
    }
}
