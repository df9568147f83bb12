//! Znode path syntax, with the rules of ZooKeeper's `PathUtils.validatePath`.
//!
//! A path is absolute (`/` first), has no trailing `/` (except the root itself), no empty,
//! `.` or `..` segments, and none of the characters ZooKeeper forbids: NUL, U+0001..U+001F,
//! U+007F..U+009F, U+E000..U+F8FF, U+FFF0..U+FFFF, and anything outside the Basic Multilingual
//! Plane (Java sees those as UTF-16 surrogates, U+D800..U+DFFF, which it forbids).

/// Why a path is not a valid znode path. Positions are byte offsets into the path checked
/// (for a sequential create, that is the path with a suffix digit appended).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path length must be > 0")]
    Empty,
    #[error("path must start with / character")]
    NotAbsolute,
    #[error("path must not end with / character")]
    TrailingSlash,
    #[error("null character not allowed @{0}")]
    NulCharacter(usize),
    #[error("empty node name specified @{0}")]
    EmptySegment(usize),
    #[error("relative paths not allowed @{0}")]
    RelativeSegment(usize),
    #[error("invalid character {ch:?} @{at}")]
    InvalidCharacter { at: usize, ch: char },
}

/// Whether ZooKeeper rejects `c` anywhere in a path (NUL is reported separately).
fn is_forbidden_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x01..=0x1f | 0x7f..=0x9f | 0xe000..=0xf8ff | 0xfff0..=0xffff | 0x1_0000..
    )
}

/// Validates a znode path.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(PathError::TrailingSlash);
    }
    // Segments start after each '/'; `offset` tracks the byte offset of the current segment.
    let mut offset = 1;
    for segment in path[1..].split('/') {
        if segment.is_empty() {
            // Only reachable for "//" (a trailing '/' was rejected above).
            return Err(PathError::EmptySegment(offset));
        }
        for (i, c) in segment.char_indices() {
            if c == '\0' {
                return Err(PathError::NulCharacter(offset + i));
            }
            if is_forbidden_char(c) {
                return Err(PathError::InvalidCharacter {
                    at: offset + i,
                    ch: c,
                });
            }
        }
        if segment == "." || segment == ".." {
            return Err(PathError::RelativeSegment(offset + segment.len() - 1));
        }
        offset += segment.len() + 1;
    }
    Ok(())
}

/// Validates the path of a create request. For a sequential node the server appends a
/// 10-digit suffix, so the path is checked as if a digit followed it: `/jobs/` and `/lock-.`
/// are valid sequential paths.
pub fn validate_create_path(path: &str, sequential: bool) -> Result<(), PathError> {
    if sequential {
        validate_path(&format!("{path}1"))
    } else {
        validate_path(path)
    }
}

/// The parent of a valid path; `None` for the root.
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    let cut = path.rfind('/')?;
    Some(if cut == 0 { "/" } else { &path[..cut] })
}

/// The last segment of a valid path; empty for the root.
pub fn basename(path: &str) -> &str {
    path.rfind('/').map_or(path, |cut| &path[cut + 1..])
}

/// `parent` joined with the child name `name`.
pub fn join(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for path in [
            "/",
            "/a",
            "/a/b/c",
            "/zookeeper/quota",
            "/a.b",
            "/...",
            "/.a",
            "/a..",
            "/名字",
            "/with space",
            "/a-b_c:d@e",
        ] {
            assert_eq!(validate_path(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn rejects_missing_or_relative_starts() {
        assert_eq!(validate_path(""), Err(PathError::Empty));
        assert_eq!(validate_path("a/b"), Err(PathError::NotAbsolute));
        assert_eq!(validate_path("./a"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn rejects_trailing_slash_except_root() {
        assert_eq!(validate_path("/a/"), Err(PathError::TrailingSlash));
        assert_eq!(validate_path("//"), Err(PathError::TrailingSlash));
    }

    #[test]
    fn rejects_empty_segments() {
        assert_eq!(validate_path("//a"), Err(PathError::EmptySegment(1)));
        assert_eq!(validate_path("/a//b"), Err(PathError::EmptySegment(3)));
    }

    #[test]
    fn rejects_dot_segments() {
        assert_eq!(validate_path("/."), Err(PathError::RelativeSegment(1)));
        assert_eq!(validate_path("/.."), Err(PathError::RelativeSegment(2)));
        assert_eq!(validate_path("/a/./b"), Err(PathError::RelativeSegment(3)));
        assert_eq!(validate_path("/a/.."), Err(PathError::RelativeSegment(4)));
    }

    #[test]
    fn rejects_nul_and_forbidden_characters() {
        assert_eq!(validate_path("/a\0b"), Err(PathError::NulCharacter(2)));
        for ch in [
            '\u{1}',
            '\u{1f}',
            '\u{7f}',
            '\u{9f}',
            '\u{e000}',
            '\u{f8ff}',
            '\u{fff0}',
            '\u{fffd}',
            '\u{ffff}',
            '\u{1f600}',
        ] {
            let path = format!("/a{ch}");
            assert_eq!(
                validate_path(&path),
                Err(PathError::InvalidCharacter { at: 2, ch }),
                "{ch:?}"
            );
        }
        // Neighbours of the forbidden ranges are fine.
        for ch in [' ', '~', '\u{a0}', '\u{d7ff}', '\u{f900}', '\u{ffef}'] {
            assert_eq!(validate_path(&format!("/a{ch}")), Ok(()), "{ch:?}");
        }
    }

    #[test]
    fn sequential_paths_may_end_in_slash_or_dot() {
        assert_eq!(validate_create_path("/jobs/", true), Ok(()));
        assert_eq!(validate_create_path("/", true), Ok(()));
        assert_eq!(validate_create_path("/a/.", true), Ok(()));
        assert_eq!(
            validate_create_path("/jobs/", false),
            Err(PathError::TrailingSlash)
        );
        assert_eq!(
            validate_create_path("/a//", true),
            Err(PathError::EmptySegment(3))
        );
        assert_eq!(validate_create_path("", true), Err(PathError::NotAbsolute));
    }

    #[test]
    fn parent_and_basename() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b/c"), Some("/a/b"));
        assert_eq!(basename("/"), "");
        assert_eq!(basename("/a"), "a");
        assert_eq!(basename("/a/b/c"), "c");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
