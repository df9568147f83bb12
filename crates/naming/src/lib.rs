//! Arbor's naming service: a service registry in Curator's ServiceDiscovery layout, so Java
//! services registered with Curator or Spring Cloud Zookeeper Discovery, hosts registered by
//! `arbor-agent`, and Arbor's API and CLI all see one registry.
//!
//! - [`instance`]: the node data, Curator's `ServiceInstance` JSON (pure).
//! - [`layout`]: where it lives, `<base>/<service>/<instanceId>` (pure).
//! - [`query`]: filters, the protection threshold and weighted picks (pure).
//! - [`registry`]: register, update, deregister, query and watch on a `Coordination`.
//! - [`api`]: the HTTP API (`/api/v1/services`) as an `ApiHandler`.
//! - [`dubbo`]: a read-only view of Dubbo's `/dubbo/<interface>/providers`.

pub mod api;
pub mod dubbo;
pub mod instance;
pub mod layout;
pub mod query;
pub mod registry;

pub use api::NamingApi;
pub use instance::{HealthStatus, InstanceError, ServiceInstance, ServiceType, UriSpec};
pub use layout::RegistryLayout;
pub use registry::{
    NamingError, NodeWarning, QueryResult, RegisteredInstance, Registry, ServiceSnapshot,
};
