//! Raft-level group commit: txns submitted while earlier batches are in flight are proposed
//! together as one log entry ([`TxnBatch`]).
//!
//! openraft 0.9 appends, flushes and applies one entry at a time, with several task hand-offs
//! per entry; one entry per client write made that the bottleneck of the write path. The
//! batcher keeps at most [`MAX_IN_FLIGHT`] entries in flight; while they are, new txns queue,
//! and the next entry carries all of them (up to [`MAX_BATCH`]). With no load a txn goes out
//! alone at once, so batching adds no latency.
//!
//! Order: one task drains one queue and proposes entries in order, so txns enter the log in
//! submission order (per-client FIFO relies on it).

use std::sync::Arc;

use arbor_tree::Txn;
use openraft::error::ClientWriteError;
use openraft::Raft;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::ProposeError;
use crate::types::{Response, TxnBatch, TypeConfig};

/// Entries proposed but not yet applied, at most.
pub(crate) const MAX_IN_FLIGHT: usize = 2;
/// Txns in one entry, at most.
pub(crate) const MAX_BATCH: usize = 1024;

/// One txn waiting to be proposed, and where its outcome goes.
pub(crate) struct Proposal {
    pub txn: Txn,
    pub reply: oneshot::Sender<Result<Response, ProposeError>>,
}

/// Proposes queued txns in batches until the queue's senders are gone. Asks for a snapshot
/// every `snap_count` txns: ZooKeeper's snapCount counts txns, openraft's policy counts
/// entries, and an entry may now hold many txns.
pub(crate) async fn run(
    raft: Raft<TypeConfig>,
    mut queue: mpsc::UnboundedReceiver<Proposal>,
    snap_count: u64,
) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut since_snapshot: u64 = 0;
    while let Some(first) = queue.recv().await {
        // Wait for room first: txns arriving meanwhile join this batch.
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            break;
        };
        let mut txns = vec![first.txn];
        let mut replies = vec![first.reply];
        while txns.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => {
                    txns.push(p.txn);
                    replies.push(p.reply);
                }
                Err(_) => break,
            }
        }
        since_snapshot += txns.len() as u64;
        if since_snapshot >= snap_count {
            since_snapshot = 0;
            if let Err(e) = raft.trigger().snapshot().await {
                tracing::warn!("could not trigger a snapshot: {e}");
            }
        }
        match raft.client_write_ff(TxnBatch(txns)).await {
            Ok(outcome) => {
                tokio::spawn(async move {
                    let result = outcome.await;
                    drop(permit);
                    deliver(result, replies);
                });
            }
            Err(fatal) => {
                let err = ProposeError::Stopped(fatal.to_string());
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}

type Outcome<E> = Result<
    Result<
        openraft::raft::ClientWriteResponse<TypeConfig>,
        ClientWriteError<u64, openraft::BasicNode>,
    >,
    E,
>;

/// Hands each txn of a batch its own outcome.
fn deliver<E>(result: Outcome<E>, replies: Vec<oneshot::Sender<Result<Response, ProposeError>>>) {
    let err = match result {
        Ok(Ok(resp)) if resp.data.len() == replies.len() => {
            for (reply, response) in replies.into_iter().zip(resp.data) {
                let _ = reply.send(Ok(response));
            }
            return;
        }
        Ok(Ok(resp)) => ProposeError::Raft(format!(
            "a batch of {} txns produced {} results",
            replies.len(),
            resp.data.len()
        )),
        Ok(Err(ClientWriteError::ForwardToLeader(f))) => ProposeError::NotLeader {
            leader: f.leader_id,
        },
        Ok(Err(e)) => ProposeError::Raft(e.to_string()),
        Err(_) => ProposeError::Stopped("raft dropped the request".into()),
    };
    for reply in replies {
        let _ = reply.send(Err(err.clone()));
    }
}
