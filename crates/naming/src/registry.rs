//! The registry on a [`Coordination`]: register, update, deregister, list and watch, in
//! Curator's layout (`<base>/<service>/<instanceId>`, see [`RegistryLayout`]).
//!
//! DYNAMIC instances are ephemeral nodes of the registering session, so they vanish when it
//! ends; STATIC and PERMANENT ones are persistent. Parents are created as containers, as Curator
//! does (`creatingParentContainersIfNeeded`), so the server removes a service node once its last
//! instance is gone. A node whose data is not a readable instance never fails a query: it is
//! left out and reported in the result's warnings.
//!
//! The watch index is Consul's idea on ZooKeeper's stats: the largest of the service node's
//! pzxid (moves when an instance node is created or deleted) and the instances' mzxid (moves
//! when one is updated). It only grows, so `index > last seen` means "changed".

use std::time::Duration;

use arbor_coord::{Change, ChangeKind, CoordError, Coordination, CreateKind};
use futures::StreamExt;

use crate::instance::{HealthStatus, InstanceError, ServiceInstance, ServiceType};
use crate::layout::RegistryLayout;
use crate::query::{InstanceQuery, QueryError, Selection};

/// How many times a write is retried when the node changes under it.
const WRITE_ATTEMPTS: usize = 8;
/// How many services are read at once when listing.
const LIST_CONCURRENCY: usize = 16;

/// Failures of registry operations.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    #[error(transparent)]
    Invalid(#[from] InstanceError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("instance {id:?} of service {service:?} is not registered")]
    NotFound { service: String, id: String },
    /// The request contradicts the registry's state (e.g. deleting another session's ephemeral
    /// instance, changing an instance's identity).
    #[error("{0}")]
    Conflict(String),
    #[error("{path}: {source}")]
    Coord { path: String, source: CoordError },
}

impl NamingError {
    fn coord(path: &str, source: CoordError) -> NamingError {
        NamingError::Coord {
            path: path.to_string(),
            source,
        }
    }

    /// Whether the coordination service could not be reached (the outcome of a write is unknown).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            NamingError::Coord {
                source: CoordError::Unavailable(_) | CoordError::SessionExpired,
                ..
            }
        )
    }
}

/// An instance as found in the registry, with the node facts a reader needs.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisteredInstance {
    /// The node's name (the instance id, plus a sequence suffix for DYNAMIC_SEQUENTIAL).
    pub node: String,
    pub instance: ServiceInstance,
    /// zxid of the node's last data change.
    pub mzxid: i64,
    /// The owning session for ephemeral (DYNAMIC) nodes, 0 for persistent ones.
    pub ephemeral_owner: i64,
}

impl RegisteredInstance {
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral_owner != 0
    }
}

impl AsRef<ServiceInstance> for RegisteredInstance {
    fn as_ref(&self) -> &ServiceInstance {
        &self.instance
    }
}

/// A registry node that could not be read as an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeWarning {
    pub path: String,
    pub error: String,
}

/// Every readable instance of one service, at one index.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSnapshot {
    pub service: String,
    /// Whether the service node exists.
    pub exists: bool,
    /// The watch index (see the module docs); for a missing service, the base node's pzxid.
    pub index: i64,
    /// Sorted by node name.
    pub instances: Vec<RegisteredInstance>,
    pub warnings: Vec<NodeWarning>,
}

/// A query's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub service: String,
    pub exists: bool,
    pub index: i64,
    pub selection: Selection<RegisteredInstance>,
    pub warnings: Vec<NodeWarning>,
}

/// One line of the service list.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSummary {
    pub name: String,
    /// Readable instances.
    pub instances: usize,
    /// Of those, passing (enabled and UP).
    pub passing: usize,
    pub index: i64,
}

/// All services.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ServiceList {
    /// Sorted by name.
    pub services: Vec<ServiceSummary>,
    pub warnings: Vec<NodeWarning>,
}

/// The service registry over a coordination handle.
#[derive(Clone, Debug)]
pub struct Registry<C> {
    coord: C,
    layout: RegistryLayout,
}

impl<C: Coordination> Registry<C> {
    pub fn new(coord: C, layout: RegistryLayout) -> Registry<C> {
        Registry { coord, layout }
    }

    pub fn coord(&self) -> &C {
        &self.coord
    }

    pub fn layout(&self) -> &RegistryLayout {
        &self.layout
    }

    /// Registers `instance` (validated first): an ephemeral node of this handle's session for
    /// DYNAMIC, a persistent one for STATIC/PERMANENT. An existing node with the same id is
    /// replaced, as Curator's `registerService` does. Returns the node's path.
    pub async fn register(&self, instance: &ServiceInstance) -> Result<String, NamingError> {
        instance.validate()?;
        let service_path = self.layout.service_path(&instance.name)?;
        let path = self.layout.instance_path(&instance.name, &instance.id)?;
        let kind = match instance.service_type {
            ServiceType::Dynamic => CreateKind::Ephemeral,
            ServiceType::DynamicSequential => CreateKind::EphemeralSequential,
            ServiceType::Static | ServiceType::Permanent => CreateKind::Persistent,
        };
        let data = instance.to_json();
        for _ in 0..WRITE_ATTEMPTS {
            match self.coord.create(&path, &data, kind).await {
                Ok(created) => return Ok(created),
                Err(CoordError::NoNode) => self.ensure_parents(&service_path).await?,
                Err(CoordError::NodeExists) => match self.coord.delete(&path, None).await {
                    Ok(()) | Err(CoordError::NoNode) => {}
                    Err(err) => return Err(NamingError::coord(&path, err)),
                },
                Err(err) => return Err(NamingError::coord(&path, err)),
            }
        }
        Err(NamingError::Conflict(format!(
            "{path}: gave up registering after {WRITE_ATTEMPTS} attempts (the node or its parent kept changing)"
        )))
    }

    /// The base and the service node as containers (persistent where the server has no
    /// containers), leaving existing nodes as they are.
    async fn ensure_parents(&self, service_path: &str) -> Result<(), NamingError> {
        let mut paths = self.layout.base_and_ancestors();
        paths.push(service_path.to_string());
        for path in paths {
            match self.coord.create(&path, &[], CreateKind::Container).await {
                Ok(_) | Err(CoordError::NodeExists) => {}
                Err(CoordError::Other(_)) | Err(CoordError::BadArguments(_)) => {
                    match self.coord.create(&path, &[], CreateKind::Persistent).await {
                        Ok(_) | Err(CoordError::NodeExists) => {}
                        Err(err) => return Err(NamingError::coord(&path, err)),
                    }
                }
                Err(err) => return Err(NamingError::coord(&path, err)),
            }
        }
        Ok(())
    }

    /// One instance, or `None` if it is not registered. A node that is not a readable instance
    /// is an error here ([`InstanceError::BadJson`]).
    pub async fn get(
        &self,
        service: &str,
        id: &str,
    ) -> Result<Option<RegisteredInstance>, NamingError> {
        let path = self.layout.instance_path(service, id)?;
        let Some(node) = self
            .coord
            .get(&path)
            .await
            .map_err(|err| NamingError::coord(&path, err))?
        else {
            return Ok(None);
        };
        Ok(Some(RegisteredInstance {
            node: id.to_string(),
            instance: ServiceInstance::from_json(&node.data)?,
            mzxid: node.stat.mzxid,
            ephemeral_owner: node.stat.ephemeral_owner,
        }))
    }

    /// Changes an instance in place (read, `change`, write back at the read version, retried
    /// if someone else wrote in between). The node keeps its kind and owner, so a DYNAMIC
    /// instance stays tied to its session. The service name and id cannot be changed.
    pub async fn update<F>(
        &self,
        service: &str,
        id: &str,
        mut change: F,
    ) -> Result<ServiceInstance, NamingError>
    where
        F: FnMut(&mut ServiceInstance) -> Result<(), InstanceError> + Send,
    {
        let path = self.layout.instance_path(service, id)?;
        let not_found = || NamingError::NotFound {
            service: service.to_string(),
            id: id.to_string(),
        };
        for _ in 0..WRITE_ATTEMPTS {
            let node = self
                .coord
                .get(&path)
                .await
                .map_err(|err| NamingError::coord(&path, err))?
                .ok_or_else(not_found)?;
            let mut instance = ServiceInstance::from_json(&node.data)?;
            let (name, instance_id) = (instance.name.clone(), instance.id.clone());
            change(&mut instance)?;
            if instance.name != name || instance.id != instance_id {
                return Err(NamingError::Conflict(
                    "an update cannot change an instance's service name or id".to_string(),
                ));
            }
            instance.validate()?;
            match self
                .coord
                .set_data(&path, &instance.to_json(), Some(node.stat.version))
                .await
            {
                Ok(_) => return Ok(instance),
                Err(CoordError::BadVersion) => continue,
                Err(CoordError::NoNode) => return Err(not_found()),
                Err(err) => return Err(NamingError::coord(&path, err)),
            }
        }
        Err(NamingError::Conflict(format!(
            "{path}: gave up updating after {WRITE_ATTEMPTS} attempts (concurrent writers)"
        )))
    }

    /// Sets the instance's health status (a health transition).
    pub async fn set_health(
        &self,
        service: &str,
        id: &str,
        health: HealthStatus,
    ) -> Result<ServiceInstance, NamingError> {
        self.update(service, id, |instance| {
            instance.set_metadata(crate::instance::HEALTH_KEY, health.as_str())
        })
        .await
    }

    /// Sets (`Some`) or removes (`None`) one metadata entry.
    pub async fn set_metadata(
        &self,
        service: &str,
        id: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<ServiceInstance, NamingError> {
        self.update(service, id, |instance| match value {
            Some(value) => instance.set_metadata(key, value),
            None => {
                instance.remove_metadata(key);
                Ok(())
            }
        })
        .await
    }

    /// Removes an instance; `false` if it was not registered.
    pub async fn deregister(&self, service: &str, id: &str) -> Result<bool, NamingError> {
        let path = self.layout.instance_path(service, id)?;
        match self.coord.delete(&path, None).await {
            Ok(()) => Ok(true),
            Err(CoordError::NoNode) => Ok(false),
            Err(err) => Err(NamingError::coord(&path, err)),
        }
    }

    /// Every readable instance of `service`, with warnings for unreadable nodes.
    pub async fn snapshot(&self, service: &str) -> Result<ServiceSnapshot, NamingError> {
        Ok(self.read_service(service, false).await?.0)
    }

    /// [`Self::snapshot`] taking the name by value, so listing can run many at once (a closure
    /// returning a future that borrows its argument is not general enough for the stream).
    async fn snapshot_owned(&self, service: String) -> Result<ServiceSnapshot, NamingError> {
        self.snapshot(&service).await
    }

    /// The instances of `service` that `query` selects.
    pub async fn query(
        &self,
        service: &str,
        query: &InstanceQuery,
    ) -> Result<QueryResult, NamingError> {
        Ok(select(self.snapshot(service).await?, query))
    }

    /// Long poll: answers as soon as the service's index exceeds `after_index`, or with the
    /// current state once `wait` has passed. `after_index` 0 answers at once.
    pub async fn watch(
        &self,
        service: &str,
        query: &InstanceQuery,
        after_index: i64,
        wait: Duration,
    ) -> Result<QueryResult, NamingError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (snapshot, changes) = self.read_service(service, true).await?;
            if snapshot.index > after_index || tokio::time::Instant::now() >= deadline {
                return Ok(select(snapshot, query));
            }
            // Never empty: the children watch is always there.
            let any_change = futures::future::select_all(changes);
            match tokio::time::timeout_at(deadline, any_change).await {
                Ok((ChangeKind::SessionLost, _, _)) => {
                    // The watches are gone with the session; the next read says whether the
                    // handle still works.
                    self.coord
                        .sync(self.layout.base())
                        .await
                        .map_err(|err| NamingError::coord(self.layout.base(), err))?;
                }
                Ok(_) => {}
                Err(_elapsed) => return self.query(service, query).await,
            }
        }
    }

    /// The children of the base path, sorted (none while the base does not exist).
    async fn service_names(&self) -> Result<Vec<String>, NamingError> {
        let base = self.layout.base();
        let mut names = self
            .coord
            .children(base)
            .await
            .map_err(|err| NamingError::coord(base, err))?
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    /// All services with their instance and passing counts.
    pub async fn list_services(&self) -> Result<ServiceList, NamingError> {
        let names = self.service_names().await?;
        let snapshots: Vec<Result<ServiceSnapshot, NamingError>> =
            futures::stream::iter(names.into_iter().map(|name| self.snapshot_owned(name)))
                .buffered(LIST_CONCURRENCY)
                .collect()
                .await;
        let mut list = ServiceList::default();
        for snapshot in snapshots {
            let snapshot = match snapshot {
                Ok(snapshot) => snapshot,
                // A child name ZooKeeper accepted but a service name cannot be (never in
                // practice), or the node vanished: not a service to list.
                Err(NamingError::Invalid(_)) => continue,
                Err(err) => return Err(err),
            };
            if !snapshot.exists {
                continue;
            }
            list.services.push(ServiceSummary {
                passing: snapshot
                    .instances
                    .iter()
                    .filter(|i| i.instance.is_passing())
                    .count(),
                instances: snapshot.instances.len(),
                name: snapshot.service,
                index: snapshot.index,
            });
            list.warnings.extend(snapshot.warnings);
        }
        Ok(list)
    }

    /// The number of instance nodes of every service, sorted by name, read cheaply: one listing
    /// of the base and one stat per service (its child count), no instance data. So it counts
    /// nodes, readable instances or not, passing or not; `list_services` tells those apart.
    pub async fn instance_counts(&self) -> Result<Vec<(String, usize)>, NamingError> {
        let names = self.service_names().await?;
        let stats: Vec<(String, Result<Option<usize>, NamingError>)> =
            futures::stream::iter(names.into_iter().map(|name| async move {
                let count = match self.layout.service_path(&name) {
                    Ok(path) => self
                        .coord
                        .stat(&path)
                        .await
                        .map(|stat| {
                            stat.map(|stat| usize::try_from(stat.num_children).unwrap_or(0))
                        })
                        .map_err(|err| NamingError::coord(&path, err)),
                    Err(err) => Err(err.into()),
                };
                (name, count)
            }))
            .buffered(LIST_CONCURRENCY)
            .collect()
            .await;
        let mut counts = Vec::with_capacity(stats.len());
        for (name, count) in stats {
            match count {
                Ok(Some(count)) => counts.push((name, count)),
                // Gone since the listing, or a name that cannot be a service: not a service.
                Ok(None) | Err(NamingError::Invalid(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(counts)
    }

    /// Reads one service; with `watch`, also leaves one-time watches on its children and on
    /// every instance, returned as [`Change`]s.
    ///
    /// Stats are read before the listing and the listing before the data, so the index can only
    /// lag the data it is returned with: a change in between makes the next poll answer at once
    /// instead of being missed.
    async fn read_service(
        &self,
        service: &str,
        watch: bool,
    ) -> Result<(ServiceSnapshot, Vec<Change>), NamingError> {
        let service_path = self.layout.service_path(service)?;
        let base = self.layout.base();
        let base_stat = self
            .coord
            .stat(base)
            .await
            .map_err(|err| NamingError::coord(base, err))?;
        let service_stat = self
            .coord
            .stat(&service_path)
            .await
            .map_err(|err| NamingError::coord(&service_path, err))?;
        let mut changes = Vec::new();
        let children = if watch {
            let (children, change) = self
                .coord
                .watch_children(&service_path)
                .await
                .map_err(|err| NamingError::coord(&service_path, err))?;
            changes.push(change);
            children
        } else {
            self.coord
                .children(&service_path)
                .await
                .map_err(|err| NamingError::coord(&service_path, err))?
        };
        let mut snapshot = ServiceSnapshot {
            service: service.to_string(),
            exists: children.is_some(),
            index: base_stat.map(|stat| stat.pzxid).unwrap_or(0),
            instances: Vec::new(),
            warnings: Vec::new(),
        };
        let Some(mut children) = children else {
            return Ok((snapshot, changes));
        };
        children.sort();
        snapshot.index = service_stat.map(|stat| stat.pzxid).unwrap_or(0);
        let reads = children.into_iter().map(|child| {
            let path = format!("{service_path}/{child}");
            async move {
                let read = if watch {
                    self.coord
                        .watch_node(&path)
                        .await
                        .map(|(node, change)| (node, Some(change)))
                } else {
                    self.coord.get(&path).await.map(|node| (node, None))
                };
                (child, path, read)
            }
        });
        for (child, path, read) in futures::future::join_all(reads).await {
            let (node, change) = read.map_err(|err| NamingError::coord(&path, err))?;
            changes.extend(change);
            // Gone between the listing and the read: its deletion moved the pzxid past this
            // read, so a watcher hears of it.
            let Some(node) = node else { continue };
            snapshot.index = snapshot.index.max(node.stat.mzxid);
            match ServiceInstance::from_json(&node.data) {
                Ok(instance) => snapshot.instances.push(RegisteredInstance {
                    node: child,
                    instance,
                    mzxid: node.stat.mzxid,
                    ephemeral_owner: node.stat.ephemeral_owner,
                }),
                Err(err) => snapshot.warnings.push(NodeWarning {
                    path,
                    error: err.to_string(),
                }),
            }
        }
        Ok((snapshot, changes))
    }
}

fn select(snapshot: ServiceSnapshot, query: &InstanceQuery) -> QueryResult {
    QueryResult {
        selection: query.select(snapshot.instances),
        service: snapshot.service,
        exists: snapshot.exists,
        index: snapshot.index,
        warnings: snapshot.warnings,
    }
}
