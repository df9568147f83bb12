//! What a configuration change means: which services and files to add, change or remove, and
//! whether the session or the HTTP listener must be replaced.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::AgentConfig;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes<K> {
    pub added: Vec<K>,
    pub changed: Vec<K>,
    pub removed: Vec<K>,
}

impl<K> Changes<K> {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// `servers` or `session_timeout` changed: a new session is needed.
    pub reconnect: bool,
    pub http_changed: bool,
    pub cache_dir_changed: bool,
    pub services: Changes<String>,
    pub files: Changes<PathBuf>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        !self.reconnect
            && !self.http_changed
            && !self.cache_dir_changed
            && self.services.is_empty()
            && self.files.is_empty()
    }
}

fn changes<K: Ord + Clone, V: PartialEq>(old: &BTreeMap<K, V>, new: &BTreeMap<K, V>) -> Changes<K> {
    let mut result = Changes {
        added: Vec::new(),
        changed: Vec::new(),
        removed: Vec::new(),
    };
    for (key, value) in new {
        match old.get(key) {
            None => result.added.push(key.clone()),
            Some(previous) if previous != value => result.changed.push(key.clone()),
            Some(_) => {}
        }
    }
    result.removed = old
        .keys()
        .filter(|key| !new.contains_key(*key))
        .cloned()
        .collect();
    result
}

/// The steps from `old` to `new`.
pub fn plan(old: &AgentConfig, new: &AgentConfig) -> Plan {
    Plan {
        reconnect: old.servers != new.servers || old.session_timeout != new.session_timeout,
        http_changed: old.http != new.http,
        cache_dir_changed: old.cache_dir != new.cache_dir,
        services: changes(&old.services, &new.services),
        files: changes(&old.files, &new.files),
    }
}

/// The plan that starts everything in `config` from nothing.
pub fn initial(config: &AgentConfig) -> Plan {
    Plan {
        reconnect: true,
        http_changed: true,
        cache_dir_changed: true,
        services: Changes {
            added: config.services.keys().cloned().collect(),
            ..Changes::default()
        },
        files: Changes {
            added: config.files.keys().cloned().collect(),
            ..Changes::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Document};

    fn config(text: &str) -> AgentConfig {
        let main = Document {
            path: "/a/agent.yaml".into(),
            text: text.to_string(),
        };
        parse(&main, &[], "box").expect("valid")
    }

    const BASE: &str = "servers: h:1\nservices:\n  - {name: a, id: a, port: 1}\n  - {name: b, id: b, port: 2}\nfiles:\n  - {source: e/a/x.txt, dest: /x}\n  - {source: e/a/y.txt, dest: /y}\n";

    #[test]
    fn an_identical_config_plans_nothing() {
        assert!(plan(&config(BASE), &config(BASE)).is_empty());
    }

    #[test]
    fn adds_changes_and_removes_by_id_and_dest() {
        let new = config(
            "servers: h:1\nservices:\n  - {name: a, id: a, port: 10}\n  - {name: c, id: c, port: 3}\nfiles:\n  - {source: e/a/x.txt, dest: /x, backup: true}\n  - {source: e/a/z.txt, dest: /z}\n",
        );
        let plan = plan(&config(BASE), &new);
        assert!(!plan.reconnect && !plan.http_changed);
        assert_eq!(
            plan.services,
            Changes {
                added: vec!["c".to_string()],
                changed: vec!["a".to_string()],
                removed: vec!["b".to_string()],
            }
        );
        assert_eq!(
            plan.files,
            Changes {
                added: vec![PathBuf::from("/z")],
                changed: vec![PathBuf::from("/x")],
                removed: vec![PathBuf::from("/y")],
            }
        );
    }

    #[test]
    fn new_servers_or_session_timeout_need_a_new_session() {
        let moved = BASE.replace("servers: h:1", "servers: h:2");
        assert!(plan(&config(BASE), &config(&moved)).reconnect);
        let slower = format!("{BASE}session_timeout: 30s\n");
        let step = plan(&config(BASE), &config(&slower));
        assert!(step.reconnect);
        assert!(step.services.is_empty() && step.files.is_empty());
        let listening = format!("{BASE}http: 127.0.0.1:9000\n");
        assert!(plan(&config(BASE), &config(&listening)).http_changed);
    }

    #[test]
    fn the_initial_plan_adds_everything() {
        let start = initial(&config(BASE));
        assert_eq!(start.services.added, ["a", "b"]);
        assert_eq!(start.files.added.len(), 2);
    }
}
