//! The seam to the registry: what the agent registers ([`Registration`]) and the three writes
//! it needs ([`Registrar`]), implemented on any [`Coordination`] in the naming layout
//! (`/services/<service>/<id>`, ephemeral, Curator `ServiceInstance` JSON).
//!
//! SEAM: the instance JSON and paths below follow DESIGN.md's naming layout and the naming
//! crate's model (Spring Cloud `ZookeeperInstance` payload, health as
//! `payload.metadata.instance_status`, weight as `payload.metadata.weight`). When `arbor-naming`
//! is on main this module becomes a thin call into its `ServiceInstance` and `Registry`.

use std::future::Future;

use arbor_coord::{CoordError, Coordination, CreateKind};
use serde_json::{json, Map, Value};

use crate::config::Service;

pub const REGISTRY_BASE: &str = "/services";
const SPRING_PAYLOAD_CLASS: &str =
    "org.springframework.cloud.zookeeper.discovery.ZookeeperInstance";
const HEALTH_KEY: &str = "instance_status";
const WEIGHT_KEY: &str = "weight";

/// One service's registry entry as the agent wants it.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub service: Service,
    /// False while the check fails but the entry is not yet removed (`instance_status: DOWN`).
    pub up: bool,
}

impl Registration {
    pub fn path(&self) -> String {
        instance_path(&self.service.name, &self.service.id)
    }

    /// The node data: a Curator `ServiceInstance` (Jackson's field order).
    pub fn to_json(&self, registration_time_ms: i64) -> Vec<u8> {
        let service = &self.service;
        let mut metadata: Map<String, Value> = service
            .metadata
            .iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect();
        if let Some(weight) = service.weight {
            metadata.insert(WEIGHT_KEY.into(), Value::String(weight.to_string()));
        }
        metadata.insert(
            HEALTH_KEY.into(),
            Value::String(if self.up { "UP" } else { "DOWN" }.into()),
        );
        let instance = json!({
            "name": service.name,
            "id": service.id,
            "address": service.address,
            "port": service.port,
            "sslPort": null,
            "payload": {
                "@class": SPRING_PAYLOAD_CLASS,
                "id": service.id,
                "name": service.name,
                "metadata": metadata,
            },
            "registrationTimeUTC": registration_time_ms,
            "serviceType": "DYNAMIC",
            "uriSpec": {"parts": [
                {"value": "scheme", "variable": true},
                {"value": "://", "variable": false},
                {"value": "address", "variable": true},
                {"value": ":", "variable": false},
                {"value": "port", "variable": true},
            ]},
            "enabled": true,
        });
        serde_json::to_vec(&instance).unwrap_or_default()
    }
}

pub fn instance_path(service: &str, id: &str) -> String {
    format!("{REGISTRY_BASE}/{service}/{id}")
}

/// The registry writes the agent makes.
pub trait Registrar: Send + Sync + 'static {
    /// Creates the entry as an ephemeral node of this session, replacing a node with the same
    /// id (e.g. left by this host's previous, not yet expired session).
    fn register(
        &self,
        entry: &Registration,
        registration_time_ms: i64,
    ) -> impl Future<Output = Result<(), CoordError>> + Send;

    /// Rewrites an existing entry (a health transition or changed metadata); `NoNode` if it
    /// is gone.
    fn update(
        &self,
        entry: &Registration,
        registration_time_ms: i64,
    ) -> impl Future<Output = Result<(), CoordError>> + Send;

    /// Removes the entry; missing is fine.
    fn deregister(
        &self,
        service: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), CoordError>> + Send;
}

impl<C: Coordination> Registrar for C {
    async fn register(&self, entry: &Registration, time: i64) -> Result<(), CoordError> {
        let path = entry.path();
        let data = entry.to_json(time);
        for _ in 0..8 {
            match self.create(&path, &data, CreateKind::Ephemeral).await {
                Ok(_) => return Ok(()),
                Err(CoordError::NoNode) => {
                    for parent in [
                        REGISTRY_BASE.to_string(),
                        format!("{REGISTRY_BASE}/{}", entry.service.name),
                    ] {
                        match self.create(&parent, &[], CreateKind::Container).await {
                            Ok(_) | Err(CoordError::NodeExists) => {}
                            Err(err) => return Err(err),
                        }
                    }
                }
                Err(CoordError::NodeExists) => match self.delete(&path, None).await {
                    Ok(()) | Err(CoordError::NoNode) => {}
                    Err(err) => return Err(err),
                },
                Err(err) => return Err(err),
            }
        }
        Err(CoordError::Other(format!(
            "{path}: kept changing while registering"
        )))
    }

    async fn update(&self, entry: &Registration, time: i64) -> Result<(), CoordError> {
        self.set_data(&entry.path(), &entry.to_json(time), None)
            .await
            .map(|_| ())
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<(), CoordError> {
        match self.delete(&instance_path(service, id), None).await {
            Ok(()) | Err(CoordError::NoNode) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn curator_instance_json() {
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
        let value: Value = serde_json::from_slice(&entry.to_json(1_700_000_000_000)).unwrap();
        assert_eq!(value["name"], "web");
        assert_eq!(value["id"], "web-1");
        assert_eq!(value["address"], "10.1.2.3");
        assert_eq!(value["port"], 8080);
        assert_eq!(value["sslPort"], Value::Null);
        assert_eq!(value["registrationTimeUTC"], 1_700_000_000_000i64);
        assert_eq!(value["serviceType"], "DYNAMIC");
        assert_eq!(value["enabled"], true);
        assert_eq!(value["payload"]["@class"], SPRING_PAYLOAD_CLASS);
        let metadata = &value["payload"]["metadata"];
        assert_eq!(metadata["zone"], "a");
        assert_eq!(metadata["weight"], "5");
        assert_eq!(metadata["instance_status"], "DOWN");
    }
}
