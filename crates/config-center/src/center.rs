//! [`ConfigCenter`]: the config center's operations on a [`Coordination`] tree.
//!
//! Every change (push, rollback, delete, a settings change that moves the projection) is one
//! ZooKeeper multi: the config node, its history entry, the pruning of old entries and the Spring
//! projection's nodes, so all of it happens or none does. The multi is conditional on the
//! ZooKeeper versions of every node the change was computed from (the config node, the app's
//! settings node, the other documents the projection merges), so two racing writers cannot both
//! win: the loser's multi fails as a whole and it re-reads and tries again. A push with an
//! expected version turns "someone else's change landed first" into a [`ConfigError::Conflict`];
//! a push without one simply goes on top.
//!
//! ACLs: every node the config center creates gets its [`ConfigCenter::node_acl`]: open
//! (`world:anyone:cdrwa`) by default; readable by anyone and writable only by its credential's
//! `digest` identity once it is [`ConfigCenter::authenticated_as`] a credential. Spring's shared
//! root `/config` is the exception: other tools create contexts there, so it stays open.

use std::time::{Duration, Instant};

use arbor_coord::{Acl, CoordError, Coordination, CreateKind, DigestCredential, Node, WriteOp};
use futures::future::join_all;
use serde::Serialize;

use crate::diff;
use crate::error::ConfigError;
use crate::format;
use crate::history::{
    now_rfc3339, sha256_hex, AppSettings, ChangeKind, ConfigSettings, EntryInfo, HistoryEntry,
};
use crate::layout::{
    app_path, config_path, env_path, history_dir, history_entry_path, parse_history_entry_name,
    spring_context_path, App, ConfigKey, ConfigName, Env, Version, ARBOR_ROOT, CONFIG_ROOT,
    SPRING_ROOT,
};
use crate::limits::{multi_request_bytes, Limits};
use crate::projection::{self, ContextNodes, ProjectionPlan};
use crate::retention::versions_to_prune;

/// How long a change keeps retrying while other writers win the race.
const CONTENTION_DEADLINE: Duration = Duration::from_secs(30);
/// Reads that must see one consistent state retry this many times while writes land between.
const CONSISTENT_READ_ATTEMPTS: usize = 8;
/// How many reads a subtree walk has in flight at once.
const WALK_CONCURRENCY: usize = 256;

/// The config center on a coordination handle.
#[derive(Clone, Debug)]
pub struct ConfigCenter<C> {
    coord: C,
    limits: Limits,
    /// The ACL of every node this center creates (see the module docs).
    node_acl: Acl,
}

/// What [`ConfigCenter::protect_existing`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtectOutcome {
    /// Nodes whose ACL was looked at.
    pub checked: usize,
    /// Nodes whose ACL was replaced.
    pub changed: usize,
}

/// A document as it is now, or as it was at a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigDocument {
    #[serde(skip)]
    pub key: ConfigKey,
    /// The version (0: the node exists but has no history; it was written outside the config
    /// center).
    pub version: Version,
    #[serde(skip)]
    pub content: Vec<u8>,
    pub sha256: String,
    /// The history entry of `version`, without content (`None` for version 0).
    pub entry: Option<EntryInfo>,
    /// The current node's bytes were changed outside the config center after `version` (by a
    /// plain ZooKeeper client); `content` is what the node holds now.
    pub modified_outside: bool,
}

/// The current state of a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    /// The newest history sequence (0 if there is no history).
    pub version: Version,
    /// The document, if the config node exists.
    pub document: Option<ConfigDocument>,
}

/// Options of a push (and of a rollback, which is a push of an old version's content).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushOptions {
    /// Refuse unless the current version is this one (0: the config must not exist yet).
    pub expect_version: Option<Version>,
    pub author: String,
    pub message: String,
    /// Set the config's history retention (kept for later changes).
    pub retention: Option<u32>,
}

/// Options of a delete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    pub expect_version: Option<Version>,
    pub author: String,
    pub message: String,
    /// Also remove the config's whole history (otherwise the deletion is a history entry and
    /// the config can be rolled back to any retained version).
    pub purge: bool,
}

/// What a change did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChangeOutcome {
    /// The version after the change.
    pub version: Version,
    /// False when the content was already the current one (no new version).
    pub changed: bool,
    /// History entries removed by retention.
    pub pruned: Vec<Version>,
    /// What the Spring projection wrote, when it is on for the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection: Option<ProjectionSummary>,
}

/// Counts of the Spring projection's writes in one change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProjectionSummary {
    pub context: String,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
}

impl ProjectionSummary {
    fn of(context: String, plan: &ProjectionPlan) -> ProjectionSummary {
        ProjectionSummary {
            context,
            created: plan.created,
            updated: plan.updated,
            deleted: plan.deleted,
        }
    }
}

/// One config in a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigSummary {
    pub name: String,
    pub format: &'static str,
    pub version: Version,
}

/// One side of a diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffSide {
    /// The live document (empty if it does not exist).
    Current,
    /// A retained version.
    Version(Version),
    /// Bytes from elsewhere (a local file), with the label the diff shows for them.
    Content { label: String, bytes: Vec<u8> },
}

/// What a watch returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchOutcome {
    /// Whether the version differs from the one the caller knew.
    pub changed: bool,
    pub current: Current,
}

/// What the config node, its history and its app look like before a change.
struct WriteState {
    node: Option<Node>,
    /// History directory: (settings, ZooKeeper version, retained versions ascending).
    history: Option<(ConfigSettings, i32, Vec<Version>)>,
    /// App node: (settings, ZooKeeper version).
    app: Option<(AppSettings, i32)>,
}

impl WriteState {
    fn current_version(&self) -> Version {
        self.history
            .as_ref()
            .and_then(|(_, _, versions)| versions.last().copied())
            .unwrap_or(0)
    }

    fn versions(&self) -> &[Version] {
        self.history
            .as_ref()
            .map_or(&[][..], |(_, _, versions)| versions)
    }
}

/// One change to make to a config (push or rollback).
struct NewContent<'a> {
    content: &'a [u8],
    kind: ChangeKind,
    rollback_of: Option<Version>,
    options: &'a PushOptions,
}

/// Failures of a multi that mean "the tree moved under us": re-read and retry.
fn is_race(err: &CoordError) -> bool {
    matches!(
        err,
        CoordError::BadVersion | CoordError::NodeExists | CoordError::NoNode | CoordError::NotEmpty
    )
}

/// Sleeps a little, more as attempts grow, with jitter so racing writers spread out.
async fn backoff(attempt: u32) {
    let ceiling = 1u64 << attempt.min(6);
    let millis = 1 + rand::random::<u64>() % ceiling;
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

fn retained_range(versions: &[Version]) -> String {
    match (versions.first(), versions.last()) {
        (Some(first), Some(last)) => format!("retained: {first}..={last}"),
        _ => "no history".to_string(),
    }
}

impl<C: Coordination> ConfigCenter<C> {
    pub fn new(coord: C) -> ConfigCenter<C> {
        ConfigCenter {
            coord,
            limits: Limits::default(),
            node_acl: Acl::open(),
        }
    }

    /// Authenticates the session as `credential` (`addauth digest`) and from now on creates
    /// nodes readable by anyone and writable only by that identity. Nodes created earlier keep
    /// their ACL until [`ConfigCenter::protect_existing`] runs.
    pub async fn authenticated_as(
        mut self,
        credential: &DigestCredential,
    ) -> Result<ConfigCenter<C>, ConfigError> {
        self.coord.add_digest_auth(credential).await?;
        self.node_acl = Acl::readable_by_anyone_owned_by(credential);
        Ok(self)
    }

    /// The ACL nodes created by this center get.
    pub fn node_acl(&self) -> &Acl {
        &self.node_acl
    }

    pub fn with_limits(mut self, limits: Limits) -> ConfigCenter<C> {
        self.limits = limits;
        self
    }

    pub fn coord(&self) -> &C {
        &self.coord
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Checks a document as a push would (format, size), without writing anything.
    pub fn validate(&self, key: &ConfigKey, content: &[u8]) -> Result<(), ConfigError> {
        format::validate(key.format(), content, self.limits.max_document_bytes).map_err(|source| {
            ConfigError::Content {
                key: key.to_string(),
                source,
            }
        })
    }

    // ---- reads -------------------------------------------------------------------------------

    /// Retained versions of a config, ascending, or `None` without a history directory.
    async fn versions(&self, key: &ConfigKey) -> Result<Option<Vec<Version>>, ConfigError> {
        let Some(children) = self.coord.children(&history_dir(key)).await? else {
            return Ok(None);
        };
        let mut versions: Vec<Version> = children
            .iter()
            .filter_map(|name| parse_history_entry_name(name))
            .collect();
        versions.sort_unstable();
        Ok(Some(versions))
    }

    /// The history entry of `version` with its node, or `None` if it is not retained.
    async fn entry(
        &self,
        key: &ConfigKey,
        version: Version,
    ) -> Result<Option<(HistoryEntry, Node)>, ConfigError> {
        let path = history_entry_path(key, version);
        let Some(node) = self.coord.get(&path).await? else {
            return Ok(None);
        };
        let entry = HistoryEntry::decode(&node.data).map_err(|err| ConfigError::Corrupt {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        Ok(Some((entry, node)))
    }

    /// The current state: the newest version and the live document, read consistently (the
    /// version reported is the one whose multi last wrote the node, matched by zxid).
    pub async fn current(&self, key: &ConfigKey) -> Result<Current, ConfigError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last_attempt = attempt >= CONSISTENT_READ_ATTEMPTS;
            let node = self.coord.get(&config_path(key)).await?;
            let versions = self.versions(key).await?.unwrap_or_default();
            let Some(&newest) = versions.last() else {
                return Ok(Current {
                    version: 0,
                    document: node.map(|node| ConfigDocument {
                        key: key.clone(),
                        version: 0,
                        sha256: sha256_hex(&node.data),
                        content: node.data,
                        entry: None,
                        modified_outside: false,
                    }),
                });
            };
            let Some((entry, entry_node)) = self.entry(key, newest).await? else {
                // Pruned or purged between the listing and the read.
                if last_attempt {
                    return Ok(Current {
                        version: newest,
                        document: None,
                    });
                }
                continue;
            };
            match node {
                None => {
                    if entry.kind == ChangeKind::Delete || last_attempt {
                        return Ok(Current {
                            version: newest,
                            document: None,
                        });
                    }
                    // A push created the node after we looked; look again.
                }
                Some(node) => {
                    let written_by_entry = entry_node.stat.czxid == node.stat.mzxid;
                    let entry_is_newer = entry_node.stat.czxid > node.stat.mzxid;
                    if written_by_entry || !entry_is_newer || last_attempt {
                        return Ok(Current {
                            version: newest,
                            document: Some(ConfigDocument {
                                key: key.clone(),
                                version: newest,
                                sha256: sha256_hex(&node.data),
                                content: node.data,
                                entry: Some(entry.info()),
                                modified_outside: !written_by_entry,
                            }),
                        });
                    }
                }
            }
        }
    }

    /// The current document, or the one at `version`.
    pub async fn get(
        &self,
        key: &ConfigKey,
        version: Option<Version>,
    ) -> Result<ConfigDocument, ConfigError> {
        match version {
            None => {
                let current = self.current(key).await?;
                current.document.ok_or_else(|| ConfigError::NotFound {
                    key: key.to_string(),
                    deleted_at: (current.version > 0).then_some(current.version),
                })
            }
            Some(version) => {
                let Some((entry, _)) = self.entry(key, version).await? else {
                    let versions = self.versions(key).await?.unwrap_or_default();
                    return Err(ConfigError::VersionNotFound {
                        key: key.to_string(),
                        version,
                        retained: retained_range(&versions),
                    });
                };
                Ok(ConfigDocument {
                    key: key.clone(),
                    version,
                    sha256: entry.sha256.clone(),
                    entry: Some(entry.info()),
                    content: entry.content.into_bytes(),
                    modified_outside: false,
                })
            }
        }
    }

    /// The retained history, newest first.
    pub async fn history(&self, key: &ConfigKey) -> Result<Vec<EntryInfo>, ConfigError> {
        let Some(versions) = self.versions(key).await? else {
            if self.coord.stat(&config_path(key)).await?.is_some() {
                return Ok(Vec::new());
            }
            return Err(ConfigError::NotFound {
                key: key.to_string(),
                deleted_at: None,
            });
        };
        let entries = join_all(versions.iter().rev().map(|v| self.entry(key, *v))).await;
        let mut infos = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some((entry, _)) = entry? {
                infos.push(entry.info());
            }
        }
        Ok(infos)
    }

    /// Unified diff from `from` to `to` (empty when equal).
    pub async fn diff(
        &self,
        key: &ConfigKey,
        from: DiffSide,
        to: DiffSide,
    ) -> Result<String, ConfigError> {
        let (from_label, from_bytes) = self.diff_side(key, from).await?;
        let (to_label, to_bytes) = self.diff_side(key, to).await?;
        Ok(diff::unified(
            &from_label,
            &from_bytes,
            &to_label,
            &to_bytes,
        ))
    }

    async fn diff_side(
        &self,
        key: &ConfigKey,
        side: DiffSide,
    ) -> Result<(String, Vec<u8>), ConfigError> {
        Ok(match side {
            DiffSide::Content { label, bytes } => (label, bytes),
            DiffSide::Version(version) => {
                let document = self.get(key, Some(version)).await?;
                (format!("{key}@v{version}"), document.content)
            }
            DiffSide::Current => match self.current(key).await?.document {
                Some(document) => (
                    format!("{key}@v{} (live)", document.version),
                    document.content,
                ),
                None => (format!("{key} (absent)"), Vec::new()),
            },
        })
    }

    /// Envs, sorted (nodes whose names are not valid env names are left out).
    pub async fn list_envs(&self) -> Result<Vec<Env>, ConfigError> {
        let children = self.coord.children(CONFIG_ROOT).await?.unwrap_or_default();
        let mut envs: Vec<Env> = children.iter().filter_map(|n| Env::new(n).ok()).collect();
        envs.sort();
        Ok(envs)
    }

    /// Apps of an env, sorted.
    pub async fn list_apps(&self, env: &Env) -> Result<Vec<App>, ConfigError> {
        let children = self
            .coord
            .children(&env_path(env))
            .await?
            .unwrap_or_default();
        let mut apps: Vec<App> = children.iter().filter_map(|n| App::new(n).ok()).collect();
        apps.sort();
        Ok(apps)
    }

    /// Config names of an app, sorted.
    pub async fn list_config_names(
        &self,
        env: &Env,
        app: &App,
    ) -> Result<Vec<ConfigName>, ConfigError> {
        let children = self
            .coord
            .children(&app_path(env, app))
            .await?
            .unwrap_or_default();
        let mut names: Vec<ConfigName> = children
            .iter()
            .filter_map(|n| ConfigName::new(n).ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Configs of an app with their versions, sorted by name.
    pub async fn list_configs(
        &self,
        env: &Env,
        app: &App,
    ) -> Result<Vec<ConfigSummary>, ConfigError> {
        let names = self.list_config_names(env, app).await?;
        let keys: Vec<ConfigKey> = names
            .into_iter()
            .map(|name| ConfigKey {
                env: env.clone(),
                app: app.clone(),
                name,
            })
            .collect();
        let versions = join_all(keys.iter().map(|key| self.versions(key))).await;
        keys.iter()
            .zip(versions)
            .map(|(key, versions)| {
                Ok(ConfigSummary {
                    name: key.name.to_string(),
                    format: key.format().name(),
                    version: versions?.and_then(|v| v.last().copied()).unwrap_or(0),
                })
            })
            .collect()
    }

    /// How many config documents exist (deleted ones not counted), read cheaply: one listing
    /// per env and one stat per app (its child count), no document data.
    pub async fn count_documents(&self) -> Result<u64, ConfigError> {
        let envs = self.coord.children(CONFIG_ROOT).await?.unwrap_or_default();
        let env_paths: Vec<String> = envs
            .iter()
            .map(|env| format!("{CONFIG_ROOT}/{env}"))
            .collect();
        let mut app_paths = Vec::new();
        for chunk in env_paths.chunks(WALK_CONCURRENCY) {
            let listings = join_all(chunk.iter().map(|path| self.coord.children(path))).await;
            for (env_path, apps) in chunk.iter().zip(listings) {
                app_paths.extend(
                    apps?
                        .unwrap_or_default()
                        .into_iter()
                        .map(|app| format!("{env_path}/{app}")),
                );
            }
        }
        let mut documents = 0u64;
        for chunk in app_paths.chunks(WALK_CONCURRENCY) {
            let stats = join_all(chunk.iter().map(|path| self.coord.stat(path))).await;
            for stat in stats {
                documents += stat?.map_or(0, |stat| u64::try_from(stat.num_children).unwrap_or(0));
            }
        }
        Ok(documents)
    }

    /// An app's settings (defaults if the app does not exist).
    pub async fn app_settings(&self, env: &Env, app: &App) -> Result<AppSettings, ConfigError> {
        Ok(self
            .coord
            .get(&app_path(env, app))
            .await?
            .map(|node| AppSettings::decode(&node.data))
            .unwrap_or_default())
    }

    /// A config's settings (defaults if it has none).
    pub async fn config_settings(&self, key: &ConfigKey) -> Result<ConfigSettings, ConfigError> {
        Ok(self
            .coord
            .get(&history_dir(key))
            .await?
            .map(|node| ConfigSettings::decode(&node.data))
            .unwrap_or_default())
    }

    /// Waits until the config's version differs from `known`, or `timeout` passes. Returns the
    /// state then (Consul-style blocking query: on timeout, the unchanged state).
    pub async fn watch(
        &self,
        key: &ConfigKey,
        known: Version,
        timeout: Duration,
    ) -> Result<WatchOutcome, ConfigError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Arm the watch before reading, so a change between the read and the wait fires it.
            let (_, change) = self.coord.watch_node(&config_path(key)).await?;
            let current = self.current(key).await?;
            if current.version != known {
                return Ok(WatchOutcome {
                    changed: true,
                    current,
                });
            }
            tokio::select! {
                _ = change => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return Ok(WatchOutcome { changed: false, current });
                }
            }
        }
    }

    async fn write_state(&self, key: &ConfigKey) -> Result<WriteState, ConfigError> {
        // One session answers in request order, so the node is read before the history is
        // listed: the listing holds at least the entry of the state the node was read in.
        let (node_path, dir_path, app_node_path) = (
            config_path(key),
            history_dir(key),
            app_path(&key.env, &key.app),
        );
        let (node, history, app) = futures::join!(
            self.coord.get(&node_path),
            self.coord.get(&dir_path),
            self.coord.get(&app_node_path),
        );
        let node = node?;
        let history = match history? {
            None => None,
            Some(dir) => {
                let versions = self.versions(key).await?.unwrap_or_default();
                Some((
                    ConfigSettings::decode(&dir.data),
                    dir.stat.version,
                    versions,
                ))
            }
        };
        let app = app?.map(|app| (AppSettings::decode(&app.data), app.stat.version));
        Ok(WriteState { node, history, app })
    }

    /// Reads a subtree below `root` as relative path -> data; `None` if `root` is missing.
    async fn read_subtree(&self, root: &str) -> Result<Option<ContextNodes>, ConfigError> {
        let Some(children) = self.coord.children(root).await? else {
            return Ok(None);
        };
        let mut nodes = ContextNodes::new();
        let mut frontier: Vec<String> = children;
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for chunk in frontier.chunks(WALK_CONCURRENCY) {
                let reads = join_all(chunk.iter().map(|relative| async move {
                    let path = format!("{root}/{relative}");
                    let (node, children) =
                        futures::join!(self.coord.get(&path), self.coord.children(&path));
                    (relative, node, children)
                }))
                .await;
                for (relative, node, children) in reads {
                    let Some(node) = node? else { continue };
                    nodes.insert(relative.clone(), node.data);
                    for child in children?.unwrap_or_default() {
                        next.push(format!("{relative}/{child}"));
                    }
                }
            }
            frontier = next;
        }
        Ok(Some(nodes))
    }

    /// The Check ops and projection plan that make `/config/<app>[,<env>]` match the app's
    /// projectable documents, with `replaced`'s content swapped in (`None` content: the
    /// document is being deleted).
    async fn projection_ops(
        &self,
        env: &Env,
        app: &App,
        replaced: Option<(&ConfigName, Option<&[u8]>)>,
        error_key: &str,
    ) -> Result<(Vec<WriteOp>, ProjectionPlan, String), ConfigError> {
        let projection_error = |source| ConfigError::Projection {
            key: error_key.to_string(),
            source,
        };
        let names = self.list_config_names(env, app).await?;
        let mut names: Vec<ConfigName> = names
            .into_iter()
            .filter(|name| projection::is_projectable(name.format()))
            .collect();
        if let Some((name, Some(_))) = replaced {
            if projection::is_projectable(name.format()) && !names.contains(name) {
                names.push(name.clone());
                names.sort();
            }
        }
        let mut checks = Vec::new();
        let mut documents = Vec::new();
        for name in &names {
            let key = ConfigKey {
                env: env.clone(),
                app: app.clone(),
                name: name.clone(),
            };
            let content = match replaced {
                Some((replaced_name, content)) if replaced_name == name => match content {
                    Some(content) => content.to_vec(),
                    None => continue,
                },
                _ => {
                    let path = config_path(&key);
                    let Some(node) = self.coord.get(&path).await? else {
                        continue;
                    };
                    checks.push(WriteOp::Check {
                        path,
                        version: node.stat.version,
                    });
                    node.data
                }
            };
            let text = format::as_text(&content).map_err(|err| ConfigError::Content {
                key: key.to_string(),
                source: err,
            })?;
            let flat = projection::flatten(name.format(), text).map_err(|source| {
                ConfigError::Projection {
                    key: key.to_string(),
                    source,
                }
            })?;
            documents.push((name.to_string(), flat));
        }
        let merged = projection::merge(documents.iter().map(|(n, f)| (n.as_str(), f.clone())))
            .map_err(projection_error)?;
        let desired = projection::desired_nodes(&merged).map_err(projection_error)?;
        let context = spring_context_path(env, app);
        // Spring's root is shared with whatever else writes Spring contexts: left open.
        self.coord.ensure_path(SPRING_ROOT).await?;
        let existing = self.read_subtree(&context).await?;
        let plan = projection::plan(&context, &desired, existing.as_ref(), &self.node_acl);
        Ok((checks, plan, context))
    }

    fn check_size(
        &self,
        key: &ConfigKey,
        ops: &[WriteOp],
        projected: bool,
    ) -> Result<(), ConfigError> {
        let size = multi_request_bytes(ops);
        if size > self.limits.max_request_bytes {
            return Err(ConfigError::RequestTooLarge {
                key: key.to_string(),
                size,
                limit: self.limits.max_request_bytes,
                projected,
            });
        }
        Ok(())
    }

    // ---- changes -----------------------------------------------------------------------------

    /// Pushes new content: validated, then written with its history entry (and pruning and
    /// projection) in one multi. Pushing the current content again changes nothing.
    pub async fn push(
        &self,
        key: &ConfigKey,
        content: &[u8],
        options: &PushOptions,
    ) -> Result<ChangeOutcome, ConfigError> {
        self.validate(key, content)?;
        self.change(
            key,
            NewContent {
                content,
                kind: ChangeKind::Push,
                rollback_of: None,
                options,
            },
        )
        .await
    }

    /// Restores version `to`'s content as a new version marked as a rollback of `to`.
    pub async fn rollback(
        &self,
        key: &ConfigKey,
        to: Version,
        options: &PushOptions,
    ) -> Result<ChangeOutcome, ConfigError> {
        let Some((entry, _)) = self.entry(key, to).await? else {
            let versions = self.versions(key).await?.unwrap_or_default();
            return Err(ConfigError::VersionNotFound {
                key: key.to_string(),
                version: to,
                retained: retained_range(&versions),
            });
        };
        if entry.kind == ChangeKind::Delete {
            return Err(ConfigError::NotRestorable {
                key: key.to_string(),
                version: to,
            });
        }
        let mut options = options.clone();
        if options.message.is_empty() {
            options.message = format!("rollback to version {to}");
        }
        self.change(
            key,
            NewContent {
                content: entry.content.as_bytes(),
                kind: ChangeKind::Rollback,
                rollback_of: Some(to),
                options: &options,
            },
        )
        .await
    }

    /// Creates the app node and the history directory if they are missing.
    async fn ensure_parents(&self, key: &ConfigKey) -> Result<(), ConfigError> {
        self.coord
            .ensure_path_with_acl(&app_path(&key.env, &key.app), &self.node_acl)
            .await?;
        self.coord
            .ensure_path_with_acl(&history_dir(key), &self.node_acl)
            .await?;
        Ok(())
    }

    async fn change(
        &self,
        key: &ConfigKey,
        new: NewContent<'_>,
    ) -> Result<ChangeOutcome, ConfigError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            // A follower may lag the leader: without this, an expected version the caller saw
            // elsewhere could look newer than ours and be refused as a conflict.
            self.coord.sync(&config_path(key)).await?;
            let state = self.write_state(key).await?;
            let current = state.current_version();
            if let Some(expected) = new.options.expect_version {
                if expected != current {
                    return Err(ConfigError::Conflict {
                        key: key.to_string(),
                        expected,
                        current,
                    });
                }
            }
            let (Some((settings, dir_version, versions)), Some((app_settings, app_version))) =
                (&state.history, &state.app)
            else {
                self.ensure_parents(key).await?;
                continue;
            };
            let retention = new.options.retention.unwrap_or(settings.retention).max(1);
            let mut ops = Vec::new();
            if retention != settings.retention {
                ops.push(WriteOp::SetData {
                    path: history_dir(key),
                    data: ConfigSettings { retention }.encode(),
                    expected_version: Some(*dir_version),
                });
            }
            let unchanged = state
                .node
                .as_ref()
                .is_some_and(|node| node.data == new.content);
            if unchanged {
                if ops.is_empty() {
                    return Ok(ChangeOutcome {
                        version: current,
                        changed: false,
                        ..ChangeOutcome::default()
                    });
                }
                // Only the retention changed: apply it to what is there.
                let pruned = match versions.split_last() {
                    Some((newest, older)) => versions_to_prune(older, *newest, retention),
                    None => Vec::new(),
                };
                ops.extend(pruned.iter().map(|v| WriteOp::Delete {
                    path: history_entry_path(key, *v),
                    expected_version: None,
                }));
                match self.coord.multi(ops).await {
                    Ok(_) => {
                        return Ok(ChangeOutcome {
                            version: current,
                            changed: false,
                            pruned,
                            projection: None,
                        })
                    }
                    Err(err) if is_race(&err.source) => {
                        self.contended(key, started, attempt).await?;
                        continue;
                    }
                    Err(err) => return Err(err.source.into()),
                }
            }
            let version = current + 1;
            match &state.node {
                Some(node) => ops.push(WriteOp::SetData {
                    path: config_path(key),
                    data: new.content.to_vec(),
                    expected_version: Some(node.stat.version),
                }),
                None => ops.push(WriteOp::Create {
                    path: config_path(key),
                    data: new.content.to_vec(),
                    kind: CreateKind::Persistent,
                    acl: self.node_acl.clone(),
                }),
            }
            let entry = HistoryEntry {
                version,
                kind: new.kind,
                rollback_of: new.rollback_of,
                sha256: sha256_hex(new.content),
                author: new.options.author.clone(),
                message: new.options.message.clone(),
                time: now_rfc3339(),
                // Validated as UTF-8 text before any change is planned.
                content: String::from_utf8_lossy(new.content).into_owned(),
            };
            ops.push(WriteOp::Create {
                path: history_entry_path(key, version),
                data: entry.encode(),
                kind: CreateKind::Persistent,
                acl: self.node_acl.clone(),
            });
            let pruned = versions_to_prune(versions, version, retention);
            ops.extend(pruned.iter().map(|v| WriteOp::Delete {
                path: history_entry_path(key, *v),
                expected_version: None,
            }));
            ops.push(WriteOp::Check {
                path: app_path(&key.env, &key.app),
                version: *app_version,
            });
            let projected =
                app_settings.spring_projection && projection::is_projectable(key.format());
            let mut projection = None;
            if projected {
                let (checks, plan, context) = self
                    .projection_ops(
                        &key.env,
                        &key.app,
                        Some((&key.name, Some(new.content))),
                        &key.to_string(),
                    )
                    .await?;
                ops.extend(checks);
                projection = Some(ProjectionSummary::of(context, &plan));
                ops.extend(plan.ops);
            }
            self.check_size(key, &ops, projected)?;
            match self.coord.multi(ops).await {
                Ok(_) => {
                    return Ok(ChangeOutcome {
                        version,
                        changed: true,
                        pruned,
                        projection,
                    })
                }
                Err(err) if is_race(&err.source) => {
                    self.contended(key, started, attempt).await?;
                }
                Err(err) => return Err(err.source.into()),
            }
        }
    }

    /// After a lost race: wait a little, or give up past the deadline.
    async fn contended(
        &self,
        key: &ConfigKey,
        started: Instant,
        attempt: u32,
    ) -> Result<(), ConfigError> {
        if started.elapsed() > CONTENTION_DEADLINE {
            return Err(ConfigError::Contention {
                key: key.to_string(),
                attempts: attempt,
            });
        }
        backoff(attempt).await;
        Ok(())
    }

    /// Deletes a config. Without `purge` the deletion is a new version (kind `delete`, empty
    /// content) and the history stays, so the config can be restored by a rollback.
    pub async fn delete(
        &self,
        key: &ConfigKey,
        options: &DeleteOptions,
    ) -> Result<ChangeOutcome, ConfigError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            // A follower may lag the leader: without this, an expected version the caller saw
            // elsewhere could look newer than ours and be refused as a conflict.
            self.coord.sync(&config_path(key)).await?;
            let state = self.write_state(key).await?;
            let current = state.current_version();
            if let Some(expected) = options.expect_version {
                if expected != current {
                    return Err(ConfigError::Conflict {
                        key: key.to_string(),
                        expected,
                        current,
                    });
                }
            }
            if state.node.is_none() && !(options.purge && state.history.is_some()) {
                return Err(ConfigError::NotFound {
                    key: key.to_string(),
                    deleted_at: (current > 0).then_some(current),
                });
            }
            let mut ops = Vec::new();
            if let Some(node) = &state.node {
                ops.push(WriteOp::Delete {
                    path: config_path(key),
                    expected_version: Some(node.stat.version),
                });
            }
            let mut outcome = ChangeOutcome {
                version: current,
                changed: true,
                ..ChangeOutcome::default()
            };
            if options.purge {
                ops.extend(state.versions().iter().map(|v| WriteOp::Delete {
                    path: history_entry_path(key, *v),
                    expected_version: None,
                }));
                if let Some((_, dir_version, _)) = &state.history {
                    ops.push(WriteOp::Delete {
                        path: history_dir(key),
                        expected_version: Some(*dir_version),
                    });
                }
                outcome.version = 0;
                outcome.pruned = state.versions().to_vec();
            } else if let Some((settings, _, versions)) = &state.history {
                let version = current + 1;
                let entry = HistoryEntry {
                    version,
                    kind: ChangeKind::Delete,
                    rollback_of: None,
                    sha256: sha256_hex(b""),
                    author: options.author.clone(),
                    message: options.message.clone(),
                    time: now_rfc3339(),
                    content: String::new(),
                };
                ops.push(WriteOp::Create {
                    path: history_entry_path(key, version),
                    data: entry.encode(),
                    kind: CreateKind::Persistent,
                    acl: self.node_acl.clone(),
                });
                outcome.pruned = versions_to_prune(versions, version, settings.retention);
                ops.extend(outcome.pruned.iter().map(|v| WriteOp::Delete {
                    path: history_entry_path(key, *v),
                    expected_version: None,
                }));
                outcome.version = version;
            }
            let mut projected = false;
            if let Some((app_settings, app_version)) = &state.app {
                ops.push(WriteOp::Check {
                    path: app_path(&key.env, &key.app),
                    version: *app_version,
                });
                if app_settings.spring_projection && projection::is_projectable(key.format()) {
                    projected = true;
                    let (checks, plan, context) = self
                        .projection_ops(
                            &key.env,
                            &key.app,
                            Some((&key.name, None)),
                            &key.to_string(),
                        )
                        .await?;
                    ops.extend(checks);
                    outcome.projection = Some(ProjectionSummary::of(context, &plan));
                    ops.extend(plan.ops);
                }
            }
            self.check_size(key, &ops, projected)?;
            match self.coord.multi(ops).await {
                Ok(_) => return Ok(outcome),
                Err(err) if is_race(&err.source) => {
                    self.contended(key, started, attempt).await?;
                }
                Err(err) => return Err(err.source.into()),
            }
        }
    }

    /// Turns the Spring Cloud Zookeeper projection on or off for an app in an env. On: the
    /// app's yaml/properties documents are projected now (and on every later change). Off: the
    /// projected context is removed.
    pub async fn set_spring_projection(
        &self,
        env: &Env,
        app: &App,
        enabled: bool,
    ) -> Result<Option<ProjectionSummary>, ConfigError> {
        let label = format!("{env}/{app}");
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let path = app_path(env, app);
            self.coord.sync(&path).await?;
            let Some(node) = self.coord.get(&path).await? else {
                if !enabled {
                    return Ok(None);
                }
                self.coord
                    .ensure_path_with_acl(&path, &self.node_acl)
                    .await?;
                continue;
            };
            let mut settings = AppSettings::decode(&node.data);
            settings.spring_projection = enabled;
            let mut ops = vec![WriteOp::SetData {
                path: path.clone(),
                data: settings.encode(),
                expected_version: Some(node.stat.version),
            }];
            let context = spring_context_path(env, app);
            let summary = if enabled {
                let (checks, plan, context) = self.projection_ops(env, app, None, &label).await?;
                ops.extend(checks);
                let summary = ProjectionSummary::of(context, &plan);
                ops.extend(plan.ops);
                summary
            } else {
                let existing = self.read_subtree(&context).await?;
                let mut summary = ProjectionSummary {
                    context: context.clone(),
                    ..ProjectionSummary::default()
                };
                if let Some(existing) = existing {
                    summary.deleted = existing.len();
                    ops.extend(projection::remove_context(&context, &existing));
                }
                summary
            };
            let size = multi_request_bytes(&ops);
            if size > self.limits.max_request_bytes {
                return Err(ConfigError::RequestTooLarge {
                    key: label,
                    size,
                    limit: self.limits.max_request_bytes,
                    projected: true,
                });
            }
            match self.coord.multi(ops).await {
                Ok(_) => return Ok(Some(summary)),
                Err(err) if is_race(&err.source) => {
                    if started.elapsed() > CONTENTION_DEADLINE {
                        return Err(ConfigError::Contention {
                            key: label,
                            attempts: attempt,
                        });
                    }
                    backoff(attempt).await;
                }
                Err(err) => return Err(err.source.into()),
            }
        }
    }

    // ---- ACLs --------------------------------------------------------------------------------

    /// Gives every node the config center owns its [`ConfigCenter::node_acl`]: `/arbor` and
    /// everything below it, and the Spring projection contexts of the apps that have the
    /// projection on. For a tree written before the center had a credential; the server runs
    /// it whenever its API session starts with one. It needs the ADMIN permission, which the
    /// open ACL grants anyone and the center's ACL grants its credential.
    ///
    /// Top down: a node's children are listed only after the node has the center's ACL, so a
    /// child created meanwhile by someone else is listed (and protected) too, and from then on
    /// nobody else can create one. Cost: one getACL and one getChildren per node, and a setACL
    /// per node that needed it (`WALK_CONCURRENCY` requests in flight). Without a credential
    /// (the open ACL) it does nothing: it never opens up protected nodes.
    pub async fn protect_existing(&self) -> Result<ProtectOutcome, ConfigError> {
        let mut outcome = ProtectOutcome::default();
        if self.node_acl.same_entries(&Acl::open()) {
            return Ok(outcome);
        }
        self.protect_subtree(ARBOR_ROOT, &mut outcome).await?;
        for env in self.list_envs().await? {
            for app in self.list_apps(&env).await? {
                if self.app_settings(&env, &app).await?.spring_projection {
                    let context = spring_context_path(&env, &app);
                    self.protect_subtree(&context, &mut outcome).await?;
                }
            }
        }
        Ok(outcome)
    }

    /// [`ConfigCenter::protect_existing`] for `root` and its subtree, level by level.
    async fn protect_subtree(
        &self,
        root: &str,
        outcome: &mut ProtectOutcome,
    ) -> Result<(), ConfigError> {
        let mut level = vec![root.to_string()];
        while !level.is_empty() {
            let mut next = Vec::new();
            for chunk in level.chunks(WALK_CONCURRENCY) {
                let results = join_all(chunk.iter().map(|path| async move {
                    let changed = self.protect_node(path).await?;
                    let children = self.coord.children(path).await?;
                    Ok::<_, ConfigError>((changed, children))
                }))
                .await;
                for (parent, result) in chunk.iter().zip(results) {
                    let (changed, children) = result?;
                    let Some(changed) = changed else { continue };
                    outcome.checked += 1;
                    outcome.changed += usize::from(changed);
                    let parent = parent.trim_end_matches('/');
                    next.extend(
                        children
                            .unwrap_or_default()
                            .into_iter()
                            .map(|child| format!("{parent}/{child}")),
                    );
                }
            }
            level = next;
        }
        Ok(())
    }

    /// Sets the center's ACL on `path` unless it has it: whether it changed it, or `None` if
    /// the node does not exist (deleted meanwhile).
    async fn protect_node(&self, path: &str) -> Result<Option<bool>, ConfigError> {
        let protect_error = |source| ConfigError::Protect {
            path: path.to_string(),
            source,
        };
        let Some((acl, _)) = self.coord.get_acl(path).await.map_err(protect_error)? else {
            return Ok(None);
        };
        if acl.same_entries(&self.node_acl) {
            return Ok(Some(false));
        }
        match self.coord.set_acl(path, &self.node_acl, None).await {
            Ok(_) => Ok(Some(true)),
            Err(CoordError::NoNode) => Ok(None),
            Err(source) => Err(protect_error(source)),
        }
    }
}
