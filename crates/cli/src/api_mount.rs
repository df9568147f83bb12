//! The module HTTP APIs the `arbor server` process mounts on its admin listener.
//!
//! Each module (config center, naming) contributes one `ApiHandler`, built on a ZooKeeper
//! session to the server's own client port, so an API write takes exactly the path a client
//! write takes. A module adds itself here with one line.
//!
//! With a config-center credential (`configCenter.auth`), the session authenticates with it
//! and the config center creates its nodes readable by anyone, writable only by that identity;
//! [`Modules::protect_existing`] then gives nodes written before the same ACL.

use std::sync::Arc;

use arbor_config_center::api::{ConfigApi, PushObserver};
use arbor_config_center::{ConfigCenter, ConfigError, ProtectOutcome};
use arbor_coord::api::ApiHandler;
use arbor_coord::remote::ZkCoord;
use arbor_coord::DigestCredential;
use arbor_naming::{NamingApi, Registry};

/// How the modules are set up.
#[derive(Clone, Default)]
pub struct ModuleOptions {
    /// The config center's credential (`configCenter.auth`); `None`: open ACLs, as before.
    pub config_center_credential: Option<DigestCredential>,
    /// Told about every push through the config-center API (metrics).
    pub push_observer: Option<Arc<dyn PushObserver>>,
}

/// The modules on one session: their handlers to mount, and the modules themselves (for
/// metrics and maintenance).
pub struct Modules {
    pub handlers: Vec<Arc<dyn ApiHandler>>,
    pub config_center: Arc<ConfigCenter<ZkCoord>>,
    pub registry: Registry<ZkCoord>,
}

/// Builds the modules on `coord`'s session (authenticating it first when the config center has
/// a credential).
pub async fn modules(coord: &ZkCoord, options: &ModuleOptions) -> Result<Modules, ConfigError> {
    let mut config_center = ConfigCenter::new(coord.clone());
    if let Some(credential) = &options.config_center_credential {
        config_center = config_center.authenticated_as(credential).await?;
    }
    let config_center = Arc::new(config_center);
    let mut config_api = ConfigApi::new(config_center.clone());
    if let Some(observer) = &options.push_observer {
        config_api = config_api.with_observer(observer.clone());
    }
    let registry = Registry::new(coord.clone(), Default::default());
    Ok(Modules {
        handlers: vec![
            Arc::new(config_api),
            Arc::new(NamingApi::new(registry.clone())),
        ],
        config_center,
        registry,
    })
}

impl Modules {
    /// Gives the config center's existing nodes its ACL, when it has a credential (see
    /// `ConfigCenter::protect_existing`); nothing otherwise.
    pub async fn protect_existing(&self) -> Result<ProtectOutcome, ConfigError> {
        self.config_center.protect_existing().await
    }
}
