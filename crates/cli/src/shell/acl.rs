//! zkCli's ACL syntax: `scheme:id:perms[,scheme:id:perms...]`, e.g.
//! `world:anyone:cdrwa,digest:user:base64hash=:r`.

use zookeeper_client::{Acl, AuthId, Permission};

/// The outcome of parsing an ACL list: zkCli skips malformed entries and unknown permission
/// letters with a warning instead of rejecting the whole list, and so do we.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAcl {
    pub acls: Vec<Acl>,
    /// One line per skipped entry or permission letter, for the error stream.
    pub warnings: Vec<String>,
}

/// The permission letters in the order zkCli prints them.
const PERMISSION_LETTERS: [(char, Permission); 5] = [
    ('c', Permission::CREATE),
    ('d', Permission::DELETE),
    ('r', Permission::READ),
    ('w', Permission::WRITE),
    ('a', Permission::ADMIN),
];

/// Parses a comma-separated ACL list.
///
/// The id is everything between the first and the last colon, because digest ids
/// (`user:hash`) contain a colon themselves.
pub fn parse_acl(spec: &str) -> ParsedAcl {
    let mut acls = Vec::new();
    let mut warnings = Vec::new();
    for entry in spec.split(',') {
        let (Some(first), Some(last)) = (entry.find(':'), entry.rfind(':')) else {
            warnings.push(format!("{entry} does not have the form scheme:id:perm"));
            continue;
        };
        if first == last {
            warnings.push(format!("{entry} does not have the form scheme:id:perm"));
            continue;
        }
        let scheme = &entry[..first];
        let id = &entry[first + 1..last];
        let permission = parse_permission(&entry[last + 1..], &mut warnings);
        acls.push(Acl::new(permission, AuthId::new(scheme, id)));
    }
    ParsedAcl { acls, warnings }
}

fn parse_permission(letters: &str, warnings: &mut Vec<String>) -> Permission {
    let mut permission = Permission::NONE;
    for letter in letters.chars() {
        match PERMISSION_LETTERS.iter().find(|(l, _)| *l == letter) {
            Some((_, p)) => permission = permission | *p,
            None => warnings.push(format!("Unknown perm type: {letter}")),
        }
    }
    permission
}

/// Formats a permission as zkCli's letters, e.g. `cdrwa` or `r`.
pub fn permission_letters(permission: Permission) -> String {
    PERMISSION_LETTERS
        .iter()
        .filter(|(_, p)| permission.has(*p))
        .map(|(l, _)| *l)
        .collect()
}

/// Formats an ACL list as `getAcl` prints it: two lines per entry.
pub fn format_acls(acls: &[Acl]) -> String {
    acls.iter()
        .map(|acl| {
            format!(
                "'{},'{}\n: {}\n",
                acl.scheme(),
                acl.id(),
                permission_letters(acl.permission())
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_several_entries_with_digest_ids() {
        let parsed =
            parse_acl("world:anyone:r,digest:u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=:cdrwa,ip:10.0.0.1:rw");
        assert!(parsed.warnings.is_empty());
        assert_eq!(
            parsed.acls,
            [
                Acl::new(Permission::READ, AuthId::new("world", "anyone")),
                Acl::new(
                    Permission::ALL,
                    AuthId::new("digest", "u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=")
                ),
                Acl::new(
                    Permission::READ | Permission::WRITE,
                    AuthId::new("ip", "10.0.0.1")
                ),
            ]
        );
    }

    #[test]
    fn auth_scheme_with_empty_id() {
        let parsed = parse_acl("auth::cdrwa");
        assert_eq!(
            parsed.acls,
            [Acl::new(Permission::ALL, AuthId::new("auth", ""))]
        );
    }

    #[test]
    fn malformed_entries_are_skipped_with_a_warning() {
        let parsed = parse_acl("foo,world:anyone,world:anyone:w");
        assert_eq!(parsed.acls, [Acl::new(Permission::WRITE, AuthId::anyone())]);
        assert_eq!(
            parsed.warnings,
            [
                "foo does not have the form scheme:id:perm",
                "world:anyone does not have the form scheme:id:perm"
            ]
        );
    }

    #[test]
    fn unknown_letters_are_dropped_with_a_warning() {
        let parsed = parse_acl("world:anyone:rxz");
        assert_eq!(parsed.acls, [Acl::new(Permission::READ, AuthId::anyone())]);
        assert_eq!(
            parsed.warnings,
            ["Unknown perm type: x", "Unknown perm type: z"]
        );
    }

    #[test]
    fn permission_letters_follow_zkcli_order() {
        assert_eq!(permission_letters(Permission::ALL), "cdrwa");
        assert_eq!(
            permission_letters(Permission::READ | Permission::ADMIN),
            "ra"
        );
        assert_eq!(permission_letters(Permission::NONE), "");
    }

    #[test]
    fn formats_like_get_acl() {
        let acls = [
            Acl::new(Permission::ALL, AuthId::anyone()),
            Acl::new(Permission::READ, AuthId::new("digest", "u:h=")),
        ];
        assert_eq!(
            format_acls(&acls),
            "'world,'anyone\n: cdrwa\n'digest,'u:h=\n: r\n"
        );
    }
}
