//! Helpers around the `zookeeper-client` crate.

use std::time::Duration;

use zookeeper_client as zk;

/// Long enough for a debug build on a loaded 2-core machine.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Open-ACL create options for `mode`.
pub fn opts(mode: zk::CreateMode) -> zk::CreateOptions<'static> {
    mode.with_acls(zk::Acls::anyone_all())
}

pub fn persistent() -> zk::CreateOptions<'static> {
    opts(zk::CreateMode::Persistent)
}

/// Connects a client with the given session timeout.
pub async fn connect_with_timeout(connect_string: &str, timeout: Duration) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(timeout)
        .connect(connect_string)
        .await
        .unwrap_or_else(|e| panic!("connect to {connect_string}: {e}"))
}

/// Connects a client with a 10 s session timeout.
pub async fn connect(connect_string: &str) -> zk::Client {
    connect_with_timeout(connect_string, Duration::from_secs(10)).await
}

/// Awaits `future` for at most [`EVENT_TIMEOUT`]; panics naming `what` otherwise.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(EVENT_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {EVENT_TIMEOUT:?}"))
}
