//! The tokens file, kept current: it is read at start (an unusable file stops the server) and
//! read again when its modification time changes, so tokens can be rotated without a restart.
//! A changed file that does not parse is refused (logged) and the previous tokens stay.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;

use super::access::Tokens;

pub struct TokensFile {
    path: PathBuf,
    state: Mutex<Loaded>,
}

struct Loaded {
    modified: Option<SystemTime>,
    tokens: Arc<Tokens>,
}

fn read(path: &Path) -> Result<(Option<SystemTime>, Tokens), String> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the tokens file {}: {e}", path.display()))?;
    let tokens = Tokens::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    Ok((modified, tokens))
}

impl TokensFile {
    /// Reads the file; the error names the file (and the line).
    pub fn load(path: &Path) -> Result<TokensFile, String> {
        let (modified, tokens) = read(path)?;
        if tokens.is_empty() {
            return Err(format!(
                "the tokens file {} holds no token (remove admin.tokensFile for an open API)",
                path.display()
            ));
        }
        Ok(TokensFile {
            path: path.to_path_buf(),
            state: Mutex::new(Loaded {
                modified,
                tokens: Arc::new(tokens),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tokens now, re-read first if the file changed since the last read.
    pub fn current(&self) -> Arc<Tokens> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let mut state = self.state.lock();
        if modified.is_some() && modified != state.modified {
            match read(&self.path) {
                Ok((modified, tokens)) if !tokens.is_empty() => {
                    tracing::info!(
                        "reloaded {} tokens from {}",
                        tokens.len(),
                        self.path.display()
                    );
                    *state = Loaded {
                        modified,
                        tokens: Arc::new(tokens),
                    };
                }
                Ok((modified, _)) => {
                    tracing::error!(
                        "{} now holds no token; keeping the previous tokens",
                        self.path.display()
                    );
                    state.modified = modified;
                }
                Err(e) => {
                    tracing::error!("{e}; keeping the previous tokens");
                    state.modified = modified;
                }
            }
        }
        state.tokens.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::access::{authorize, Role};

    fn allowed(file: &TokensFile, secret: &str) -> bool {
        authorize(
            Some(&file.current()),
            Some(&format!("Bearer {secret}")),
            Some(Role::Read),
        )
        .is_ok()
    }

    fn write_later(path: &Path, text: &str, after: SystemTime) {
        std::fs::write(path, text).unwrap();
        // Make sure the modification time moves even on coarse-grained file systems.
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(after + std::time::Duration::from_secs(1))
            .unwrap();
    }

    #[test]
    fn reloads_on_change_and_keeps_the_old_tokens_on_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "a read first-secret-0123456789\n").unwrap();
        let file = TokensFile::load(&path).unwrap();
        assert!(allowed(&file, "first-secret-0123456789"));

        let t0 = std::fs::metadata(&path).unwrap().modified().unwrap();
        write_later(&path, "b read second-secret-0123456789\n", t0);
        assert!(allowed(&file, "second-secret-0123456789"));
        assert!(!allowed(&file, "first-secret-0123456789"));

        let t1 = std::fs::metadata(&path).unwrap().modified().unwrap();
        write_later(&path, "broken line\n", t1);
        assert!(
            allowed(&file, "second-secret-0123456789"),
            "bad file keeps old tokens"
        );
    }

    #[test]
    fn an_unusable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        assert!(TokensFile::load(&path)
            .err()
            .unwrap()
            .contains("cannot read"));
        std::fs::write(&path, "# none\n").unwrap();
        assert!(TokensFile::load(&path)
            .err()
            .unwrap()
            .contains("holds no token"));
        std::fs::write(&path, "a superuser x-secret-0123456789\n").unwrap();
        let err = TokensFile::load(&path).err().unwrap();
        assert!(err.contains(":1: role must be"), "{err}");
    }
}
