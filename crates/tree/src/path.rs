//! Path syntax, checked here as ZooKeeper's server checks it (`PathUtils.validatePath`), so the
//! tree is safe whatever the caller validated.

/// Paths no client may delete.
const UNDELETABLE: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// Whether `path` is a valid absolute znode path: starts with `/`, no empty, `.` or `..`
/// components, no trailing `/` (except the root itself), and no character ZooKeeper forbids.
pub(crate) fn is_valid(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    if !rest.is_ascii() {
        return rest
            .split('/')
            .all(|name| is_valid_name(name.as_bytes()) && !name.chars().any(is_forbidden_char));
    }
    // ASCII (nearly every path): one pass over the bytes; this runs on every write.
    rest.as_bytes()
        .split(|&b| b == b'/')
        .all(|name| is_valid_name(name) && !name.iter().any(|&b| is_forbidden_char(b.into())))
}

/// Not empty, `.` or `..`.
fn is_valid_name(name: &[u8]) -> bool {
    !matches!(name, b"" | b"." | b"..")
}

/// ZooKeeper checks UTF-16 code units; characters outside the BMP are surrogate pairs there,
/// which fall in a forbidden range.
fn is_forbidden_char(c: char) -> bool {
    matches!(u32::from(c),
        0x0000..=0x001F | 0x007F..=0x009F | 0xD800..=0xF8FF | 0xFFF0..)
}

/// Splits at the last `/`: `("/a", "b")` for `/a/b`, `("", "a")` for `/a`. `None` if there is
/// no `/` or the path holds a NUL (ZooKeeper rejects both before anything else).
pub(crate) fn split_parent(path: &str) -> Option<(&str, &str)> {
    if path.contains('\0') {
        return None;
    }
    path.rsplit_once('/')
}

/// The parent path as ZooKeeper names it in triggers (`/` for the root).
pub(crate) fn display_parent(parent: &str) -> &str {
    if parent.is_empty() {
        "/"
    } else {
        parent
    }
}

pub(crate) fn is_undeletable(path: &str) -> bool {
    UNDELETABLE.contains(&path)
}

/// Number of UTF-16 code units, which is what ZooKeeper's data-size statistic counts.
pub(crate) fn java_len(s: &str) -> i64 {
    s.chars().map(|c| c.len_utf16() as i64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_matches_zookeeper_rules() {
        for ok in [
            "/", "/a", "/a/b", "/a/...", "/a/.b", "/a/b.", "/ä/中", "/a b",
        ] {
            assert!(is_valid(ok), "{ok:?}");
        }
        for bad in [
            "",
            "a",
            "a/b",
            "/a/",
            "//",
            "/a//b",
            "/a/./b",
            "/a/..",
            "/.",
            "/a\0b",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{e000}",
            "/\u{fff0}",
            "/\u{1F600}",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// The ASCII fast path agrees with the rule applied character by character.
        #[test]
        fn fast_validation_agrees_with_the_rule(path in "/?[a-c./\\x00-\\x1f\\x7f-\\u{a0}]{0,12}") {
            let by_chars = path.strip_prefix('/').is_some_and(|rest| {
                rest.is_empty()
                    || rest.split('/').all(|name| {
                        !name.is_empty()
                            && name != "."
                            && name != ".."
                            && !name.chars().any(is_forbidden_char)
                    })
            });
            proptest::prop_assert_eq!(is_valid(&path), by_chars);
        }
    }

    #[test]
    fn parent_split() {
        assert_eq!(split_parent("/a/b"), Some(("/a", "b")));
        assert_eq!(split_parent("/a"), Some(("", "a")));
        assert_eq!(split_parent("/"), Some(("", "")));
        assert_eq!(split_parent("abc"), None);
        assert_eq!(split_parent("/a\0"), None);
        assert_eq!(display_parent(""), "/");
        assert_eq!(display_parent("/a"), "/a");
    }

    #[test]
    fn java_length_counts_utf16_units() {
        assert_eq!(java_len("/abc"), 4);
        assert_eq!(java_len("/中"), 2);
    }
}
