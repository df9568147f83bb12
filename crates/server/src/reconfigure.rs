//! Serving `reconfig` and keeping `/zookeeper/config` in step with the Raft membership.
//!
//! The Raft membership (ids and quorum addresses) decides who votes; `/zookeeper/config`
//! holds ZooKeeper's text of the same membership with the parts Raft does not need (election
//! and client ports), for clients (`zkCli.sh config`, Curator's `EnsembleTracker`). The leader
//! writes the static `server.N` lines there once; each `reconfig` changes the membership first
//! and then records the new text, both replicated.

use std::time::Duration;

use arbor_proto::records::ReconfigRequest;
use arbor_proto::{perms, ErrorCode, Id, Stat};
use arbor_quorum::{ProposeError, Role};
use arbor_tree::{OpResult, TxnOp, TxnResult};

use crate::reconfig::DynamicConfig;
use crate::server::Shared;

const CONFIG_NODE: &str = "/zookeeper/config";

/// The membership as `/zookeeper/config` states it, or (before the leader first wrote it) as
/// the static `server.N` lines do.
pub fn current(shared: &Shared) -> DynamicConfig {
    let text = shared
        .db
        .read()
        .data(CONFIG_NODE)
        .map(|(data, _)| String::from_utf8_lossy(data).into_owned())
        .unwrap_or_default();
    match DynamicConfig::parse(&text) {
        Ok(Some(config)) => config,
        Ok(None) => {
            DynamicConfig::from_servers(&shared.config.servers, shared.quorum.membership().1)
        }
        Err(e) => {
            tracing::warn!("unreadable {CONFIG_NODE} ({e}); using the static server.N lines");
            DynamicConfig::from_servers(&shared.config.servers, shared.quorum.membership().1)
        }
    }
}

/// Serves one reconfig request: the caller needs `super` or WRITE on `/zookeeper/config`
/// (ZooKeeper's rule); the answer is the new config text and the node's stat.
pub async fn run(
    shared: &Shared,
    request: &ReconfigRequest,
    auth: &[Id],
) -> Result<(i64, Vec<u8>, Stat), ErrorCode> {
    let allowed = auth.iter().any(|id| id.scheme == "super")
        || shared
            .db
            .read()
            .check_perm(CONFIG_NODE, perms::WRITE, auth)
            .is_ok();
    if !allowed {
        return Err(ErrorCode::NoAuth);
    }
    let current = current(shared);
    let mut next = current.apply(request).map_err(|refusal| {
        tracing::info!("reconfig refused: {refusal}");
        refusal.code
    })?;
    tracing::info!(to = %next.render().replace('\n', " "), "reconfig: changing the membership");
    next.version = shared
        .quorum
        .change_membership(next.membership())
        .await
        .map_err(|e| {
            tracing::warn!("reconfig failed: {e}");
            match e {
                ProposeError::NoLeader | ProposeError::Unavailable(_) => ErrorCode::ConnectionLoss,
                _ => ErrorCode::ReconfigInProgress,
            }
        })?;
    record(shared, &next).await
}

/// Writes `config` into `/zookeeper/config` (a replicated txn with the server's identity).
async fn record(
    shared: &Shared,
    config: &DynamicConfig,
) -> Result<(i64, Vec<u8>, Stat), ErrorCode> {
    let text = config.render().into_bytes();
    let txn = shared.housekeeping_txn(TxnOp::SetData {
        path: CONFIG_NODE.to_owned(),
        data: text.clone(),
        version: -1,
    });
    let response = shared
        .quorum
        .propose(txn)
        .await
        .map_err(|_| ErrorCode::ConnectionLoss)?;
    match response.applied.result {
        TxnResult::Op(OpResult::DataSet { stat }) => Ok((response.zxid, text, stat)),
        TxnResult::Error(code) => Err(code),
        other => {
            tracing::warn!("unexpected result writing {CONFIG_NODE}: {other:?}");
            Err(ErrorCode::SystemError)
        }
    }
}

/// On the leader of an ensemble: writes the static membership into an empty
/// `/zookeeper/config`, so clients can read the configuration as they can from ZooKeeper.
pub async fn publish_initial_config(shared: std::sync::Arc<Shared>) {
    if shared.config.is_standalone() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let status = shared.quorum.metrics();
        if status.role != Role::Leader || !status.serving {
            continue;
        }
        let empty = shared
            .db
            .read()
            .data(CONFIG_NODE)
            .is_some_and(|(data, _)| data.is_empty());
        if !empty {
            return;
        }
        let config =
            DynamicConfig::from_servers(&shared.config.servers, shared.quorum.membership().1);
        match record(&shared, &config).await {
            Ok(_) => return,
            Err(code) => tracing::debug!("could not publish {CONFIG_NODE} yet: {code:?}"),
        }
    }
}
