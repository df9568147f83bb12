//! Finding the workspace and the built `arbor` binary.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The Cargo workspace root: the nearest ancestor of the running crate's `CARGO_MANIFEST_DIR`
/// (set by cargo for tests) whose Cargo.toml has a `[workspace]` table, else the root this crate
/// was built in.
pub fn workspace_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .and_then(|dir| find_workspace_root(Path::new(&dir)))
        .or_else(|| find_workspace_root(Path::new(env!("CARGO_MANIFEST_DIR"))))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

fn find_workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest
            .lines()
            .any(|line| line.trim() == "[workspace]")
            .then(|| dir.to_path_buf())
    })
}

/// A tool from the project's `shared/tools`: beside the checkout (`<workspace>/../shared`, as in
/// CI and the main checkout) or beside a worktree's parent (`<workspace>/../../shared`).
pub fn shared_tool(name: &str) -> PathBuf {
    let root = workspace_root();
    let candidates = [
        root.join("../shared/tools").join(name),
        root.join("../../shared/tools").join(name),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .unwrap_or(&candidates[0])
        .clone()
}

/// The `arbor` binary to test: `$ARBOR_BIN`, else `$CARGO_TARGET_DIR/debug/arbor`, else
/// `<workspace>/target/debug/arbor`. The file may not exist yet.
pub fn arbor_bin() -> PathBuf {
    arbor_bin_from(
        std::env::var_os("ARBOR_BIN"),
        std::env::var_os("CARGO_TARGET_DIR"),
        &workspace_root(),
    )
}

fn arbor_bin_from(
    arbor_bin: Option<OsString>,
    target_dir: Option<OsString>,
    root: &Path,
) -> PathBuf {
    if let Some(bin) = arbor_bin.filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let target = match target_dir.filter(|t| !t.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    target.join("debug").join("arbor")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_has_the_workspace_manifest() {
        let root = workspace_root();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
        assert!(
            manifest.contains("crates/test-support"),
            "{}",
            root.display()
        );
    }

    #[test]
    fn finds_root_from_a_nested_directory() {
        let root = workspace_root();
        let nested = root.join("crates/test-support/src");
        assert_eq!(find_workspace_root(&nested), Some(root));
        assert_eq!(find_workspace_root(Path::new("/")), None);
    }

    #[test]
    fn arbor_bin_precedence() {
        let root = Path::new("/ws");
        assert_eq!(
            arbor_bin_from(Some("/opt/arbor".into()), Some("/t".into()), root),
            PathBuf::from("/opt/arbor")
        );
        assert_eq!(
            arbor_bin_from(None, Some("/t".into()), root),
            PathBuf::from("/t/debug/arbor")
        );
        assert_eq!(
            arbor_bin_from(None, Some("rel".into()), root),
            PathBuf::from("/ws/rel/debug/arbor")
        );
        assert_eq!(
            arbor_bin_from(Some("".into()), None, root),
            PathBuf::from("/ws/target/debug/arbor")
        );
    }
}
