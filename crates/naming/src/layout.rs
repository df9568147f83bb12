//! Where the registry lives in the tree: `<base>/<service>/<instanceId>`, Curator's
//! ServiceDiscovery layout (`ServiceDiscoveryBuilder.basePath`). The base defaults to
//! `/services`, Spring Cloud Zookeeper's `spring.cloud.zookeeper.discovery.root`.

use crate::instance::{validate_node_name, InstanceError};

/// The default base path.
pub const DEFAULT_BASE: &str = "/services";

/// The registry's paths under one base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryLayout {
    /// Absolute, without a trailing slash; empty for the root (`/`).
    base: String,
}

impl Default for RegistryLayout {
    fn default() -> Self {
        RegistryLayout {
            base: DEFAULT_BASE.to_string(),
        }
    }
}

impl RegistryLayout {
    /// A layout under `base` (absolute; a trailing slash is ignored; `/` means the root).
    pub fn new(base: &str) -> Result<RegistryLayout, InstanceError> {
        let invalid = |reason| InstanceError::InvalidName {
            kind: "base path",
            name: base.to_string(),
            reason,
        };
        if !base.starts_with('/') {
            return Err(invalid("must start with '/'"));
        }
        let trimmed = base.trim_end_matches('/');
        for segment in trimmed.split('/').skip(1) {
            validate_node_name("base path segment", segment)?;
        }
        Ok(RegistryLayout {
            base: trimmed.to_string(),
        })
    }

    /// The base path (`/` for the root).
    pub fn base(&self) -> &str {
        if self.base.is_empty() {
            "/"
        } else {
            &self.base
        }
    }

    /// `<base>/<service>`.
    pub fn service_path(&self, service: &str) -> Result<String, InstanceError> {
        validate_node_name("service name", service)?;
        Ok(format!("{}/{service}", self.base))
    }

    /// `<base>/<service>/<id>`.
    pub fn instance_path(&self, service: &str, id: &str) -> Result<String, InstanceError> {
        validate_node_name("instance id", id)?;
        Ok(format!("{}/{id}", self.service_path(service)?))
    }

    /// The ancestors of the base, shortest first, ending with the base itself (empty for root).
    pub fn base_and_ancestors(&self) -> Vec<String> {
        let mut paths = Vec::new();
        let mut prefix = String::new();
        for segment in self.base.split('/').skip(1) {
            prefix.push('/');
            prefix.push_str(segment);
            paths.push(prefix.clone());
        }
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_the_default_and_custom_bases() {
        let layout = RegistryLayout::default();
        assert_eq!(layout.base(), "/services");
        assert_eq!(layout.service_path("web").unwrap(), "/services/web");
        assert_eq!(
            layout.instance_path("web", "10.0.0.1:80").unwrap(),
            "/services/web/10.0.0.1:80"
        );
        assert_eq!(layout.base_and_ancestors(), vec!["/services"]);

        let nested = RegistryLayout::new("/prod/registry/").unwrap();
        assert_eq!(nested.base(), "/prod/registry");
        assert_eq!(nested.service_path("a").unwrap(), "/prod/registry/a");
        assert_eq!(nested.base_and_ancestors(), vec!["/prod", "/prod/registry"]);

        let root = RegistryLayout::new("/").unwrap();
        assert_eq!(root.base(), "/");
        assert_eq!(root.instance_path("a", "b").unwrap(), "/a/b");
        assert!(root.base_and_ancestors().is_empty());
    }

    #[test]
    fn bad_bases_and_names_are_refused() {
        for base in ["services", "", "/a//b", "/a/../b"] {
            assert!(RegistryLayout::new(base).is_err(), "{base:?}");
        }
        let layout = RegistryLayout::default();
        assert!(layout.service_path("a/b").is_err());
        assert!(layout.instance_path("web", "").is_err());
        assert!(layout.instance_path("..", "x").is_err());
    }
}
