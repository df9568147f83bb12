//! The registry side of the agent: what it registers ([`Registration`], turned into the naming
//! crate's Curator `ServiceInstance`) and the three writes it needs ([`Registrar`]), done by
//! `arbor_naming::Registry` on any [`Coordination`] (`/services/<service>/<id>`, ephemeral).

use std::future::Future;

use arbor_coord::Coordination;
use arbor_naming::{HealthStatus, NamingError, Registry, RegistryLayout, ServiceInstance};

use crate::config::Service;

/// One service's registry entry as the agent wants it.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub service: Service,
    /// False while the check fails but the entry is not yet removed (`instance_status: DOWN`).
    pub up: bool,
}

impl Registration {
    /// The registry node, for logs.
    pub fn path(&self) -> String {
        RegistryLayout::default()
            .instance_path(&self.service.name, &self.service.id)
            .unwrap_or_else(|err| err.to_string())
    }

    /// Whether `other` lives at the same node (same service name and id).
    pub fn same_node(&self, other: &Registration) -> bool {
        self.service.name == other.service.name && self.service.id == other.service.id
    }

    /// The Curator `ServiceInstance`: a DYNAMIC instance with a Spring Cloud payload whose
    /// metadata carries the service's metadata, weight and health.
    pub fn instance(&self, registration_time_ms: i64) -> ServiceInstance {
        let service = &self.service;
        let mut instance = ServiceInstance::new(&service.name, &service.id)
            .with_address(&service.address)
            .with_port(service.port)
            .with_registration_time(registration_time_ms);
        for (key, value) in &service.metadata {
            instance = instance.with_metadata(key, value);
        }
        if let Some(weight) = service.weight {
            instance = instance.with_weight(f64::from(weight));
        }
        instance.with_health(if self.up {
            HealthStatus::Up
        } else {
            HealthStatus::Down
        })
    }
}

/// The registry writes the agent makes.
pub trait Registrar: Send + Sync + 'static {
    /// Creates the entry as an ephemeral node of this session, replacing a node with the same
    /// id (e.g. left by this host's previous, not yet expired session).
    fn register(
        &self,
        entry: &Registration,
        registration_time_ms: i64,
    ) -> impl Future<Output = Result<(), NamingError>> + Send;

    /// Rewrites an existing entry in place (a health transition or changed metadata);
    /// [`NamingError::NotFound`] if it is gone.
    fn update(
        &self,
        entry: &Registration,
        registration_time_ms: i64,
    ) -> impl Future<Output = Result<(), NamingError>> + Send;

    /// Removes the entry; missing is fine.
    fn deregister(
        &self,
        service: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), NamingError>> + Send;
}

fn registry<C: Coordination + Clone>(coord: &C) -> Registry<C> {
    Registry::new(coord.clone(), RegistryLayout::default())
}

impl<C: Coordination + Clone> Registrar for C {
    async fn register(&self, entry: &Registration, time: i64) -> Result<(), NamingError> {
        registry(self)
            .register(&entry.instance(time))
            .await
            .map(|_| ())
    }

    async fn update(&self, entry: &Registration, time: i64) -> Result<(), NamingError> {
        let wanted = entry.instance(time);
        registry(self)
            .update(&entry.service.name, &entry.service.id, |instance| {
                *instance = wanted.clone();
                Ok(())
            })
            .await
            .map(|_| ())
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<(), NamingError> {
        registry(self).deregister(service, id).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_registration_is_a_curator_instance() {
        let entry = Registration {
            service: Service {
                name: "web".into(),
                id: "web-1".into(),
                address: "10.1.2.3".into(),
                port: 8080,
                metadata: BTreeMap::from([("zone".to_string(), "a".to_string())]),
                weight: Some(5),
                check: None,
            },
            up: false,
        };
        assert_eq!(entry.path(), "/services/web/web-1");
        let instance = entry.instance(1_700_000_000_000);
        instance.validate().expect("valid for the registry");
        assert_eq!(instance.address.as_deref(), Some("10.1.2.3"));
        assert_eq!(instance.port, Some(8080));
        assert_eq!(instance.registration_time_utc, 1_700_000_000_000);
        assert_eq!(instance.health(), HealthStatus::Down);
        assert_eq!(instance.weight(), 5.0);
        assert_eq!(instance.zone().as_deref(), Some("a"));
        let value: serde_json::Value = serde_json::from_slice(&instance.to_json()).unwrap();
        assert_eq!(value["serviceType"], "DYNAMIC");
        assert_eq!(
            value["payload"]["@class"],
            "org.springframework.cloud.zookeeper.discovery.ZookeeperInstance"
        );
        assert_eq!(value["payload"]["metadata"]["instance_status"], "DOWN");
    }
}
