//! The Raft peer transport.
//!
//! A standalone group has no peers, so openraft never opens a client. Until the multi-server
//! work lands, [`NoPeers`] answers every RPC with `Unreachable`; that work replaces it with a
//! TCP transport implementing the same `RaftNetworkFactory`, without touching the write path.

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use crate::types::{Node, NodeId, TypeConfig};

/// A network with no reachable peers.
#[derive(Debug, Clone, Default)]
pub struct NoPeers;

/// A client for a peer that can never be reached.
#[derive(Debug, Clone)]
pub struct UnreachablePeer {
    target: NodeId,
}

#[derive(Debug, thiserror::Error)]
#[error("no transport to peer {0}: this build has no peer network (standalone only)")]
struct NoTransport(NodeId);

type RpcResult<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, Node, E>>;

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
