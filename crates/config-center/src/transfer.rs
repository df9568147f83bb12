//! Export of an env/app subtree to a directory, and import from one.
//!
//! The directory mirrors the scope: exporting `--env prod --app web` writes `DIR/<name>`,
//! `--env prod` writes `DIR/<app>/<name>`, no scope writes `DIR/<env>/<app>/<name>`. Import
//! reads the same shape for the scope it is given, so an export of `prod/web` can be imported
//! into `staging/web`. Entries whose names start with `.` (`.git`, editor files) are skipped.
//!
//! Import validates every file before it writes anything; any bad file (name, place, format,
//! size) refuses the whole import. Then each created or changed file is one push, conditional
//! on the version the plan saw, so a concurrent change is reported rather than overwritten.
//! Import never deletes configs that have no file.

use std::fmt;
use std::path::{Path, PathBuf};

use arbor_coord::Coordination;
use serde::Serialize;

use crate::center::{ChangeOutcome, ConfigCenter, PushOptions};
use crate::error::ConfigError;
use crate::layout::{App, ConfigKey, ConfigName, Env, Version};

/// Which part of the tree an export or import covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub env: Option<Env>,
    /// Only with `env`.
    pub app: Option<App>,
}

impl Scope {
    pub fn new(env: Option<Env>, app: Option<App>) -> Result<Scope, ConfigError> {
        if app.is_some() && env.is_none() {
            return Err(ConfigError::Io("an app scope needs an env".to_string()));
        }
        Ok(Scope { env, app })
    }

    /// The directory levels above a file: `<env>/<app>/`, `<app>/` or none.
    fn levels(&self) -> &'static [&'static str] {
        match (&self.env, &self.app) {
            (None, _) => &["env", "app"],
            (Some(_), None) => &["app"],
            (Some(_), Some(_)) => &[],
        }
    }

    /// The relative file path of `key` in this scope's directory shape.
    pub fn relative_path(&self, key: &ConfigKey) -> PathBuf {
        let mut path = PathBuf::new();
        if self.env.is_none() {
            path.push(key.env.as_str());
        }
        if self.app.is_none() {
            path.push(key.app.as_str());
        }
        path.push(key.name.as_str());
        path
    }

    /// The config a relative file path stands for in this scope.
    pub fn key_for(&self, relative: &Path) -> Result<ConfigKey, String> {
        let parts: Vec<&str> = relative
            .components()
            .map(|c| c.as_os_str().to_str().ok_or("name is not UTF-8"))
            .collect::<Result<_, _>>()?;
        let levels = self.levels();
        if parts.len() != levels.len() + 1 {
            let mut shape: Vec<String> = levels.iter().map(|l| format!("<{l}>")).collect();
            shape.push("<name>".to_string());
            return Err(format!("expected a file at {}", shape.join("/")));
        }
        let mut rest = parts.iter();
        let env = match &self.env {
            Some(env) => env.clone(),
            None => Env::new(rest.next().expect("counted")).map_err(|e| e.to_string())?,
        };
        let app = match &self.app {
            Some(app) => app.clone(),
            None => App::new(rest.next().expect("counted")).map_err(|e| e.to_string())?,
        };
        let name = ConfigName::new(rest.next().expect("counted")).map_err(|e| e.to_string())?;
        Ok(ConfigKey { env, app, name })
    }
}

/// What an import does with one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportAction {
    Create,
    Update,
    Unchanged,
}

impl ImportAction {
    /// The action for a file whose live counterpart holds `live` (`None`: absent).
    pub fn for_content(live: Option<&[u8]>, file: &[u8]) -> ImportAction {
        match live {
            None => ImportAction::Create,
            Some(live) if live == file => ImportAction::Unchanged,
            Some(_) => ImportAction::Update,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ImportAction::Create => "create",
            ImportAction::Update => "update",
            ImportAction::Unchanged => "unchanged",
        }
    }
}

/// One file of an import plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportItem {
    pub key: ConfigKey,
    pub file: PathBuf,
    pub action: ImportAction,
    /// The current version the plan saw (the push is conditional on it).
    pub current_version: Version,
    pub content: Vec<u8>,
}

/// Files that make an import impossible, each with the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ImportRefused {
    pub problems: Vec<(PathBuf, String)>,
}

impl fmt::Display for ImportRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "import refused, nothing written:")?;
        for (file, problem) in &self.problems {
            write!(f, "\n  {}: {problem}", file.display())?;
        }
        Ok(())
    }
}

/// Files below `dir` (relative paths, sorted), skipping entries whose names start with `.`.
fn files_below(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let io = |what: &str, path: &Path, err: std::io::Error| {
        ConfigError::Io(format!("cannot {what} {}: {err}", path.display()))
    };
    let mut files = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let absolute = dir.join(&relative);
        let entries =
            std::fs::read_dir(&absolute).map_err(|e| io("read directory", &absolute, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io("read directory", &absolute, e))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let child = relative.join(entry.file_name());
            let file_type = entry
                .file_type()
                .map_err(|e| io("stat", &entry.path(), e))?;
            if file_type.is_dir() {
                stack.push(child);
            } else {
                files.push(child);
            }
        }
    }
    files.sort();
    Ok(files)
}

impl<C: Coordination> ConfigCenter<C> {
    /// The configs in `scope`, sorted.
    pub async fn keys_in(&self, scope: &Scope) -> Result<Vec<ConfigKey>, ConfigError> {
        let envs = match &scope.env {
            Some(env) => vec![env.clone()],
            None => self.list_envs().await?,
        };
        let mut keys = Vec::new();
        for env in envs {
            let apps = match &scope.app {
                Some(app) => vec![app.clone()],
                None => self.list_apps(&env).await?,
            };
            for app in apps {
                for name in self.list_config_names(&env, &app).await? {
                    keys.push(ConfigKey {
                        env: env.clone(),
                        app: app.clone(),
                        name,
                    });
                }
            }
        }
        Ok(keys)
    }

    /// Writes the current content of every config in `scope` below `dir`; returns what it
    /// wrote (config, file, version).
    pub async fn export(
        &self,
        scope: &Scope,
        dir: &Path,
    ) -> Result<Vec<(ConfigKey, PathBuf, Version)>, ConfigError> {
        let mut written = Vec::new();
        for key in self.keys_in(scope).await? {
            // Deleted between the listing and the read: nothing to export.
            let Some(document) = self.current(&key).await?.document else {
                continue;
            };
            let file = dir.join(scope.relative_path(&key));
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|err| {
                    ConfigError::Io(format!("cannot create {}: {err}", parent.display()))
                })?;
            }
            std::fs::write(&file, &document.content).map_err(|err| {
                ConfigError::Io(format!("cannot write {}: {err}", file.display()))
            })?;
            written.push((key, file, document.version));
        }
        Ok(written)
    }

    /// Reads and validates every file below `dir` and compares it with the live config.
    /// Writes nothing. Any bad file refuses the whole import.
    pub async fn plan_import(
        &self,
        scope: &Scope,
        dir: &Path,
    ) -> Result<Result<Vec<ImportItem>, ImportRefused>, ConfigError> {
        let mut items = Vec::new();
        let mut problems = Vec::new();
        for relative in files_below(dir)? {
            let key = match scope.key_for(&relative) {
                Ok(key) => key,
                Err(problem) => {
                    problems.push((relative, problem));
                    continue;
                }
            };
            let file = dir.join(&relative);
            let content = match std::fs::read(&file) {
                Ok(content) => content,
                Err(err) => {
                    problems.push((relative, format!("cannot read: {err}")));
                    continue;
                }
            };
            if let Err(err) = self.validate(&key, &content) {
                let message = match err {
                    ConfigError::Content { source, .. } => source.to_string(),
                    other => other.to_string(),
                };
                problems.push((relative, message));
                continue;
            }
            let current = self.current(&key).await?;
            let live = current.document.as_ref().map(|d| d.content.as_slice());
            items.push(ImportItem {
                action: ImportAction::for_content(live, &content),
                current_version: current.version,
                key,
                file,
                content,
            });
        }
        if problems.is_empty() {
            Ok(Ok(items))
        } else {
            Ok(Err(ImportRefused { problems }))
        }
    }

    /// Pushes the plan's creates and updates, each conditional on the version the plan saw.
    /// Returns each item's outcome; an item that fails does not stop the others.
    pub async fn apply_import(
        &self,
        items: &[ImportItem],
        author: &str,
        message: &str,
    ) -> Vec<(ConfigKey, Result<ChangeOutcome, ConfigError>)> {
        let mut results = Vec::new();
        for item in items {
            if item.action == ImportAction::Unchanged {
                continue;
            }
            let options = PushOptions {
                expect_version: Some(item.current_version),
                author: author.to_string(),
                message: message.to_string(),
                retention: None,
            };
            let outcome = self.push(&item.key, &item.content, &options).await;
            results.push((item.key.clone(), outcome));
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(env: Option<&str>, app: Option<&str>) -> Scope {
        Scope::new(
            env.map(|e| Env::new(e).unwrap()),
            app.map(|a| App::new(a).unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn paths_mirror_the_scope() {
        let key = ConfigKey::parse("prod", "web", "a.yml").unwrap();
        let cases = [
            (scope(None, None), "prod/web/a.yml"),
            (scope(Some("prod"), None), "web/a.yml"),
            (scope(Some("prod"), Some("web")), "a.yml"),
        ];
        for (scope, relative) in cases {
            assert_eq!(scope.relative_path(&key), PathBuf::from(relative));
            assert_eq!(scope.key_for(Path::new(relative)), Ok(key.clone()));
        }
        // Importing an export of prod/web into staging/web.
        let staging = scope(Some("staging"), Some("web"));
        assert_eq!(
            staging.key_for(Path::new("a.yml")).unwrap().to_string(),
            "staging/web/a.yml"
        );
    }

    #[test]
    fn misplaced_and_badly_named_files_are_reported() {
        let all = scope(None, None);
        assert_eq!(
            all.key_for(Path::new("README.md")),
            Err("expected a file at <env>/<app>/<name>".to_string())
        );
        assert!(all
            .key_for(Path::new("prod/web/noext"))
            .unwrap_err()
            .contains("needs an extension"));
        assert!(all
            .key_for(Path::new("pr od/web/a.yml"))
            .unwrap_err()
            .contains("invalid env"));
        let app = scope(Some("prod"), Some("web"));
        assert_eq!(
            app.key_for(Path::new("sub/a.yml")),
            Err("expected a file at <name>".to_string())
        );
        assert!(Scope::new(None, Some(App::new("web").unwrap())).is_err());
    }

    #[test]
    fn actions_compare_bytes() {
        assert_eq!(ImportAction::for_content(None, b"a"), ImportAction::Create);
        assert_eq!(
            ImportAction::for_content(Some(b"a"), b"a"),
            ImportAction::Unchanged
        );
        assert_eq!(
            ImportAction::for_content(Some(b"a"), b"a\n"),
            ImportAction::Update
        );
    }
}
