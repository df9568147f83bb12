//! Server-side watch registry: who is told about which change.
//!
//! Watches belong to connections (as in ZooKeeper: a client re-registers them with setWatches2
//! after reconnecting). The registry is pure bookkeeping; delivering events is the caller's job.
//! One-time data/exist/child watches are removed when they fire; persistent and
//! persistent-recursive watches stay until removed or their connection closes.

/// Paths come from clients: seeded hashing, and cheaper than std's SipHash on the write path
/// (every applied change looks its path up here).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
type HashSet<T> = std::collections::HashSet<T, foldhash::quality::RandomState>;

use arbor_proto::{EventType, WatcherType};

/// Identifies a client connection for the lifetime of the server process.
pub type ConnId = u64;

/// The watch tables a request can register in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// getData/exists watches (ZooKeeper keeps exist watches in the data table too).
    Data,
    /// getChildren watches.
    Child,
    /// addWatch mode PERSISTENT: data, child and existence changes of one node.
    Persistent,
    /// addWatch mode PERSISTENT_RECURSIVE: every change at or below a node, except child-list
    /// changes (ZooKeeper does not send NodeChildrenChanged to recursive watchers).
    PersistentRecursive,
}

const KINDS: [WatchKind; 4] = [
    WatchKind::Data,
    WatchKind::Child,
    WatchKind::Persistent,
    WatchKind::PersistentRecursive,
];

/// The tables a removeWatches/checkWatches `WatcherType` names.
fn kinds_of(which: WatcherType) -> &'static [WatchKind] {
    match which {
        WatcherType::Children => &[WatchKind::Child],
        WatcherType::Data => &[WatchKind::Data],
        WatcherType::Persistent => &[WatchKind::Persistent],
        WatcherType::PersistentRecursive => &[WatchKind::PersistentRecursive],
        WatcherType::Any => &KINDS,
    }
}

/// One notification to send: `conn` should get `event` for `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub conn: ConnId,
    pub event: EventType,
    pub path: String,
}

#[derive(Default)]
struct Table {
    by_path: HashMap<String, HashSet<ConnId>>,
}

impl Table {
    fn add(&mut self, path: &str, conn: ConnId) -> bool {
        self.by_path
            .entry(path.to_owned())
            .or_default()
            .insert(conn)
    }

    fn remove(&mut self, path: &str, conn: ConnId) -> bool {
        let Some(set) = self.by_path.get_mut(path) else {
            return false;
        };
        let removed = set.remove(&conn);
        if set.is_empty() {
            self.by_path.remove(path);
        }
        removed
    }

    fn contains(&self, path: &str, conn: ConnId) -> bool {
        self.by_path.get(path).is_some_and(|s| s.contains(&conn))
    }

    fn count(&self) -> usize {
        self.by_path.values().map(HashSet::len).sum()
    }
}

/// All watches of all connections, indexed both ways.
#[derive(Default)]
pub struct WatchRegistry {
    data: Table,
    child: Table,
    persistent: Table,
    recursive: Table,
    /// Reverse index: what each connection watches, for cleanup and `wchc`.
    by_conn: HashMap<ConnId, HashSet<(WatchKind, String)>>,
}

impl WatchRegistry {
    fn table(&self, kind: WatchKind) -> &Table {
        match kind {
            WatchKind::Data => &self.data,
            WatchKind::Child => &self.child,
            WatchKind::Persistent => &self.persistent,
            WatchKind::PersistentRecursive => &self.recursive,
        }
    }

    fn table_mut(&mut self, kind: WatchKind) -> &mut Table {
        match kind {
            WatchKind::Data => &mut self.data,
            WatchKind::Child => &mut self.child,
            WatchKind::Persistent => &mut self.persistent,
            WatchKind::PersistentRecursive => &mut self.recursive,
        }
    }

    pub fn add(&mut self, conn: ConnId, kind: WatchKind, path: &str) {
        if self.table_mut(kind).add(path, conn) {
            self.by_conn
                .entry(conn)
                .or_default()
                .insert((kind, path.to_owned()));
        }
    }

    fn forget(&mut self, conn: ConnId, kind: WatchKind, path: &str) {
        if let Some(set) = self.by_conn.get_mut(&conn) {
            set.remove(&(kind, path.to_owned()));
            if set.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
    }

    /// Whether `conn` has a watch of `which` type on `path` (checkWatches).
    pub fn has(&self, conn: ConnId, which: WatcherType, path: &str) -> bool {
        kinds_of(which)
            .iter()
            .any(|&k| self.table(k).contains(path, conn))
    }

    /// Removes `conn`'s watches of `which` type on `path`; returns the kinds removed.
    pub fn remove(&mut self, conn: ConnId, which: WatcherType, path: &str) -> Vec<WatchKind> {
        let mut removed = Vec::new();
        for &kind in kinds_of(which) {
            if self.table_mut(kind).remove(path, conn) {
                self.forget(conn, kind, path);
                removed.push(kind);
            }
        }
        removed
    }

    /// Drops every watch of a closed connection.
    pub fn remove_connection(&mut self, conn: ConnId) {
        if let Some(set) = self.by_conn.remove(&conn) {
            for (kind, path) in set {
                self.table_mut(kind).remove(&path, conn);
            }
        }
    }

    /// Resolves one tree change into deliveries, removing the one-time watches that fired. Each
    /// connection is told at most once per change.
    pub fn trigger(&mut self, path: &str, event: EventType) -> Vec<Delivery> {
        // Connections to tell, each once: a set, since one node may have thousands of
        // watchers (a linear "already told?" check made a trigger quadratic in them).
        let mut told: HashSet<ConnId> = HashSet::default();
        let mut fired_once: Vec<(WatchKind, ConnId)> = Vec::new();
        let one_time: &[WatchKind] = match event {
            EventType::NodeCreated | EventType::NodeDataChanged => &[WatchKind::Data],
            EventType::NodeDeleted => &[WatchKind::Data, WatchKind::Child],
            EventType::NodeChildrenChanged => &[WatchKind::Child],
            _ => &[],
        };
        for &kind in one_time {
            if let Some(set) = self.table_mut(kind).by_path.remove(path) {
                for conn in set {
                    fired_once.push((kind, conn));
                    told.insert(conn);
                }
            }
        }
        for (kind, conn) in fired_once {
            self.forget(conn, kind, path);
        }
        if let Some(set) = self.persistent.by_path.get(path) {
            told.extend(set.iter().copied());
        }
        if event != EventType::NodeChildrenChanged && !self.recursive.by_path.is_empty() {
            for ancestor in self_and_ancestors(path) {
                if let Some(set) = self.recursive.by_path.get(ancestor) {
                    told.extend(set.iter().copied());
                }
            }
        }
        told.into_iter()
            .map(|conn| Delivery {
                conn,
                event,
                path: path.to_owned(),
            })
            .collect()
    }

    /// Total number of watches (`wchs`, `zk_watch_count`).
    pub fn watch_count(&self) -> usize {
        KINDS.iter().map(|&k| self.table(k).count()).sum()
    }

    /// Number of distinct watched paths.
    pub fn path_count(&self) -> usize {
        let mut paths: HashSet<&str> = HashSet::default();
        for &k in &KINDS {
            paths.extend(self.table(k).by_path.keys().map(String::as_str));
        }
        paths.len()
    }

    /// Number of connections that hold at least one watch.
    pub fn connection_count(&self) -> usize {
        self.by_conn.len()
    }

    /// Watched paths per connection, sorted (`wchc`).
    pub fn by_connection(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut out: Vec<(ConnId, Vec<String>)> = self
            .by_conn
            .iter()
            .map(|(&c, set)| {
                let mut paths: Vec<String> = set.iter().map(|(_, p)| p.clone()).collect();
                paths.sort();
                paths.dedup();
                (c, paths)
            })
            .collect();
        out.sort_by_key(|(c, _)| *c);
        out
    }

    /// Watching connections per path, sorted (`wchp`).
    pub fn by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        let mut map: HashMap<&str, HashSet<ConnId>> = HashMap::default();
        for &k in &KINDS {
            for (p, set) in &self.table(k).by_path {
                map.entry(p.as_str())
                    .or_default()
                    .extend(set.iter().copied());
            }
        }
        let mut out: Vec<(String, Vec<ConnId>)> = map
            .into_iter()
            .map(|(p, set)| {
                let mut conns: Vec<ConnId> = set.into_iter().collect();
                conns.sort();
                (p.to_owned(), conns)
            })
            .collect();
        out.sort();
        out
    }
}

/// `/a/b/c`, `/a/b`, `/a`, `/`.
fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = if current == "/" {
            None
        } else {
            match current.rfind('/') {
                Some(0) => Some("/"),
                Some(i) => Some(&current[..i]),
                None => None,
            }
        };
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::*;

    fn conns(d: &[Delivery]) -> Vec<ConnId> {
        let mut v: Vec<ConnId> = d.iter().map(|d| d.conn).collect();
        v.sort();
        v
    }

    #[test]
    fn ancestors_walk_to_root() {
        let v: Vec<&str> = self_and_ancestors("/a/b/c").collect();
        assert_eq!(v, ["/a/b/c", "/a/b", "/a", "/"]);
        assert_eq!(self_and_ancestors("/").collect::<Vec<_>>(), ["/"]);
    }

    #[test]
    fn data_watch_fires_once() {
        let mut w = WatchRegistry::default();
        w.add(1, WatchKind::Data, "/a");
        assert_eq!(conns(&w.trigger("/a", NodeDataChanged)), [1]);
        assert!(w.trigger("/a", NodeDataChanged).is_empty());
        assert_eq!(w.watch_count(), 0);
        assert_eq!(w.connection_count(), 0);
    }

    #[test]
    fn child_watch_ignores_data_changes() {
        let mut w = WatchRegistry::default();
        w.add(1, WatchKind::Child, "/a");
        assert!(w.trigger("/a", NodeDataChanged).is_empty());
        assert_eq!(conns(&w.trigger("/a", NodeChildrenChanged)), [1]);
    }

    #[test]
    fn delete_fires_data_and_child_watchers_once_each_connection() {
        let mut w = WatchRegistry::default();
        w.add(1, WatchKind::Data, "/a");
        w.add(1, WatchKind::Child, "/a");
        w.add(2, WatchKind::Child, "/a");
        let d = w.trigger("/a", NodeDeleted);
        assert_eq!(conns(&d), [1, 2]);
        assert!(d.iter().all(|d| d.event == NodeDeleted && d.path == "/a"));
        assert_eq!(w.watch_count(), 0);
    }

    #[test]
    fn persistent_watch_stays_and_sees_children_changes() {
        let mut w = WatchRegistry::default();
        w.add(7, WatchKind::Persistent, "/p");
        assert_eq!(conns(&w.trigger("/p", NodeDataChanged)), [7]);
        assert_eq!(conns(&w.trigger("/p", NodeChildrenChanged)), [7]);
        assert_eq!(conns(&w.trigger("/p", NodeDeleted)), [7]);
        assert!(w.trigger("/p/x", NodeCreated).is_empty());
        assert_eq!(w.watch_count(), 1);
    }

    #[test]
    fn recursive_watch_sees_descendants_but_not_child_list_changes() {
        let mut w = WatchRegistry::default();
        w.add(3, WatchKind::PersistentRecursive, "/r");
        assert_eq!(conns(&w.trigger("/r/a/b", NodeCreated)), [3]);
        assert_eq!(conns(&w.trigger("/r", NodeDataChanged)), [3]);
        assert!(w.trigger("/r", NodeChildrenChanged).is_empty());
        assert!(w.trigger("/rr", NodeCreated).is_empty());
        assert!(w.trigger("/other", NodeCreated).is_empty());
    }

    #[test]
    fn root_recursive_watch_sees_everything() {
        let mut w = WatchRegistry::default();
        w.add(1, WatchKind::PersistentRecursive, "/");
        assert_eq!(conns(&w.trigger("/x/y", NodeDeleted)), [1]);
    }

    #[test]
    fn remove_by_type_and_connection_cleanup() {
        let mut w = WatchRegistry::default();
        w.add(1, WatchKind::Data, "/a");
        w.add(1, WatchKind::Child, "/a");
        w.add(1, WatchKind::Persistent, "/b");
        w.add(2, WatchKind::Data, "/a");
        assert!(w.has(1, WatcherType::Children, "/a"));
        assert_eq!(w.remove(1, WatcherType::Children, "/a"), [WatchKind::Child]);
        assert!(!w.has(1, WatcherType::Children, "/a"));
        assert!(w.has(1, WatcherType::Data, "/a"));
        assert!(w.remove(1, WatcherType::Children, "/a").is_empty());
        w.remove_connection(1);
        assert_eq!(w.watch_count(), 1);
        assert_eq!(w.by_connection(), vec![(2, vec!["/a".to_owned()])]);
        assert_eq!(w.by_path(), vec![("/a".to_owned(), vec![2])]);
        assert_eq!(w.path_count(), 1);
    }
}
