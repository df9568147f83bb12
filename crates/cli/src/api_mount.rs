//! The module HTTP APIs the `arbor server` process mounts on its admin listener.
//!
//! Each module (config center, naming) contributes one `ApiHandler`, built on a ZooKeeper
//! session to the server's own client port, so an API write takes exactly the path a client
//! write takes. A module adds itself here with one line.

use std::sync::Arc;

use arbor_coord::api::ApiHandler;
use arbor_coord::remote::ZkCoord;

/// The handlers to mount, all sharing `coord`'s session.
pub fn handlers(coord: &ZkCoord) -> Vec<Arc<dyn ApiHandler>> {
    vec![
        Arc::new(arbor_config_center::api::ConfigApi::on(coord.clone())),
        Arc::new(arbor_naming::NamingApi::new(arbor_naming::Registry::new(
            coord.clone(),
            Default::default(),
        ))),
    ]
}
