//! [`Coordination`] over the ZooKeeper protocol, on the `zookeeper-client` crate. Works against
//! Arbor and against Apache ZooKeeper.

use std::time::Duration;

use zookeeper_client as zk;

use crate::{
    Acl, AclEntry, Change, ChangeKind, CoordError, Coordination, CreateKind, MultiError, Node,
    NodeStat, OpResult, Perms, WriteOp,
};

/// A ZooKeeper session used through the coordination trait. Cloning shares the session.
#[derive(Clone, Debug)]
pub struct ZkCoord {
    client: zk::Client,
}

impl ZkCoord {
    /// Connects to `servers` (a ZooKeeper connect string, `host:port[,host:port...][/chroot]`).
    pub async fn connect(servers: &str, session_timeout: Duration) -> Result<ZkCoord, CoordError> {
        let client = zk::Client::connector()
            .with_session_timeout(session_timeout)
            .with_connection_timeout(session_timeout.min(Duration::from_secs(10)))
            .connect(servers)
            .await
            .map_err(|err| CoordError::Unavailable(format!("connecting to {servers}: {err}")))?;
        Ok(ZkCoord { client })
    }

    /// Wraps an existing client session.
    pub fn from_client(client: zk::Client) -> ZkCoord {
        ZkCoord { client }
    }

    pub fn client(&self) -> &zk::Client {
        &self.client
    }

    /// Resolves when the session ends for good (expired, closed or auth failed); the handle is
    /// useless afterwards and the owner should connect anew.
    pub fn session_ended(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut watcher = self.client.state_watcher();
        async move {
            loop {
                if watcher.state().is_terminated() || watcher.changed().await.is_terminated() {
                    return;
                }
            }
        }
    }
}

fn coord_error(err: zk::Error) -> CoordError {
    match err {
        zk::Error::NoNode => CoordError::NoNode,
        zk::Error::NodeExists => CoordError::NodeExists,
        zk::Error::BadVersion => CoordError::BadVersion,
        zk::Error::NotEmpty => CoordError::NotEmpty,
        zk::Error::NoChildrenForEphemerals => CoordError::NoChildrenForEphemerals,
        zk::Error::NoAuth | zk::Error::AuthFailed => CoordError::NoAuth,
        zk::Error::BadArguments(what) => CoordError::BadArguments(what.to_string()),
        zk::Error::InvalidAcl => CoordError::BadArguments("invalid ACL".to_string()),
        zk::Error::SessionExpired | zk::Error::ClientClosed => CoordError::SessionExpired,
        zk::Error::ConnectionLoss
        | zk::Error::Timeout
        | zk::Error::NoHosts
        | zk::Error::SessionMoved => CoordError::Unavailable(err.to_string()),
        other => CoordError::Other(other.to_string()),
    }
}

fn node_stat(stat: &zk::Stat) -> NodeStat {
    NodeStat {
        czxid: stat.czxid,
        mzxid: stat.mzxid,
        pzxid: stat.pzxid,
        ctime: stat.ctime,
        mtime: stat.mtime,
        version: stat.version,
        cversion: stat.cversion,
        aversion: stat.aversion,
        ephemeral_owner: stat.ephemeral_owner,
        data_length: stat.data_length,
        num_children: stat.num_children,
    }
}

fn create_mode(kind: CreateKind) -> zk::CreateMode {
    match kind {
        CreateKind::Persistent => zk::CreateMode::Persistent,
        CreateKind::PersistentSequential => zk::CreateMode::PersistentSequential,
        CreateKind::Ephemeral => zk::CreateMode::Ephemeral,
        CreateKind::EphemeralSequential => zk::CreateMode::EphemeralSequential,
        CreateKind::Container => zk::CreateMode::Container,
    }
}

fn zk_acls(acl: &Acl) -> Vec<zk::Acl> {
    acl.entries()
        .iter()
        .map(|entry| {
            zk::Acl::new(
                zk_permission(entry.perms),
                zk::AuthId::new(&entry.scheme, &entry.id),
            )
        })
        .collect()
}

fn zk_permission(perms: Perms) -> zk::Permission {
    [
        (Perms::READ, zk::Permission::READ),
        (Perms::WRITE, zk::Permission::WRITE),
        (Perms::CREATE, zk::Permission::CREATE),
        (Perms::DELETE, zk::Permission::DELETE),
        (Perms::ADMIN, zk::Permission::ADMIN),
    ]
    .into_iter()
    .filter(|(ours, _)| perms.contains(*ours))
    .fold(zk::Permission::NONE, |all, (_, theirs)| all | theirs)
}

fn acl_of(acls: &[zk::Acl]) -> Acl {
    Acl::new(
        acls.iter()
            .map(|acl| {
                let permission = acl.permission();
                let perms = [
                    (zk::Permission::READ, Perms::READ),
                    (zk::Permission::WRITE, Perms::WRITE),
                    (zk::Permission::CREATE, Perms::CREATE),
                    (zk::Permission::DELETE, Perms::DELETE),
                    (zk::Permission::ADMIN, Perms::ADMIN),
                ]
                .into_iter()
                .filter(|(theirs, _)| permission.has(*theirs))
                .fold(0, |bits, (_, ours)| bits | ours.bits());
                AclEntry {
                    perms: Perms::from_bits(perms),
                    scheme: acl.scheme().to_string(),
                    id: acl.id().to_string(),
                }
            })
            .collect(),
    )
}

fn change_kind(event: &zk::WatchedEvent) -> ChangeKind {
    match event.event_type {
        zk::EventType::NodeCreated => ChangeKind::Created,
        zk::EventType::NodeDeleted => ChangeKind::Deleted,
        zk::EventType::NodeDataChanged => ChangeKind::DataChanged,
        zk::EventType::NodeChildrenChanged => ChangeKind::ChildrenChanged,
        zk::EventType::Session => ChangeKind::SessionLost,
    }
}

fn oneshot_change(watcher: zk::OneshotWatcher) -> Change {
    Change::new(async move { change_kind(&watcher.changed().await) })
}

impl Coordination for ZkCoord {
    async fn get(&self, path: &str) -> Result<Option<Node>, CoordError> {
        match self.client.get_data(path).await {
            Ok((data, stat)) => Ok(Some(Node {
                data,
                stat: node_stat(&stat),
            })),
            Err(zk::Error::NoNode) => Ok(None),
            Err(err) => Err(coord_error(err)),
        }
    }

    async fn stat(&self, path: &str) -> Result<Option<NodeStat>, CoordError> {
        let stat = self.client.check_stat(path).await.map_err(coord_error)?;
        Ok(stat.as_ref().map(node_stat))
    }

    async fn children(&self, path: &str) -> Result<Option<Vec<String>>, CoordError> {
        match self.client.list_children(path).await {
            Ok(children) => Ok(Some(children)),
            Err(zk::Error::NoNode) => Ok(None),
            Err(err) => Err(coord_error(err)),
        }
    }

    async fn create_with_acl(
        &self,
        path: &str,
        data: &[u8],
        kind: CreateKind,
        acl: &Acl,
    ) -> Result<String, CoordError> {
        let acls = zk_acls(acl);
        let options = create_mode(kind).with_acls(zk::Acls::new(&acls));
        let (_, sequence) = self
            .client
            .create(path, data, &options)
            .await
            .map_err(coord_error)?;
        Ok(match kind {
            CreateKind::PersistentSequential | CreateKind::EphemeralSequential => {
                format!("{path}{sequence}")
            }
            _ => path.to_string(),
        })
    }

    async fn set_data(
        &self,
        path: &str,
        data: &[u8],
        expected_version: Option<i32>,
    ) -> Result<NodeStat, CoordError> {
        let stat = self
            .client
            .set_data(path, data, expected_version)
            .await
            .map_err(coord_error)?;
        Ok(node_stat(&stat))
    }

    async fn delete(&self, path: &str, expected_version: Option<i32>) -> Result<(), CoordError> {
        self.client
            .delete(path, expected_version)
            .await
            .map_err(coord_error)
    }

    async fn multi(&self, ops: Vec<WriteOp>) -> Result<Vec<OpResult>, MultiError> {
        let results = {
            let mut writer = self.client.new_multi_writer();
            for (index, op) in ops.iter().enumerate() {
                let added = match op {
                    WriteOp::Create {
                        path,
                        data,
                        kind,
                        acl,
                    } => {
                        let acls = zk_acls(acl);
                        writer.add_create(
                            path,
                            data,
                            &create_mode(*kind).with_acls(zk::Acls::new(&acls)),
                        )
                    }
                    WriteOp::SetData {
                        path,
                        data,
                        expected_version,
                    } => writer.add_set_data(path, data, *expected_version),
                    WriteOp::Delete {
                        path,
                        expected_version,
                    } => writer.add_delete(path, *expected_version),
                    WriteOp::Check { path, version } => writer.add_check_version(path, *version),
                };
                added.map_err(|err| MultiError {
                    index: Some(index),
                    source: coord_error(err),
                })?;
            }
            writer.commit().await
        };
        match results {
            Ok(results) => Ok(results
                .into_iter()
                .map(|result| match result {
                    zk::MultiWriteResult::Create { path, .. } => OpResult::Created { path },
                    zk::MultiWriteResult::SetData { stat } => OpResult::SetData {
                        stat: node_stat(&stat),
                    },
                    zk::MultiWriteResult::Delete => OpResult::Deleted,
                    _ => OpResult::Checked,
                })
                .collect()),
            Err(zk::MultiWriteError::OperationFailed { index, source }) => Err(MultiError {
                index: Some(index),
                source: coord_error(source),
            }),
            Err(zk::MultiWriteError::RequestFailed { source }) => Err(MultiError {
                index: None,
                source: coord_error(source),
            }),
        }
    }

    async fn watch_node(&self, path: &str) -> Result<(Option<Node>, Change), CoordError> {
        // A data watch needs the node; an exists watch covers its absence. Between the two the
        // node may appear, so retry until one of them sticks.
        loop {
            match self.client.get_and_watch_data(path).await {
                Ok((data, stat, watcher)) => {
                    return Ok((
                        Some(Node {
                            data,
                            stat: node_stat(&stat),
                        }),
                        oneshot_change(watcher),
                    ));
                }
                Err(zk::Error::NoNode) => {}
                Err(err) => return Err(coord_error(err)),
            }
            let (stat, watcher) = self
                .client
                .check_and_watch_stat(path)
                .await
                .map_err(coord_error)?;
            if stat.is_none() {
                return Ok((None, oneshot_change(watcher)));
            }
        }
    }

    async fn watch_children(
        &self,
        path: &str,
    ) -> Result<(Option<Vec<String>>, Change), CoordError> {
        loop {
            match self.client.list_and_watch_children(path).await {
                Ok((children, watcher)) => return Ok((Some(children), oneshot_change(watcher))),
                Err(zk::Error::NoNode) => {}
                Err(err) => return Err(coord_error(err)),
            }
            let (stat, watcher) = self
                .client
                .check_and_watch_stat(path)
                .await
                .map_err(coord_error)?;
            if stat.is_none() {
                return Ok((None, oneshot_change(watcher)));
            }
        }
    }

    async fn sync(&self, path: &str) -> Result<(), CoordError> {
        self.client.sync(path).await.map_err(coord_error)
    }

    async fn get_acl(&self, path: &str) -> Result<Option<(Acl, NodeStat)>, CoordError> {
        match self.client.get_acl(path).await {
            Ok((acls, stat)) => Ok(Some((acl_of(&acls), node_stat(&stat)))),
            Err(zk::Error::NoNode) => Ok(None),
            Err(err) => Err(coord_error(err)),
        }
    }

    async fn set_acl(
        &self,
        path: &str,
        acl: &Acl,
        expected_aversion: Option<i32>,
    ) -> Result<NodeStat, CoordError> {
        let acls = zk_acls(acl);
        let stat = self
            .client
            .set_acl(path, &acls, expected_aversion)
            .await
            .map_err(coord_error)?;
        Ok(node_stat(&stat))
    }

    async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<(), CoordError> {
        self.client.auth(scheme, auth).await.map_err(coord_error)
    }

    fn session_id(&self) -> i64 {
        self.client.session_id().0
    }
}
