//! The Raft peer transport (openraft `RaftNetworkFactory`).
//!
//! [`NoPeers`] serves a standalone group (a single voter never sends an RPC). [`TcpNetwork`]
//! carries Raft RPCs over the peer connections of [`crate::peer`], to the address recorded for
//! each member in the Raft membership (`host:quorumPort`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use crate::peer::client::{CallError, Dialer, PeerClient};
use crate::peer::wire::{PeerRequest, PeerResponse, MAX_APPEND_BYTES};
use crate::types::{Node, NodeId, TypeConfig};

type RpcResult<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, Node, E>>;

/// A network with no reachable peers (standalone).
#[derive(Debug, Clone, Default)]
pub struct NoPeers;

/// A client for a peer that can never be reached.
#[derive(Debug, Clone)]
pub struct UnreachablePeer {
    target: NodeId,
}

#[derive(Debug, thiserror::Error)]
#[error("no transport to peer {0}: this node runs standalone")]
struct NoTransport(NodeId);

impl UnreachablePeer {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<NodeId, Node, E> {
        RPCError::Unreachable(Unreachable::new(&NoTransport(self.target)))
    }
}

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = UnreachablePeer;

    async fn new_client(&mut self, target: NodeId, _node: &Node) -> UnreachablePeer {
        UnreachablePeer { target }
    }
}

impl RaftNetwork<TypeConfig> for UnreachablePeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        Err(self.unreachable())
    }
}

/// When each member last accepted an append from this node (a heartbeat counts): on the
/// leader, this tells a member that keeps up from one that is stopped, cut off or refusing
/// (a member that is merely slow to apply still answers heartbeats).
#[derive(Debug, Default)]
pub struct PeerAcks {
    last: parking_lot::Mutex<BTreeMap<NodeId, Instant>>,
}

impl PeerAcks {
    fn record(&self, peer: NodeId) {
        self.last.lock().insert(peer, Instant::now());
    }

    /// How long ago each member that ever accepted an append from this node last did.
    pub fn ages(&self) -> BTreeMap<NodeId, Duration> {
        self.last
            .lock()
            .iter()
            .map(|(&id, at)| (id, at.elapsed()))
            .collect()
    }
}

/// Raft RPCs over TCP (or TLS, as the [`Dialer`] says) to the members' quorum ports.
#[derive(Debug, Clone)]
pub struct TcpNetwork {
    dialer: Dialer,
    acks: Arc<PeerAcks>,
}

impl TcpNetwork {
    /// A network for the dialer's member; every accepted append is recorded in `acks`.
    pub fn new(dialer: Dialer, acks: Arc<PeerAcks>) -> TcpNetwork {
        TcpNetwork { dialer, acks }
    }
}

impl RaftNetworkFactory<TypeConfig> for TcpNetwork {
    type Network = TcpPeer;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> TcpPeer {
        TcpPeer {
            me: self.dialer.me(),
            client: PeerClient::new(&self.dialer, target, &node.addr),
            acks: self.acks.clone(),
        }
    }
}

/// One member as seen by this node's Raft.
pub struct TcpPeer {
    me: NodeId,
    client: PeerClient,
    acks: Arc<PeerAcks>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

impl TcpPeer {
    async fn call<E: std::error::Error>(
        &self,
        action: RPCTypes,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, RPCError<NodeId, Node, E>> {
        let target = self.client.target();
        match self.client.call(request, timeout).await {
            Ok(PeerResponse::Failed(reason)) => {
                Err(RPCError::Network(NetworkError::new(&Message(format!(
                    "peer {target} could not serve the request: {reason}"
                )))))
            }
            Ok(response) => Ok(response),
            Err(CallError::Timeout { timeout, .. }) => Err(RPCError::Timeout(Timeout {
                action,
                id: self.me,
                target,
                timeout,
            })),
            Err(e @ CallError::Unreachable { .. }) => {
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }

    fn unexpected<E: std::error::Error>(
        &self,
        response: PeerResponse,
    ) -> RPCError<NodeId, Node, E> {
        RPCError::Network(NetworkError::new(&Message(format!(
            "peer {} answered with an unexpected message: {response:?}",
            self.client.target()
        ))))
    }

    fn remote<E: std::error::Error>(&self, source: E) -> RPCError<NodeId, Node, E> {
        RPCError::RemoteError(RemoteError::new(self.client.target(), source))
    }
}

impl RaftNetwork<TypeConfig> for TcpPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let entries = rpc.entries.len() as u64;
        if entries > 1 {
            let request = PeerRequest::AppendEntries(rpc);
            let size = bincode::serialized_size(&request).unwrap_or(u64::MAX);
            if size > MAX_APPEND_BYTES as u64 {
                return Err(RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint((entries / 2).max(1)),
                ));
            }
            return self.finish_append(request, option).await;
        }
        self.finish_append(PeerRequest::AppendEntries(rpc), option)
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        let response = self
            .call(
                RPCTypes::InstallSnapshot,
                PeerRequest::InstallSnapshot(rpc),
                option.hard_ttl(),
            )
            .await?;
        match response {
            PeerResponse::InstallSnapshot(Ok(r)) => Ok(r),
            PeerResponse::InstallSnapshot(Err(e)) => Err(self.remote(e)),
            other => Err(self.unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        let response = self
            .call(RPCTypes::Vote, PeerRequest::Vote(rpc), option.hard_ttl())
            .await?;
        match response {
            PeerResponse::Vote(Ok(r)) => Ok(r),
            PeerResponse::Vote(Err(e)) => Err(self.remote(e)),
            other => Err(self.unexpected(other)),
        }
    }

    fn backoff(&self) -> openraft::network::Backoff {
        // A dead peer is retried every 200 ms: a restarted follower rejoins quickly, and a
        // failed connect is cheap.
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}

impl TcpPeer {
    async fn finish_append(
        &mut self,
        request: PeerRequest,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let response = self
            .call(RPCTypes::AppendEntries, request, option.hard_ttl())
            .await?;
        match response {
            PeerResponse::AppendEntries(Ok(r)) => {
                if matches!(
                    r,
                    AppendEntriesResponse::Success | AppendEntriesResponse::PartialSuccess(_)
                ) {
                    self.acks.record(self.client.target());
                }
                Ok(r)
            }
            PeerResponse::AppendEntries(Err(e)) => Err(self.remote(e)),
            other => Err(self.unexpected(other)),
        }
    }
}
