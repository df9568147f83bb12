use std::fs;
use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, Membership};
use tempfile::TempDir;

use super::*;
use crate::log_store::{FlushAck, LogOptions, LogStore};
use crate::test_util::{labelled_txn, RecordingApplier};
use crate::types::TxnBatch;

struct SuiteBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for SuiteBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| snapshot_err(None, ErrorVerb::Write, e))?;
        // (The suite's run time is mostly its own one-second sleeps.)
        let options = LogOptions {
            segment_size: 1024,
            force_sync: true,
            flush_ack: FlushAck::AfterSync,
        };
        let log = LogStore::open(&dir.path().join("log"), options)
            .map_err(|e| snapshot_err(None, ErrorVerb::Read, e))?;
        let sm = StateMachine::open(
            &dir.path().join("snap"),
            Arc::new(RecordingApplier::default()),
            3,
        )
        .map_err(|e| snapshot_err(None, ErrorVerb::Read, e))?;
        Ok((dir, log, sm))
    }
}

/// openraft's own conformance suite for `RaftLogStorage` + `RaftStateMachine`.
#[test]
fn openraft_storage_suite() {
    Suite::test_all(SuiteBuilder).unwrap();
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn normal(index: u64) -> Entry {
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(TxnBatch::new(vec![labelled_txn(index as i64)])),
    }
}

fn membership(index: u64) -> Entry {
    let m = Membership::new(vec![std::collections::BTreeSet::from([1u64])], ());
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Membership(m),
    }
}

#[tokio::test]
async fn apply_delegates_in_order_and_tracks_state() {
    let dir = tempfile::tempdir().unwrap();
    let applier = Arc::new(RecordingApplier::default());
    let mut sm = StateMachine::open(dir.path(), applier.clone(), 3).unwrap();
    let blank = Entry {
        log_id: log_id(1, 2),
        payload: EntryPayload::Blank,
    };
    let responses = sm
        .apply(vec![membership(1), blank, normal(3), normal(4)])
        .await
        .unwrap();
    // One result list per entry; zxids count txns only (membership and blank entries have none).
    assert_eq!(
        responses
            .iter()
            .map(|r| r.iter().map(|r| r.zxid).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        vec![vec![], vec![], vec![1], vec![2]]
    );
    assert!(applier.advanced().is_empty());
    assert_eq!(applier.labels(), vec![3, 4]);
    let (applied, membership) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(1, 4)));
    assert_eq!(membership.log_id(), &Some(log_id(1, 1)));
    assert_eq!(sm.applied_zxid().load(Ordering::Acquire), 2);
}

#[tokio::test]
async fn snapshot_restores_on_open_and_damaged_newest_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    {
        let applier = Arc::new(RecordingApplier::default());
        let mut sm = StateMachine::open(dir.path(), applier, 3).unwrap();
        sm.apply(vec![membership(1), normal(2), normal(3)])
            .await
            .unwrap();
        let first = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(first.meta.last_log_id, Some(log_id(1, 3)));
        sm.apply(vec![normal(4)]).await.unwrap();
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta.last_log_id, Some(log_id(1, 4)));
    }

    let applier = Arc::new(RecordingApplier::default());
    let sm = StateMachine::open(dir.path(), applier.clone(), 3).unwrap();
    assert_eq!(sm.last_applied(), Some(log_id(1, 4)));
    assert_eq!(applier.labels(), vec![2, 3, 4]);
    // Three txns were applied (entry 1 is the membership): the snapshot carries zxid 3.
    assert_eq!(sm.applied_zxid().load(Ordering::Acquire), 3);
    assert_eq!(applier.advanced(), vec![3]);
    drop(sm);

    // Damage the newest snapshot: the previous one is used instead.
    let newest = dir.path().join("snapshot-1-4.snap");
    let mut bytes = fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&newest, bytes).unwrap();
    let applier = Arc::new(RecordingApplier::default());
    let mut sm = StateMachine::open(dir.path(), applier.clone(), 3).unwrap();
    assert_eq!(sm.last_applied(), Some(log_id(1, 3)));
    assert_eq!(applier.labels(), vec![2, 3]);
    let (_, membership) = sm.applied_state().await.unwrap();
    assert_eq!(membership.log_id(), &Some(log_id(1, 1)));
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id, Some(log_id(1, 3)));
}

#[tokio::test]
async fn builder_captures_state_at_request_time() {
    let dir = tempfile::tempdir().unwrap();
    let applier = Arc::new(RecordingApplier::default());
    let mut sm = StateMachine::open(dir.path(), applier, 3).unwrap();
    sm.apply(vec![normal(1), normal(2)]).await.unwrap();
    let mut builder = sm.get_snapshot_builder().await;
    // Applying continues while the snapshot is written; it must not leak into it.
    sm.apply(vec![normal(3)]).await.unwrap();
    let built = builder.build_snapshot().await.unwrap();
    assert_eq!(built.meta.last_log_id, Some(log_id(1, 2)));
    // The body (in the file) is the zxid of the last txn in it, then the applier's bytes.
    let snap = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(snap.meta, built.meta);
    let body = snap.snapshot.get_ref();
    assert_eq!(i64::from_le_bytes(body[..8].try_into().unwrap()), 2);
    let restored = RecordingApplier::default();
    restored.restore(&mut &body[8..]).unwrap();
    assert_eq!(restored.labels(), vec![1, 2]);
}

#[tokio::test]
async fn install_snapshot_replaces_state_and_other_snapshots() {
    let src_dir = tempfile::tempdir().unwrap();
    let dst_dir = tempfile::tempdir().unwrap();
    let mut src =
        StateMachine::open(src_dir.path(), Arc::new(RecordingApplier::default()), 3).unwrap();
    src.apply(vec![membership(1), normal(2), normal(3)])
        .await
        .unwrap();
    src.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let snap = src.get_current_snapshot().await.unwrap().unwrap();

    let applier = Arc::new(RecordingApplier::default());
    let mut dst = StateMachine::open(dst_dir.path(), applier.clone(), 3).unwrap();
    dst.apply(vec![normal(1)]).await.unwrap();
    dst.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();

    let mut receiving = dst.begin_receiving_snapshot().await.unwrap();
    receiving
        .get_mut()
        .extend_from_slice(snap.snapshot.get_ref());
    dst.install_snapshot(&snap.meta, receiving).await.unwrap();
    assert_eq!(applier.labels(), vec![2, 3]);
    assert_eq!(dst.applied_state().await.unwrap().0, Some(log_id(1, 3)));
    let files = crate::snapshot::list(dst_dir.path()).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].index, 3);
}
