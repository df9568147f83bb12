//! Noticing configuration edits: a `notify` watch on agent.yaml's directory and on conf.d,
//! events filtered to the files that matter and debounced (editors write in bursts: temp
//! file, rename, chmod), then one "reload now" signal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::conf_d_dir;

/// Quiet time that ends a burst of file events.
pub const DEBOUNCE: Duration = Duration::from_millis(300);
/// A burst that never goes quiet is still acted on after this long.
pub const DEBOUNCE_MAX: Duration = Duration::from_secs(3);

/// Whether an event on `path` can change the configuration.
pub fn is_relevant(config_path: &Path, path: &Path) -> bool {
    let conf_d = conf_d_dir(config_path);
    if path == config_path || path == conf_d {
        return true;
    }
    // Kubernetes mounts a ConfigMap as symlinks into a `..data` directory it swaps atomically;
    // an update shows up as events on `..data` and `..<timestamp>` entries only.
    if path.parent() == config_path.parent()
        && path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with(".."))
    {
        return true;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if parent == conf_d => {
            crate::config::is_fragment_name(&name.to_string_lossy())
        }
        _ => false,
    }
}

pub struct ConfigWatcher {
    watcher: RecommendedWatcher,
    config_path: PathBuf,
    conf_d_watched: bool,
    events: mpsc::UnboundedReceiver<()>,
}

impl ConfigWatcher {
    pub fn start(config_path: &Path) -> notify::Result<ConfigWatcher> {
        let (sender, events) = mpsc::unbounded_channel();
        let filter_path = config_path.to_path_buf();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let relevant = match &event {
                Ok(event) if event.kind.is_access() => false,
                Ok(event) => event
                    .paths
                    .iter()
                    .any(|path| is_relevant(&filter_path, path)),
                // Overflow or a watch error: reload to be safe.
                Err(_) => true,
            };
            if relevant {
                let _ = sender.send(());
            }
        })?;
        let mut watcher = ConfigWatcher {
            watcher,
            config_path: config_path.to_path_buf(),
            conf_d_watched: false,
            events,
        };
        let dir = config_path.parent().unwrap_or_else(|| Path::new("."));
        watcher.watcher.watch(dir, RecursiveMode::NonRecursive)?;
        watcher.watch_conf_d();
        Ok(watcher)
    }

    /// conf.d may appear (or be replaced) after start; watch it whenever it exists.
    fn watch_conf_d(&mut self) {
        let conf_d = conf_d_dir(&self.config_path);
        if conf_d.is_dir() {
            if self.conf_d_watched {
                let _ = self.watcher.unwatch(&conf_d);
            }
            self.conf_d_watched = self
                .watcher
                .watch(&conf_d, RecursiveMode::NonRecursive)
                .is_ok();
        } else {
            self.conf_d_watched = false;
        }
    }

    /// Waits for the next burst of relevant events to end.
    pub async fn next_change(&mut self) {
        if self.events.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
        let started = tokio::time::Instant::now();
        loop {
            let quiet_until = tokio::time::Instant::now() + DEBOUNCE;
            let give_up = started + DEBOUNCE_MAX;
            tokio::select! {
                event = self.events.recv() => {
                    if event.is_none() { break; }
                    if tokio::time::Instant::now() >= give_up { break; }
                }
                _ = tokio::time::sleep_until(quiet_until.min(give_up)) => break,
            }
        }
        self.watch_conf_d();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_config_and_conf_d_documents_matter() {
        let config = Path::new("/etc/arbor/agent.yaml");
        assert!(is_relevant(config, Path::new("/etc/arbor/agent.yaml")));
        assert!(is_relevant(config, Path::new("/etc/arbor/conf.d")));
        assert!(is_relevant(config, Path::new("/etc/arbor/conf.d/web.yaml")));
        assert!(!is_relevant(
            config,
            Path::new("/etc/arbor/conf.d/.web.yaml.swp")
        ));
        assert!(!is_relevant(config, Path::new("/etc/arbor/other.yaml")));
        assert!(!is_relevant(
            config,
            Path::new("/etc/arbor/conf.d/sub/x.yaml")
        ));
    }

    #[tokio::test]
    async fn a_burst_of_edits_is_one_change_and_new_conf_d_files_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("agent.yaml");
        std::fs::write(&config, "servers: h:1\n").unwrap();
        let mut watcher = ConfigWatcher::start(&config).unwrap();
        for round in 0..3 {
            std::fs::write(&config, format!("servers: h:{round}\n")).unwrap();
        }
        tokio::time::timeout(Duration::from_secs(10), watcher.next_change())
            .await
            .expect("a change is reported");
        // conf.d created after start: its creation and then its files are noticed.
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        tokio::time::timeout(Duration::from_secs(10), watcher.next_change())
            .await
            .expect("conf.d creation is reported");
        std::fs::write(dir.path().join("conf.d/web.yaml"), "services: []\n").unwrap();
        tokio::time::timeout(Duration::from_secs(10), watcher.next_change())
            .await
            .expect("a new conf.d file is reported");
    }
}
