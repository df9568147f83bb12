//! Unified diffs between two versions of a document. Pure.

/// A unified diff (3 lines of context) from `old` to `new`, with `---`/`+++` headers naming
/// them; empty when they are equal. Bytes that are not UTF-8 are shown lossily.
pub fn unified(old_label: &str, old: &[u8], new_label: &str, new: &[u8]) -> String {
    if old == new {
        return String::new();
    }
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header(old_label, new_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changed_lines_with_headers() {
        let diff = unified("v1", b"a: 1\nb: 2\nc: 3\n", "v2", b"a: 1\nb: 20\nc: 3\n");
        assert_eq!(
            diff,
            "--- v1\n+++ v2\n@@ -1,3 +1,3 @@\n a: 1\n-b: 2\n+b: 20\n c: 3\n"
        );
    }

    #[test]
    fn equal_documents_have_an_empty_diff() {
        assert_eq!(unified("a", b"x\n", "b", b"x\n"), "");
    }

    #[test]
    fn creation_and_a_missing_final_newline_show() {
        let diff = unified("(none)", b"", "v1", b"a");
        assert!(diff.contains("+a"), "{diff}");
        assert!(diff.contains("No newline at end of file"), "{diff}");
    }
}
