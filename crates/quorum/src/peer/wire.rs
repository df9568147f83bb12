//! What servers say to each other on the quorum port, and how it is framed.
//!
//! A connection starts with the dialer's [`Hello`] (cluster name, its id, the id it means to
//! reach) and the listener's [`HelloReply`], so a misconfigured address is refused instead of
//! silently joining the wrong node to the conversation. After that the dialer sends
//! [`RequestFrame`]s and the listener answers with [`ResponseFrame`]s carrying the same id, in
//! any order (requests are served concurrently; see `listener`).
//!
//! Frames are `[u32 big-endian length][bincode body]`. Decoding never trusts the length beyond
//! [`MAX_FRAME`] and never panics on bad bytes.

use arbor_tree::{SessionId, Txn};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::ProposeError;
use crate::types::{NodeId, Response, TypeConfig};

/// Largest frame either side accepts. Append-entries requests larger than
/// [`MAX_APPEND_BYTES`] are split by openraft (we answer `PayloadTooLarge`), and snapshot chunks
/// are a few MiB, so only a peer speaking another protocol gets near this.
pub const MAX_FRAME: usize = 256 << 20;

/// Encoded append-entries requests above this are refused locally with `PayloadTooLarge`, so
/// openraft retries with fewer entries.
pub const MAX_APPEND_BYTES: usize = 32 << 20;

/// Who is calling and whom it means to reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub cluster: String,
    pub from: NodeId,
    pub to: NodeId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    Welcome,
    /// This address is served by another node id (the configuration is wrong somewhere).
    WrongNode {
        actual: NodeId,
    },
    WrongCluster {
        actual: String,
    },
}

/// Where a proposal came from: the server that received it and that server's connection
/// number. Used to stop proposing for a connection once one of its writes had an unknown
/// outcome (see `batcher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub node: NodeId,
    pub conn: u64,
}

/// A txn forwarded to the leader, with its origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardedTxn {
    pub origin: Origin,
    pub txn: Txn,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    /// Propose these txns, in this order, on the leader.
    Forward(Vec<ForwardedTxn>),
    /// Confirm leadership with a quorum and name the log index a linearizable read must wait for.
    ReadIndex,
    /// These sessions were active on the sender since its last report.
    TouchSessions(Vec<SessionId>),
    /// Whether the receiver leads and a quorum acknowledged it recently. Observers ask: they
    /// do not vote, so only the leader can tell them it lost its quorum.
    LeaderServing,
    /// Whether the receiver's Raft membership is initialized (a fresh ensemble initializes
    /// only when a majority of voters answer "no"; see `quorum::initialize_when_fresh`).
    Initialized,
    /// Make the membership these voters and learners (incremental ZooKeeper `reconfig`);
    /// served by the leader.
    ChangeMembership(Membership),
}

/// A target membership: id -> `host:quorumPort` for voters and for learners (observers).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Membership {
    pub voters: std::collections::BTreeMap<NodeId, String>,
    pub learners: std::collections::BTreeMap<NodeId, String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// One outcome per forwarded txn, in order. Applied triggers are left out: the follower
    /// fires its own watches when it applies the txn.
    Forward(Vec<Result<Response, ProposeError>>),
    ReadIndex(Result<u64, ProposeError>),
    Touched,
    LeaderServing(bool),
    Initialized(bool),
    /// The log index of the membership entry that made the change (the new config version).
    ChangeMembership(Result<u64, ProposeError>),
    /// The request could not be decoded or served at all.
    Failed(String),
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RequestFrame {
    pub id: u64,
    pub body: PeerRequest,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ResponseFrame {
    pub id: u64,
    pub body: PeerResponse,
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("peer connection: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake failed: a certificate was refused (by either side), or the other side
    /// does not speak TLS.
    #[error("TLS handshake with {remote} failed: {source}")]
    Tls {
        remote: std::net::IpAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    ServerName(#[from] super::tls::BadServerName),
    #[error("TLS handshake with {remote} took longer than {timeout:?}")]
    TlsTimeout {
        remote: std::net::IpAddr,
        timeout: std::time::Duration,
    },
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("undecodable frame: {0}")]
    Decode(String),
    #[error("cannot encode frame: {0}")]
    Encode(String),
}

/// Encodes `message` as one frame (length prefix included).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, WireError> {
    let size = bincode::serialized_size(message).map_err(|e| WireError::Encode(e.to_string()))?;
    let size = usize::try_from(size).map_err(|_| WireError::TooLarge(usize::MAX))?;
    if size > MAX_FRAME {
        return Err(WireError::TooLarge(size));
    }
    let mut frame = Vec::with_capacity(4 + size);
    frame.extend_from_slice(&(size as u32).to_be_bytes());
    bincode::serialize_into(&mut frame, message).map_err(|e| WireError::Encode(e.to_string()))?;
    Ok(frame)
}

/// Decodes a frame body (without its length prefix).
pub fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, WireError> {
    use bincode::Options;
    // Bounded: a hostile length inside the body cannot make bincode allocate past the frame.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(body.len() as u64)
        .deserialize(body)
        .map_err(|e| WireError::Decode(e.to_string()))
}

/// Reads one frame body; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Vec<u8>>, WireError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(Some(body))
}

/// Writes one message as a frame and flushes.
pub async fn write_message<W: AsyncWrite + Unpin, T: Serialize>(
    writer: &mut W,
    message: &T,
) -> Result<(), WireError> {
    let frame = encode(message)?;
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Writes the frames of `queue` to `out` until the queue closes or a write fails, putting what
/// is already queued (up to 1 MiB) into one write. Each write is flushed: TLS may keep part of
/// a write buffered until then (a no-op on plain TCP).
pub async fn write_queued<W: AsyncWrite + Unpin>(
    queue: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    out: &mut W,
) {
    let mut buf = Vec::new();
    while let Some(frame) = queue.recv().await {
        buf.clear();
        buf.extend_from_slice(&frame);
        while buf.len() < 1 << 20 {
            match queue.try_recv() {
                Ok(more) => buf.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if out.write_all(&buf).await.is_err() || out.flush().await.is_err() {
            return;
        }
    }
}

/// Reads one frame and decodes it as `T`; a closed stream is an error here.
pub async fn read_message<R: AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    reader: &mut R,
) -> Result<T, WireError> {
    match read_frame(reader).await? {
        Some(body) => decode(&body),
        None => Err(WireError::Io(std::io::ErrorKind::UnexpectedEof.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_tree::TxnOp;

    fn sample_forward() -> RequestFrame {
        RequestFrame {
            id: 7,
            body: PeerRequest::Forward(vec![ForwardedTxn {
                origin: Origin { node: 2, conn: 9 },
                txn: Txn {
                    session: 5,
                    time: 1_700_000_000_000,
                    auth: Vec::new().into(),
                    op: TxnOp::CloseSession { session: 5 },
                },
            }]),
        }
    }

    #[test]
    fn frames_round_trip() {
        let frame = encode(&sample_forward()).unwrap();
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        let back: RequestFrame = decode(&frame[4..]).unwrap();
        assert_eq!(back.id, 7);
        match back.body {
            PeerRequest::Forward(txns) => {
                assert_eq!(txns.len(), 1);
                assert_eq!(txns[0].origin, Origin { node: 2, conn: 9 });
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn truncated_and_garbage_bodies_are_errors_not_panics() {
        let frame = encode(&sample_forward()).unwrap();
        for cut in 0..frame.len() - 4 {
            assert!(
                decode::<RequestFrame>(&frame[4..4 + cut]).is_err(),
                "cut at {cut}"
            );
        }
        // A vector length far beyond the body must not be trusted.
        let mut huge = 3u64.to_le_bytes().to_vec(); // id
        huge.extend_from_slice(&3u32.to_le_bytes()); // variant Forward
        huge.extend_from_slice(&u64::MAX.to_le_bytes()); // vector length
        assert!(decode::<RequestFrame>(&huge).is_err());
        let mut state = 0x2545_f491_u32;
        for _ in 0..500 {
            let len = (state % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let _ = decode::<RequestFrame>(&bytes);
            let _ = decode::<ResponseFrame>(&bytes);
        }
    }

    #[tokio::test]
    async fn oversized_length_prefix_is_refused_before_allocating() {
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        match read_frame(&mut input).await {
            Err(WireError::TooLarge(len)) => assert_eq!(len, u32::MAX as usize),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let mut empty: &[u8] = &[];
        assert!(read_frame(&mut empty).await.unwrap().is_none());
    }
}
