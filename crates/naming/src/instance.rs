//! The registry's data: Curator's `ServiceInstance` JSON, exactly as Curator's
//! `JsonInstanceSerializer` writes it, with Arbor's fields inside `payload.metadata`.
//!
//! A node written by Curator 5 looks like
//!
//! ```json
//! {"name":"web","id":"6a1b…","address":"10.0.0.1","port":8080,"sslPort":null,
//!  "payload":{"@class":"org.springframework.cloud.zookeeper.discovery.ZookeeperInstance",
//!             "id":"web-1","name":"web","metadata":{"instance_status":"UP"}},
//!  "registrationTimeUTC":1325129459728,"serviceType":"DYNAMIC",
//!  "uriSpec":{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false}]},
//!  "enabled":true}
//! ```
//!
//! (Curator's default "compatible" mode leaves `enabled` out; readers take a missing `enabled`
//! as `true`.) Unknown top-level fields are kept on a round trip, and a payload of any other shape
//! (another Java class, a string, a map) is carried through untouched.
//!
//! Arbor's own fields are string entries of `payload.metadata`, the map Spring Cloud Zookeeper
//! exposes as `ServiceInstance.getMetadata()`, so Curator readers never see a new field:
//! health is Spring's own `instance_status` key (`UP`, `OUT_OF_SERVICE`, ...; missing means UP,
//! as Spring reads it), `zone` is the key Spring Cloud LoadBalancer's zone preference reads,
//! and `weight` and `tags` are Arbor's.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// `@class` of the payload Spring Cloud Zookeeper Discovery reads and writes. Jackson resolves
/// the payload's class from this property; a reader whose payload class differs cannot read the
/// instance, so Arbor writes Spring's class by default (see [`ServiceInstance::new`]).
pub const SPRING_PAYLOAD_CLASS: &str =
    "org.springframework.cloud.zookeeper.discovery.ZookeeperInstance";

/// Metadata key of the health status (Spring Cloud Zookeeper's `StatusConstants.INSTANCE_STATUS_KEY`).
pub const HEALTH_KEY: &str = "instance_status";
/// Metadata key of the load-balancing weight (a decimal number, default 1, 0 = never picked).
pub const WEIGHT_KEY: &str = "weight";
/// Metadata key of the zone (the key Spring Cloud LoadBalancer's zone preference reads).
pub const ZONE_KEY: &str = "zone";
/// Metadata key of the tags: comma-separated.
pub const TAGS_KEY: &str = "tags";

/// Curator's default URI spec, also Spring Cloud's: `{scheme}://{address}:{port}`.
pub const DEFAULT_URI_SPEC: &str = "{scheme}://{address}:{port}";

/// The largest weight accepted (Nacos's bound).
pub const MAX_WEIGHT: f64 = 10_000.0;

/// Why an instance could not be read or changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InstanceError {
    #[error("not a Curator ServiceInstance: {0}")]
    BadJson(String),
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        kind: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("invalid {field} {value}: must be 1..=65535")]
    InvalidPort { field: &'static str, value: i32 },
    #[error("invalid weight {0:?}: must be a number from 0 to 10000")]
    InvalidWeight(String),
    #[error("invalid URI spec {spec:?}: {reason}")]
    InvalidUriSpec { spec: String, reason: &'static str },
    #[error("the payload is {0}, not an object with a metadata map; metadata cannot be set")]
    PayloadNotAnObject(&'static str),
}

/// Curator's `ServiceType`. DYNAMIC instances are ephemeral nodes (they vanish with their
/// session); STATIC and PERMANENT are persistent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceType {
    #[default]
    Dynamic,
    Static,
    Permanent,
    DynamicSequential,
}

impl ServiceType {
    /// Whether the instance's node is ephemeral (Curator's `isDynamic`).
    pub fn is_dynamic(self) -> bool {
        matches!(self, ServiceType::Dynamic | ServiceType::DynamicSequential)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::Dynamic => "DYNAMIC",
            ServiceType::Static => "STATIC",
            ServiceType::Permanent => "PERMANENT",
            ServiceType::DynamicSequential => "DYNAMIC_SEQUENTIAL",
        }
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_uppercase().replace('-', "_").as_str() {
            "DYNAMIC" => Ok(ServiceType::Dynamic),
            "STATIC" => Ok(ServiceType::Static),
            "PERMANENT" => Ok(ServiceType::Permanent),
            "DYNAMIC_SEQUENTIAL" => Ok(ServiceType::DynamicSequential),
            _ => Err(format!(
                "unknown service type {text:?} (DYNAMIC, STATIC, PERMANENT, DYNAMIC_SEQUENTIAL)"
            )),
        }
    }
}

/// One token of a Curator `UriSpec`: a literal, or a variable such as `address`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UriPart {
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub variable: bool,
}

/// Curator's `UriSpec`: a template such as `{scheme}://{address}:{port}`, stored as its parts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UriSpec {
    #[serde(default)]
    pub parts: Vec<UriPart>,
}

impl UriSpec {
    /// Parses a template as Curator does: `{name}` is a variable (trimmed), the rest literals;
    /// `{[}` and `{]}` stand for literal braces.
    pub fn parse(spec: &str) -> Result<UriSpec, InstanceError> {
        let invalid = |reason| InstanceError::InvalidUriSpec {
            spec: spec.to_string(),
            reason,
        };
        let mut parts = Vec::new();
        let mut inside = false;
        let mut token = String::new();
        for c in spec.chars() {
            match c {
                '{' if inside => return Err(invalid("'{' inside a variable")),
                '}' if !inside => return Err(invalid("'}' without '{'")),
                '{' | '}' => {
                    if !token.is_empty() {
                        let value = if inside {
                            token.trim().to_string()
                        } else {
                            token.clone()
                        };
                        parts.push(UriPart {
                            value,
                            variable: inside,
                        });
                        token.clear();
                    }
                    inside = c == '{';
                }
                c => token.push(c),
            }
        }
        if inside {
            return Err(invalid("final variable not closed"));
        }
        if !token.is_empty() {
            parts.push(UriPart {
                value: token,
                variable: false,
            });
        }
        Ok(UriSpec { parts })
    }

    /// The URI for `instance`, with Curator's variables (`scheme` is `https` when the instance
    /// has an SSL port; unknown variables render as nothing).
    pub fn build(&self, instance: &ServiceInstance) -> String {
        let number = |value: Option<i32>| value.map(|v| v.to_string()).unwrap_or_default();
        let mut uri = String::new();
        for part in &self.parts {
            if !part.variable {
                uri.push_str(&part.value);
                continue;
            }
            let value = match part.value.as_str() {
                "[" => "{".to_string(),
                "]" => "}".to_string(),
                "scheme" if instance.ssl_port.is_some() => "https".to_string(),
                "scheme" => "http".to_string(),
                "name" => instance.name.clone(),
                "id" => instance.id.clone(),
                "address" => instance.address.clone().unwrap_or_default(),
                "port" => number(instance.port),
                "ssl-port" => number(instance.ssl_port),
                "registration-time-utc" => instance.registration_time_utc.to_string(),
                "service-type" => instance.service_type.as_str().to_ascii_lowercase(),
                _ => String::new(),
            };
            uri.push_str(&value);
        }
        uri
    }
}

/// Health of an instance, as stored under [`HEALTH_KEY`]. Spring's values (`UP`,
/// `OUT_OF_SERVICE`) and Eureka's (`DOWN`, `STARTING`, `UNKNOWN`); Consul's `passing` and
/// `critical` are accepted as input for UP and DOWN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    Up,
    Down,
    OutOfService,
    Starting,
    Unknown,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Up => "UP",
            HealthStatus::Down => "DOWN",
            HealthStatus::OutOfService => "OUT_OF_SERVICE",
            HealthStatus::Starting => "STARTING",
            HealthStatus::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HealthStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "UP" | "PASSING" => Ok(HealthStatus::Up),
            "DOWN" | "CRITICAL" => Ok(HealthStatus::Down),
            "OUT_OF_SERVICE" => Ok(HealthStatus::OutOfService),
            "STARTING" => Ok(HealthStatus::Starting),
            "UNKNOWN" => Ok(HealthStatus::Unknown),
            _ => Err(format!(
                "unknown health status {text:?} (UP, DOWN, OUT_OF_SERVICE, STARTING, UNKNOWN)"
            )),
        }
    }
}

impl Serialize for HealthStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A Curator `ServiceInstance`. Field order and null handling follow Jackson's output, so a node
/// Arbor writes is byte-for-byte the shape Curator writes (plus `enabled`, which Curator's
/// non-compatible mode also writes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInstance {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub port: Option<i32>,
    #[serde(default)]
    pub ssl_port: Option<i32>,
    /// Any JSON: Spring's `ZookeeperInstance` (`@class`, id, name, metadata), another class, a
    /// string, or null.
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(
        default,
        rename = "registrationTimeUTC",
        deserialize_with = "null_as_default"
    )]
    pub registration_time_utc: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub service_type: ServiceType,
    #[serde(default)]
    pub uri_spec: Option<UriSpec>,
    /// Missing means enabled (pre-CURATOR-275 writers, Curator's compatible mode); a JSON null
    /// reads as false, as Jackson reads it into a primitive boolean.
    #[serde(default = "enabled_when_missing", deserialize_with = "null_as_default")]
    pub enabled: bool,
    /// Fields this version does not know, written back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AsRef<ServiceInstance> for ServiceInstance {
    fn as_ref(&self) -> &ServiceInstance {
        self
    }
}

fn enabled_when_missing() -> bool {
    true
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl ServiceInstance {
    /// A DYNAMIC, enabled instance with Curator's default URI spec and a Spring Cloud
    /// `ZookeeperInstance` payload with an empty metadata map, so Spring Cloud Zookeeper
    /// Discovery reads it as one of its own.
    pub fn new(name: impl Into<String>, id: impl Into<String>) -> ServiceInstance {
        let (name, id) = (name.into(), id.into());
        let payload = spring_payload(&name, &id);
        ServiceInstance {
            uri_spec: UriSpec::parse(DEFAULT_URI_SPEC).ok(),
            name,
            id,
            address: None,
            port: None,
            ssl_port: None,
            payload: Some(payload),
            registration_time_utc: 0,
            service_type: ServiceType::Dynamic,
            enabled: true,
            extra: Map::new(),
        }
    }

    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(i32::from(port));
        self
    }

    pub fn with_ssl_port(mut self, port: u16) -> Self {
        self.ssl_port = Some(i32::from(port));
        self
    }

    pub fn with_service_type(mut self, service_type: ServiceType) -> Self {
        self.service_type = service_type;
        self
    }

    /// Milliseconds since the epoch.
    pub fn with_registration_time(mut self, millis: i64) -> Self {
        self.registration_time_utc = millis;
        self
    }

    /// Sets a metadata entry (see [`Self::set_metadata`]). On an instance from [`Self::new`] this
    /// cannot fail; if the caller replaced the payload with a non-object, the payload is kept
    /// as it is and the entry is not set.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let _ = self.set_metadata(key, value);
        self
    }

    pub fn with_health(self, health: HealthStatus) -> Self {
        self.with_metadata(HEALTH_KEY, health.as_str())
    }

    pub fn with_weight(self, weight: f64) -> Self {
        self.with_metadata(WEIGHT_KEY, format_weight(weight))
    }

    pub fn with_zone(self, zone: impl Into<String>) -> Self {
        self.with_metadata(ZONE_KEY, zone)
    }

    pub fn with_tags<S: AsRef<str>>(self, tags: &[S]) -> Self {
        let joined: Vec<&str> = tags.iter().map(AsRef::as_ref).collect();
        self.with_metadata(TAGS_KEY, joined.join(","))
    }

    /// Parses a registry node's data.
    pub fn from_json(data: &[u8]) -> Result<ServiceInstance, InstanceError> {
        serde_json::from_slice(data).map_err(|err| InstanceError::BadJson(err.to_string()))
    }

    /// The node data: compact JSON, Jackson's field order.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain data (strings, numbers, maps with string keys) cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Checks what a registration must satisfy: service name and id usable as node names,
    /// ports in range, a valid weight and URI spec.
    pub fn validate(&self) -> Result<(), InstanceError> {
        validate_node_name("service name", &self.name)?;
        validate_node_name("instance id", &self.id)?;
        for (field, port) in [("port", self.port), ("sslPort", self.ssl_port)] {
            if let Some(value) = port {
                if !(1..=65535).contains(&value) {
                    return Err(InstanceError::InvalidPort { field, value });
                }
            }
        }
        if let Some(raw) = self.metadata_value(WEIGHT_KEY) {
            parse_weight(&raw)?;
        }
        Ok(())
    }

    /// `payload.metadata`, when the payload is an object that has one.
    pub fn metadata_object(&self) -> Option<&Map<String, Value>> {
        self.payload.as_ref()?.get("metadata")?.as_object()
    }

    /// The metadata as strings (Spring's `Map<String, String>`; numbers and booleans other
    /// writers put there are shown as their JSON text, nested values are left out).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        self.metadata_object()
            .map(|map| {
                map.iter()
                    .filter_map(|(key, value)| Some((key.clone(), scalar_text(value)?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One metadata entry as a string.
    pub fn metadata_value(&self, key: &str) -> Option<String> {
        scalar_text(self.metadata_object()?.get(key)?)
    }

    /// Sets `payload.metadata[key] = value`. With no payload, Spring's `ZookeeperInstance` one
    /// is created; an object payload without `metadata` gets one. Other payloads are refused.
    pub fn set_metadata(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), InstanceError> {
        self.metadata_mut()?
            .insert(key.into(), Value::String(value.into()));
        Ok(())
    }

    /// Removes a metadata entry; returns whether it was there.
    pub fn remove_metadata(&mut self, key: &str) -> bool {
        match self.payload.as_mut().and_then(|p| p.get_mut("metadata")) {
            Some(Value::Object(map)) => map.remove(key).is_some(),
            _ => false,
        }
    }

    fn metadata_mut(&mut self) -> Result<&mut Map<String, Value>, InstanceError> {
        if matches!(self.payload, None | Some(Value::Null)) {
            self.payload = Some(spring_payload(&self.name, &self.id));
        }
        let payload = match self.payload.as_mut() {
            Some(Value::Object(object)) => object,
            Some(other) => return Err(InstanceError::PayloadNotAnObject(json_kind(other))),
            None => return Err(InstanceError::PayloadNotAnObject("missing")),
        };
        let metadata = payload
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if metadata.is_null() {
            *metadata = Value::Object(Map::new());
        }
        match metadata {
            Value::Object(map) => Ok(map),
            other => Err(InstanceError::PayloadNotAnObject(match other {
                Value::Array(_) => "an object whose metadata is an array",
                _ => "an object whose metadata is not a map",
            })),
        }
    }

    /// Health from [`HEALTH_KEY`]: missing means UP (Spring's rule); a value Arbor does not
    /// know reads as UNKNOWN.
    pub fn health(&self) -> HealthStatus {
        match self.metadata_value(HEALTH_KEY) {
            None => HealthStatus::Up,
            Some(text) if text.is_empty() => HealthStatus::Up,
            Some(text) => text.parse().unwrap_or(HealthStatus::Unknown),
        }
    }

    /// Healthy for routing: enabled and UP.
    pub fn is_passing(&self) -> bool {
        self.enabled && self.health() == HealthStatus::Up
    }

    /// Weight from [`WEIGHT_KEY`]; missing or unreadable means 1.
    pub fn weight(&self) -> f64 {
        self.metadata_value(WEIGHT_KEY)
            .and_then(|raw| parse_weight(&raw).ok())
            .unwrap_or(1.0)
    }

    pub fn zone(&self) -> Option<String> {
        self.metadata_value(ZONE_KEY)
            .filter(|zone| !zone.is_empty())
    }

    /// Tags from [`TAGS_KEY`], split on commas, trimmed, empty ones dropped.
    pub fn tags(&self) -> Vec<String> {
        self.metadata_value(TAGS_KEY)
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|tag| !tag.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The instance's URI from its URI spec (Curator's `buildUriSpec`), or `None` without one.
    pub fn uri(&self) -> Option<String> {
        self.uri_spec.as_ref().map(|spec| spec.build(self))
    }

    /// `address:port` (the SSL port when there is no plain one), as far as known.
    pub fn endpoint(&self) -> String {
        let address = self.address.as_deref().unwrap_or("");
        match self.port.or(self.ssl_port) {
            Some(port) => format!("{address}:{port}"),
            None => address.to_string(),
        }
    }
}

/// Spring Cloud Zookeeper's payload: `{"@class": ZookeeperInstance, "id", "name", "metadata": {}}`.
pub fn spring_payload(name: &str, id: &str) -> Value {
    let mut payload = Map::new();
    payload.insert("@class".into(), Value::String(SPRING_PAYLOAD_CLASS.into()));
    payload.insert("id".into(), Value::String(id.into()));
    payload.insert("name".into(), Value::String(name.into()));
    payload.insert("metadata".into(), Value::Object(Map::new()));
    Value::Object(payload)
}

/// Parses a weight: a finite number from 0 to [`MAX_WEIGHT`].
pub fn parse_weight(raw: &str) -> Result<f64, InstanceError> {
    match raw.trim().parse::<f64>() {
        Ok(weight) if weight.is_finite() && (0.0..=MAX_WEIGHT).contains(&weight) => Ok(weight),
        _ => Err(InstanceError::InvalidWeight(raw.to_string())),
    }
}

/// A weight as stored: integers without a fraction (`"10"`), others as Rust prints them.
pub fn format_weight(weight: f64) -> String {
    if weight.fract() == 0.0 && weight.abs() < 1e15 {
        format!("{}", weight as i64)
    } else {
        weight.to_string()
    }
}

/// Checks that `name` can be one ZooKeeper path segment: not empty, not `.`/`..`, no `/`, no
/// characters ZooKeeper refuses in paths (controls, surrogates, private use, specials).
pub fn validate_node_name(kind: &'static str, name: &str) -> Result<(), InstanceError> {
    let invalid = |reason| InstanceError::InvalidName {
        kind,
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("must not be . or .."));
    }
    if name.contains('/') {
        return Err(invalid("must not contain '/'"));
    }
    if name.len() > 1024 {
        return Err(invalid("longer than 1024 bytes"));
    }
    let refused = |c: char| matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}' | '\u{fff0}'..='\u{ffff}');
    if name.chars().any(refused) {
        return Err(invalid("contains a character ZooKeeper refuses in paths"));
    }
    Ok(())
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Curator 5.4's JsonInstanceSerializer wrote for a Spring-style payload (captured from
    /// Debian's libcurator-discovery-java; the payload class renamed to Spring's).
    const CURATOR_SPRING: &str = r#"{"name":"web","id":"web-1","address":"10.0.0.1","port":8080,"sslPort":null,"payload":{"@class":"org.springframework.cloud.zookeeper.discovery.ZookeeperInstance","id":"web-1","name":"web","metadata":{"instance_status":"UP"}},"registrationTimeUTC":1796161165528,"serviceType":"DYNAMIC","uriSpec":{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},{"value":"address","variable":true},{"value":":","variable":false},{"value":"port","variable":true}]}}"#;
    /// A map payload, STATIC, no port.
    const CURATOR_MAP: &str = r#"{"name":"web","id":"web-2","address":"10.0.0.2","port":null,"sslPort":null,"payload":{"@class":"java.util.HashMap","k":"v"},"registrationTimeUTC":1796161166276,"serviceType":"STATIC","uriSpec":null}"#;
    /// A string payload and an SSL port.
    const CURATOR_STRING: &str = r#"{"name":"web","id":"web-3","address":"10.0.0.3","port":null,"sslPort":443,"payload":"hello","registrationTimeUTC":1796161166291,"serviceType":"DYNAMIC","uriSpec":null}"#;
    /// Curator's non-compatible mode writes `enabled`.
    const CURATOR_DISABLED: &str = r#"{"name":"web","id":"web-4","address":"10.0.0.4","port":1,"sslPort":null,"payload":null,"registrationTimeUTC":1796161181798,"serviceType":"DYNAMIC","uriSpec":null,"enabled":false}"#;

    #[test]
    fn reads_every_shape_curator_writes() {
        let spring = ServiceInstance::from_json(CURATOR_SPRING.as_bytes()).unwrap();
        assert_eq!(spring.name, "web");
        assert_eq!(spring.address.as_deref(), Some("10.0.0.1"));
        assert_eq!(spring.port, Some(8080));
        assert_eq!(spring.ssl_port, None);
        assert_eq!(spring.registration_time_utc, 1796161165528);
        assert_eq!(spring.service_type, ServiceType::Dynamic);
        assert!(spring.enabled, "missing enabled means enabled");
        assert_eq!(spring.health(), HealthStatus::Up);
        assert_eq!(spring.uri().as_deref(), Some("http://10.0.0.1:8080"));
        assert_eq!(spring.endpoint(), "10.0.0.1:8080");

        let map = ServiceInstance::from_json(CURATOR_MAP.as_bytes()).unwrap();
        assert_eq!(map.service_type, ServiceType::Static);
        assert!(!map.service_type.is_dynamic());
        assert_eq!(map.port, None);
        assert!(map.metadata().is_empty());
        assert_eq!(map.uri(), None);

        let string = ServiceInstance::from_json(CURATOR_STRING.as_bytes()).unwrap();
        assert_eq!(string.payload, Some(Value::String("hello".into())));
        assert_eq!(string.endpoint(), "10.0.0.3:443");

        let disabled = ServiceInstance::from_json(CURATOR_DISABLED.as_bytes()).unwrap();
        assert!(!disabled.enabled);
        assert!(
            !disabled.is_passing(),
            "disabled instances are not routable"
        );
        assert_eq!(disabled.payload, None);
    }

    #[test]
    fn curator_shapes_round_trip_to_the_same_json() {
        for (text, with_enabled) in [
            (CURATOR_SPRING, false),
            (CURATOR_MAP, false),
            (CURATOR_STRING, false),
            (CURATOR_DISABLED, true),
        ] {
            let instance = ServiceInstance::from_json(text.as_bytes()).unwrap();
            let written = String::from_utf8(instance.to_json()).unwrap();
            let expected = if with_enabled {
                text.to_string()
            } else {
                format!("{},\"enabled\":true}}", &text[..text.len() - 1])
            };
            // Same JSON; the payload's keys may come in another order (Jackson does not care).
            let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
            assert_eq!(parse(&written), parse(&expected));
            let top_level_order = |text: &str| {
                let mut keys: Vec<(usize, String)> = parse(text)
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|key| (text.find(&format!("\"{key}\":")).unwrap(), key.clone()))
                    .collect();
                keys.sort();
                keys.into_iter().map(|(_, key)| key).collect::<Vec<_>>()
            };
            assert_eq!(top_level_order(&written), top_level_order(&expected));
        }
    }

    #[test]
    fn unknown_fields_survive_a_round_trip_and_an_update() {
        let text = r#"{"name":"web","id":"x","address":"1.2.3.4","port":5,"futureField":{"a":[1,2]},"zzz":"kept"}"#;
        let mut instance = ServiceInstance::from_json(text.as_bytes()).unwrap();
        assert_eq!(instance.extra.len(), 2);
        instance.set_metadata(HEALTH_KEY, "DOWN").unwrap();
        let again = ServiceInstance::from_json(&instance.to_json()).unwrap();
        assert_eq!(again.extra["futureField"], serde_json::json!({"a": [1, 2]}));
        assert_eq!(again.extra["zzz"], Value::String("kept".into()));
        assert_eq!(again.health(), HealthStatus::Down);
        // The payload Arbor created for the metadata is Spring's.
        assert_eq!(
            again.payload.as_ref().unwrap()["@class"],
            Value::String(SPRING_PAYLOAD_CLASS.into())
        );
    }

    #[test]
    fn nulls_read_as_jackson_reads_them() {
        let text = r#"{"name":null,"id":"x","registrationTimeUTC":null,"serviceType":null,"enabled":null}"#;
        let instance = ServiceInstance::from_json(text.as_bytes()).unwrap();
        assert_eq!(instance.name, "");
        assert_eq!(instance.registration_time_utc, 0);
        assert_eq!(instance.service_type, ServiceType::Dynamic);
        assert!(!instance.enabled);
    }

    #[test]
    fn bad_json_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            b"null",
            b"\"text\"",
            b"{\"port\":\"80\"}",
            b"{\"serviceType\":\"ELASTIC\"}",
            b"\xff\xfe",
            b"{\"uriSpec\":{\"parts\":7}}",
        ] {
            assert!(
                matches!(
                    ServiceInstance::from_json(bad),
                    Err(InstanceError::BadJson(_))
                ),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn new_instances_are_what_spring_cloud_reads() {
        let instance = ServiceInstance::new("web", "web-1")
            .with_address("10.0.0.1")
            .with_port(8080)
            .with_registration_time(42)
            .with_health(HealthStatus::OutOfService)
            .with_weight(5.0)
            .with_zone("eu-1")
            .with_tags(&["canary", "v2"]);
        instance.validate().unwrap();
        let json: Value = serde_json::from_slice(&instance.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "web", "id": "web-1", "address": "10.0.0.1", "port": 8080,
                "sslPort": null,
                "payload": {
                    "@class": SPRING_PAYLOAD_CLASS, "id": "web-1", "name": "web",
                    "metadata": {"instance_status": "OUT_OF_SERVICE", "weight": "5",
                                 "zone": "eu-1", "tags": "canary,v2"}
                },
                "registrationTimeUTC": 42, "serviceType": "DYNAMIC",
                "uriSpec": {"parts": [
                    {"value": "scheme", "variable": true}, {"value": "://", "variable": false},
                    {"value": "address", "variable": true}, {"value": ":", "variable": false},
                    {"value": "port", "variable": true}]},
                "enabled": true
            })
        );
        let text = String::from_utf8(instance.to_json()).unwrap();
        assert!(
            text.starts_with(r#"{"name":"web","id":"web-1","address":"10.0.0.1","port":8080,"sslPort":null,"payload":{"@class":"#),
            "Jackson's field order: {text}"
        );
        assert_eq!(instance.health(), HealthStatus::OutOfService);
        assert_eq!(instance.weight(), 5.0);
        assert_eq!(instance.zone().as_deref(), Some("eu-1"));
        assert_eq!(instance.tags(), vec!["canary", "v2"]);
    }

    #[test]
    fn metadata_on_foreign_payloads() {
        let mut map = ServiceInstance::from_json(CURATOR_MAP.as_bytes()).unwrap();
        map.set_metadata(WEIGHT_KEY, "3").unwrap();
        assert_eq!(map.weight(), 3.0);
        assert_eq!(
            map.payload.as_ref().unwrap()["k"],
            Value::String("v".into()),
            "the class's own fields stay"
        );
        assert!(map.remove_metadata(WEIGHT_KEY));
        assert!(!map.remove_metadata(WEIGHT_KEY));

        let mut string = ServiceInstance::from_json(CURATOR_STRING.as_bytes()).unwrap();
        assert_eq!(
            string.set_metadata(HEALTH_KEY, "DOWN"),
            Err(InstanceError::PayloadNotAnObject("a string"))
        );
        assert_eq!(string.payload, Some(Value::String("hello".into())));

        let numbers = ServiceInstance::from_json(
            br#"{"name":"a","id":"b","payload":{"metadata":{"weight":7,"flag":true,"deep":{"x":1}}}}"#,
        )
        .unwrap();
        assert_eq!(numbers.weight(), 7.0);
        assert_eq!(
            numbers.metadata(),
            BTreeMap::from([
                ("flag".to_string(), "true".to_string()),
                ("weight".to_string(), "7".to_string())
            ])
        );
    }

    #[test]
    fn health_weight_and_tags_defaults_and_parsing() {
        let with =
            |key: &str, value: &str| ServiceInstance::new("s", "i").with_metadata(key, value);
        assert_eq!(ServiceInstance::new("s", "i").health(), HealthStatus::Up);
        assert_eq!(with(HEALTH_KEY, "").health(), HealthStatus::Up);
        assert_eq!(with(HEALTH_KEY, "passing").health(), HealthStatus::Up);
        assert_eq!(with(HEALTH_KEY, "critical").health(), HealthStatus::Down);
        assert_eq!(
            with(HEALTH_KEY, "out-of-service").health(),
            HealthStatus::OutOfService
        );
        assert_eq!(with(HEALTH_KEY, "sleepy").health(), HealthStatus::Unknown);
        assert!(!with(HEALTH_KEY, "sleepy").is_passing());

        assert_eq!(ServiceInstance::new("s", "i").weight(), 1.0);
        assert_eq!(with(WEIGHT_KEY, "0.5").weight(), 0.5);
        assert_eq!(with(WEIGHT_KEY, "heavy").weight(), 1.0);
        assert!(matches!(
            with(WEIGHT_KEY, "heavy").validate(),
            Err(InstanceError::InvalidWeight(_))
        ));
        assert!(with(WEIGHT_KEY, "-1").validate().is_err());
        assert!(with(WEIGHT_KEY, "10001").validate().is_err());
        assert!(with(WEIGHT_KEY, "NaN").validate().is_err());
        assert_eq!(format_weight(2.0), "2");
        assert_eq!(format_weight(0.25), "0.25");

        assert_eq!(with(TAGS_KEY, " a, ,b ,").tags(), vec!["a", "b"]);
        assert_eq!(with(ZONE_KEY, "").zone(), None);
    }

    #[test]
    fn validation_refuses_names_zookeeper_cannot_hold_and_bad_ports() {
        for (name, id) in [
            ("", "i"),
            ("a/b", "i"),
            ("s", ".."),
            ("s", "x\u{1}"),
            ("s", "\u{e000}"),
        ] {
            assert!(
                matches!(
                    ServiceInstance::new(name, id).validate(),
                    Err(InstanceError::InvalidName { .. })
                ),
                "{name:?} {id:?}"
            );
        }
        ServiceInstance::new("web-api.v1", "10.0.0.1:8080")
            .validate()
            .unwrap();
        let mut bad_port = ServiceInstance::new("s", "i");
        bad_port.port = Some(70000);
        assert_eq!(
            bad_port.validate(),
            Err(InstanceError::InvalidPort {
                field: "port",
                value: 70000
            })
        );
        bad_port.port = None;
        bad_port.ssl_port = Some(0);
        assert!(bad_port.validate().is_err());
    }

    #[test]
    fn uri_specs_parse_and_build_as_curator() {
        let spec = UriSpec::parse("{scheme}://foo.com:{ port }/{name}/{[}x{]}").unwrap();
        assert_eq!(spec.parts[2].value, "port", "variables are trimmed");
        let instance = ServiceInstance::new("web", "i")
            .with_address("h")
            .with_port(80)
            .with_ssl_port(443);
        assert_eq!(spec.build(&instance), "https://foo.com:80/web/{x}");
        let spec = UriSpec::parse("{address}-{ssl-port}-{service-type}-{nope}").unwrap();
        assert_eq!(spec.build(&instance), "h-443-dynamic-");
        for bad in ["{a{b}}", "a}", "{open"] {
            assert!(UriSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(UriSpec::parse("").unwrap().parts, vec![]);
    }

    #[test]
    fn service_types_parse_and_print() {
        for kind in [
            ServiceType::Dynamic,
            ServiceType::Static,
            ServiceType::Permanent,
            ServiceType::DynamicSequential,
        ] {
            assert_eq!(kind.as_str().parse::<ServiceType>(), Ok(kind));
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!("static".parse::<ServiceType>(), Ok(ServiceType::Static));
        assert!("elastic".parse::<ServiceType>().is_err());
    }
}
