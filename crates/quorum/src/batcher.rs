//! The proposal pipeline: txns submitted on this node go into the Raft log in submission
//! order, in batches, through the leader wherever it is.
//!
//! Batching: openraft 0.9 appends, flushes and applies one entry at a time, with several task
//! hand-offs per entry; one entry per client write made that the bottleneck of the write path.
//! At most [`MAX_IN_FLIGHT`] batches are in flight; while they are, new txns queue, and the next
//! batch carries all of them (up to [`MAX_BATCH`]). With no load a txn goes out alone at once.
//!
//! Routing: on the leader a batch becomes one log entry ([`TxnBatch`]); the state machine
//! answers each of its txns as it applies it (the batch carries the [`Waiters`]), and this
//! module answers only what was not applied (a failure, a timeout). Elsewhere it is
//! forwarded to the leader over one peer link, and each txn's outcome is delivered once this
//! node has applied it too, so the client's next read here sees its write. Txns forwarded to us
//! by a peer (`local_only`) are proposed only if we lead; they are never forwarded again.
//!
//! Order (ZooKeeper's per-client FIFO, with pipelining): one task drains one queue, so txns
//! leave in submission order, and on one target (a leader's log, or one connection to one
//! leader) they keep that order. Two rules keep it across failures:
//! - when the target changes (a new leader or term, or a new connection), the batches still in
//!   flight to the old one are given up (their outcome is unknown, so their origins are
//!   poisoned) before anything goes to the new one. Waiting for them instead would stall
//!   every write of this node for up to the request timeout when the old leader stopped
//!   answering (SIGSTOP, a partition) with a batch in flight;
//! - once a txn of an [`Origin`] (one client connection) fails, its outcome may be unknown, so
//!   every later txn of that origin is failed without being proposed ("poisoned"). Otherwise a
//!   lost W1 followed by a committed W2 could break the client's order. The server closes such
//!   a connection; the client reconnects as a new origin.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_tree::Txn;
use openraft::error::ClientWriteError;
use openraft::{Raft, ServerState};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use crate::error::ProposeError;
use crate::peer::client::{CallError, Dialer, Link, PeerClient};
use crate::peer::wire::{ForwardedTxn, Origin, PeerRequest, PeerResponse};
use crate::types::{NodeId, Reply, TxnBatch, TypeConfig, Waiters};

/// Batches proposed but not yet answered, at most.
pub(crate) const MAX_IN_FLIGHT: u32 = 2;
/// Txns in one batch, at most.
pub(crate) const MAX_BATCH: usize = 1024;
/// How long poisoned origins are remembered. Connection numbers are never reused within a
/// server run and a poisoned connection is closed at once, so this only bounds memory.
const POISON_TTL: Duration = Duration::from_secs(300);

/// One txn waiting to be proposed, and where its outcome goes.
pub(crate) struct Proposal {
    pub origin: Origin,
    pub txn: Txn,
    /// Forwarded by a peer: propose only if this node leads.
    pub local_only: bool,
    pub reply: Reply,
}

/// Settings of the pipeline.
#[derive(Debug, Clone)]
pub(crate) struct BatcherConfig {
    /// Forwards to the leader are dialed as this.
    pub dialer: Dialer,
    /// How long a batch waits for a leader to exist before it fails.
    pub leader_wait: Duration,
    /// How long a proposal may take from leaving the queue to being answered.
    pub request_timeout: Duration,
}

/// Origins whose later txns must not be proposed.
#[derive(Default)]
pub(crate) struct Poison {
    origins: Mutex<HashMap<Origin, Instant>>,
}

impl Poison {
    /// Connection 0 stands for the server itself (expiry, housekeeping): never poisoned.
    pub(crate) fn add(&self, origin: Origin) {
        if origin.conn == 0 {
            return;
        }
        let now = Instant::now();
        let mut origins = self.origins.lock();
        if origins.len() > 1024 {
            origins.retain(|_, at| now.duration_since(*at) < POISON_TTL);
        }
        origins.insert(origin, now);
    }

    pub(crate) fn contains(&self, origin: &Origin) -> bool {
        self.origins.lock().contains_key(origin)
    }
}

/// Where the current batch goes.
enum Target {
    Local {
        term: u64,
    },
    Remote {
        leader: NodeId,
        term: u64,
        link: Arc<Link>,
    },
}

impl Target {
    /// Batches in flight to different keys may complete in any order relative to each other.
    fn key(&self) -> (NodeId, u64, u64) {
        match self {
            Target::Local { term } => (0, *term, 0),
            Target::Remote { leader, term, link } => (*leader, *term, link.generation()),
        }
    }
}

struct Pipeline {
    raft: Raft<TypeConfig>,
    config: BatcherConfig,
    poison: Arc<Poison>,
    applied: watch::Receiver<i64>,
    forward_clients: HashMap<NodeId, Arc<PeerClient>>,
    in_flight: Arc<Semaphore>,
    last_key: Option<(NodeId, u64, u64)>,
    /// Set to true when the target changes: batches in flight to the old target give up.
    abandon: watch::Sender<bool>,
}

/// Proposes queued txns in batches until the queue's senders are gone.
pub(crate) async fn run(
    raft: Raft<TypeConfig>,
    mut queue: mpsc::UnboundedReceiver<Proposal>,
    config: BatcherConfig,
    poison: Arc<Poison>,
    applied: watch::Receiver<i64>,
) {
    let mut pipeline = Pipeline {
        raft,
        config,
        poison,
        applied,
        forward_clients: HashMap::new(),
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT as usize)),
        last_key: None,
        abandon: watch::channel(false).0,
    };
    while let Some(first) = queue.recv().await {
        // Wait for room first: txns arriving meanwhile join this batch.
        let Ok(permit) = Arc::clone(&pipeline.in_flight).acquire_owned().await else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        pipeline.propose(batch, permit).await;
    }
}

impl Pipeline {
    /// Fails poisoned proposals; returns the rest.
    fn drop_poisoned(&self, batch: Vec<Proposal>) -> Vec<Proposal> {
        batch
            .into_iter()
            .filter_map(|p| {
                if self.poison.contains(&p.origin) {
                    let _ = p.reply.send(Err(ProposeError::Abandoned));
                    None
                } else {
                    Some(p)
                }
            })
            .collect()
    }

    async fn propose(&mut self, batch: Vec<Proposal>, permit: OwnedSemaphorePermit) {
        let batch = self.drop_poisoned(batch);
        if batch.is_empty() {
            return;
        }
        let only_from_peers = batch.iter().all(|p| p.local_only);
        let target = match self.resolve_target(only_from_peers).await {
            Ok(target) => target,
            Err(e) => return fail_all(&self.poison, batch, e),
        };
        let key = target.key();
        let mut batch = if self.last_key.is_some_and(|k| k != key) {
            // Give up what is in flight to the old target (its origins are poisoned before
            // the slots come back), then drop what that poisoned.
            self.abandon.send_replace(true);
            self.abandon = watch::channel(false).0;
            self.drain().await;
            self.drop_poisoned(batch)
        } else {
            batch
        };
        self.last_key = Some(key);
        if let Target::Remote { leader, .. } = &target {
            // Txns a peer forwarded to us are never forwarded again.
            let (from_peers, ours): (Vec<_>, Vec<_>) =
                batch.into_iter().partition(|p| p.local_only);
            fail_all(
                &self.poison,
                from_peers,
                ProposeError::NotLeader {
                    leader: Some(*leader),
                },
            );
            batch = ours;
        }
        if !batch.is_empty() {
            self.send(target, batch, permit).await;
        }
    }

    /// Waits until no batch but the caller's is in flight.
    async fn drain(&self) {
        if let Ok(all) = self.in_flight.acquire_many(MAX_IN_FLIGHT - 1).await {
            drop(all);
        }
    }

    async fn send(&mut self, target: Target, batch: Vec<Proposal>, slot: OwnedSemaphorePermit) {
        let timeout = self.config.request_timeout;
        let poison = self.poison.clone();
        let (origins, txns, replies) = split(batch);
        match target {
            Target::Local { .. } => {
                let waiters = Arc::new(Waiters::new(replies));
                let proposed = TxnBatch::with_waiters(txns, Arc::clone(&waiters));
                match self.raft.client_write_ff(proposed).await {
                    Ok(outcome) => {
                        let mut abandoned = self.abandon.subscribe();
                        tokio::spawn(async move {
                            let result = tokio::select! {
                                result = tokio::time::timeout(timeout, outcome) => Some(result),
                                _ = abandoned.wait_for(|&a| a) => None,
                            };
                            // Replies (and poisoning) before the slot is freed: a drain must see
                            // the poison.
                            match result {
                                Some(result) => deliver_local(result, &poison, &origins, &waiters),
                                None => fail_waiting(
                                    &poison,
                                    &origins,
                                    &waiters,
                                    ProposeError::Unavailable(
                                        "leadership changed while the write was in flight".into(),
                                    ),
                                ),
                            }
                            drop(slot);
                        });
                    }
                    Err(fatal) => {
                        let err = ProposeError::Stopped(fatal.to_string());
                        fail_waiting(&poison, &origins, &waiters, err);
                    }
                }
            }
            Target::Remote { leader, link, .. } => {
                let forwarded = origins
                    .iter()
                    .zip(txns)
                    .map(|(origin, txn)| ForwardedTxn {
                        origin: *origin,
                        txn,
                    })
                    .collect();
                match link.send(PeerRequest::Forward(forwarded)) {
                    Ok(call) => {
                        let applied = self.applied.clone();
                        let mut abandoned = self.abandon.subscribe();
                        tokio::spawn(async move {
                            let answer = tokio::select! {
                                answer = call.wait(timeout) => answer,
                                _ = abandoned.wait_for(|&a| a) => Err(CallError::Lost {
                                    target: leader,
                                    reason: "the leader changed while the request was in flight"
                                        .into(),
                                }),
                            };
                            // Origins whose outcome is not a success are poisoned before the
                            // slot is freed, so a drain that follows sees them.
                            poison_failed(&poison, &origins, &answer);
                            drop(slot);
                            deliver_forwarded(
                                leader, answer, applied, timeout, &poison, origins, replies,
                            )
                            .await;
                        });
                    }
                    Err(e) => fail_split(
                        &poison,
                        origins,
                        replies,
                        ProposeError::Unavailable(e.to_string()),
                    ),
                }
            }
        }
    }

    /// This node if it leads; otherwise a live link to the leader (unless `only_from_peers`:
    /// those are never forwarded). Waits up to `leader_wait` for a leader to be known and
    /// reachable.
    async fn resolve_target(&mut self, only_from_peers: bool) -> Result<Target, ProposeError> {
        let deadline = tokio::time::Instant::now() + self.config.leader_wait;
        let mut metrics = self.raft.metrics();
        loop {
            let (state, leader, term, leader_addr) = {
                let m = metrics.borrow_and_update();
                let addr = m.current_leader.and_then(|l| {
                    m.membership_config
                        .membership()
                        .get_node(&l)
                        .map(|n| n.addr.clone())
                });
                (m.state, m.current_leader, m.current_term, addr)
            };
            if state == ServerState::Leader {
                return Ok(Target::Local { term });
            }
            if only_from_peers {
                return Err(ProposeError::NotLeader { leader });
            }
            let mut last_error = None;
            if let (Some(leader), Some(addr)) = (leader, leader_addr) {
                if leader != self.config.dialer.me() {
                    let client = self.forward_client(leader, &addr);
                    match client.link().await {
                        Ok(link) => return Ok(Target::Remote { leader, term, link }),
                        Err(e) => last_error = Some(e.to_string()),
                    }
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(match last_error {
                    Some(e) => ProposeError::Unavailable(e),
                    None => ProposeError::NoLeader,
                });
            }
            // Wake on a metrics change, or retry a failed connect shortly.
            let retry = (now + Duration::from_millis(100)).min(deadline);
            let _ = tokio::time::timeout_at(retry, metrics.changed()).await;
        }
    }

    fn forward_client(&mut self, leader: NodeId, addr: &str) -> Arc<PeerClient> {
        let dialer = &self.config.dialer;
        let client = self
            .forward_clients
            .entry(leader)
            .or_insert_with(|| Arc::new(PeerClient::new(dialer, leader, addr)));
        if client.addr() != addr {
            *client = Arc::new(PeerClient::new(dialer, leader, addr));
        }
        client.clone()
    }
}

type Split = (Vec<Origin>, Vec<Txn>, Vec<Reply>);

fn split(batch: Vec<Proposal>) -> Split {
    let mut origins = Vec::with_capacity(batch.len());
    let mut txns = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for p in batch {
        origins.push(p.origin);
        txns.push(p.txn);
        replies.push(p.reply);
    }
    (origins, txns, replies)
}

fn fail_all(poison: &Poison, batch: Vec<Proposal>, err: ProposeError) {
    let (origins, _, replies) = split(batch);
    fail_split(poison, origins, replies, err);
}

fn fail_split(poison: &Poison, origins: Vec<Origin>, replies: Vec<Reply>, err: ProposeError) {
    for origin in origins {
        poison.add(origin);
    }
    for reply in replies {
        let _ = reply.send(Err(err.clone()));
    }
}

type LocalOutcome<E> = Result<
    Result<
        Result<
            openraft::raft::ClientWriteResponse<TypeConfig>,
            ClientWriteError<u64, openraft::BasicNode>,
        >,
        E,
    >,
    tokio::time::error::Elapsed,
>;

/// Hands each txn of a locally proposed batch that the state machine did not answer (it
/// answers what it applies from the batch it was given) its own outcome.
fn deliver_local<E>(
    result: LocalOutcome<E>,
    poison: &Poison,
    origins: &[Origin],
    waiters: &Waiters,
) {
    let err = match result {
        Ok(Ok(Ok(resp))) if resp.data.len() == origins.len() => {
            for (i, response) in resp.data.into_iter().enumerate() {
                if let Some(reply) = waiters.take(i) {
                    let _ = reply.send(Ok(response));
                }
            }
            return;
        }
        Ok(Ok(Ok(resp))) => ProposeError::Raft(format!(
            "a batch of {} txns produced {} results",
            origins.len(),
            resp.data.len()
        )),
        Ok(Ok(Err(ClientWriteError::ForwardToLeader(f)))) => ProposeError::NotLeader {
            leader: f.leader_id,
        },
        Ok(Ok(Err(e))) => ProposeError::Raft(e.to_string()),
        Ok(Err(_)) => ProposeError::Stopped("raft dropped the request".into()),
        Err(_) => ProposeError::Unavailable("the write was not committed in time".into()),
    };
    fail_waiting(poison, origins, waiters, err);
}

/// Fails (and poisons the origins of) the txns of a local batch not answered yet; those the
/// state machine answered were applied.
fn fail_waiting(poison: &Poison, origins: &[Origin], waiters: &Waiters, err: ProposeError) {
    for (i, origin) in origins.iter().enumerate() {
        if let Some(reply) = waiters.take(i) {
            poison.add(*origin);
            let _ = reply.send(Err(err.clone()));
        }
    }
}

/// Poisons the origins of a forwarded batch whose outcome is not a success.
fn poison_failed(poison: &Poison, origins: &[Origin], answer: &Result<PeerResponse, CallError>) {
    match answer {
        Ok(PeerResponse::Forward(results)) if results.len() == origins.len() => {
            for (origin, result) in origins.iter().zip(results) {
                if result.is_err() {
                    poison.add(*origin);
                }
            }
        }
        _ => origins.iter().for_each(|o| poison.add(*o)),
    }
}

/// Hands each forwarded txn its outcome once this node has applied it.
async fn deliver_forwarded(
    leader: NodeId,
    answer: Result<PeerResponse, CallError>,
    mut applied: watch::Receiver<i64>,
    timeout: Duration,
    poison: &Poison,
    origins: Vec<Origin>,
    replies: Vec<Reply>,
) {
    let results = match answer {
        Ok(PeerResponse::Forward(results)) if results.len() == replies.len() => results,
        Ok(other) => {
            let err =
                ProposeError::Raft(format!("leader {leader} answered a forward with {other:?}"));
            return fail_split(poison, origins, replies, err);
        }
        Err(e) => {
            return fail_split(
                poison,
                origins,
                replies,
                ProposeError::Unavailable(e.to_string()),
            )
        }
    };
    let newest = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.zxid))
        .max();
    let caught_up = match newest {
        Some(zxid) => tokio::time::timeout(timeout, applied.wait_for(|&a| a >= zxid))
            .await
            .map_err(|_| {
                ProposeError::Unavailable(format!("this server did not apply zxid {zxid} in time"))
            })
            .and_then(|r| {
                r.map(|_| ())
                    .map_err(|_| ProposeError::Stopped("the state machine stopped".into()))
            }),
        None => Ok(()),
    };
    for ((origin, reply), result) in origins.into_iter().zip(replies).zip(results) {
        let outcome = match (&caught_up, result) {
            (Ok(()), Ok(response)) => Ok(response),
            (Err(e), Ok(_)) => Err(e.clone()),
            (_, Err(e)) => Err(e),
        };
        if outcome.is_err() {
            poison.add(origin);
        }
        let _ = reply.send(outcome);
    }
}
