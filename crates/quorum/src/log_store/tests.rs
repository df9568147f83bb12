use std::fs;
use std::path::Path;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, RaftLogReader};

use super::record::tests::txn_entry;
use super::*;

fn options(segment_size: u64) -> LogOptions {
    LogOptions {
        segment_size,
        force_sync: true,
        flush_ack: FlushAck::AfterSync,
    }
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

async fn append_range(store: &mut LogStore, term: u64, range: std::ops::RangeInclusive<u64>) {
    let entries: Vec<_> = range.map(|i| txn_entry(term, i)).collect();
    store.blocking_append(entries).await.unwrap();
}

async fn indexes(store: &mut LogStore) -> Vec<u64> {
    store
        .try_get_log_entries(..)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect()
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .filter(|n| parse_segment_name(n).is_some())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn append_read_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = LogStore::open(dir.path(), options(DEFAULT_SEGMENT_SIZE)).unwrap();
        append_range(&mut store, 1, 1..=100).await;
        let got = store.try_get_log_entries(10..20).await.unwrap();
        assert_eq!(got, (10..20).map(|i| txn_entry(1, i)).collect::<Vec<_>>());
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(1, 100)));
        assert_eq!(state.last_purged_log_id, None);
        store.save_vote(&Vote::new(3, 1)).await.unwrap();
        assert!(
            store
                .sync_counter()
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 1
        );
    }
    let mut store = LogStore::open(dir.path(), options(DEFAULT_SEGMENT_SIZE)).unwrap();
    assert_eq!(indexes(&mut store).await, (1..=100).collect::<Vec<_>>());
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
    // Entries read back from disk (not the cache) are identical.
    let from_disk = store.shared.lock().read_entry(42).unwrap();
    assert_eq!(from_disk, txn_entry(1, 42));
}

#[tokio::test]
async fn entries_evicted_from_cache_are_read_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::open(dir.path(), options(4096)).unwrap();
    append_range(&mut store, 1, 0..=9000).await;
    assert!(store.shared.lock().cache.get(0).is_none());
    let got = store.try_get_log_entries(0..3).await.unwrap();
    assert_eq!(got, vec![txn_entry(1, 0), txn_entry(1, 1), txn_entry(1, 2)]);
}

#[tokio::test]
async fn segments_roll_and_reopen_reads_all() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = LogStore::open(dir.path(), options(512)).unwrap();
        for i in 1..=60 {
            append_range(&mut store, 1, i..=i).await;
        }
    }
    let files = segment_files(dir.path());
    assert!(files.len() > 3, "expected several segments, got {files:?}");
    assert_eq!(files[0], "log-00000000000000000001.seg");
    let mut store = LogStore::open(dir.path(), options(512)).unwrap();
    assert_eq!(indexes(&mut store).await, (1..=60).collect::<Vec<_>>());
}

#[tokio::test]
async fn truncate_removes_suffix_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = LogStore::open(dir.path(), options(512)).unwrap();
        append_range(&mut store, 1, 1..=50).await;
        store.truncate(log_id(1, 20)).await.unwrap();
        assert_eq!(indexes(&mut store).await, (1..=19).collect::<Vec<_>>());
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(log_id(1, 19))
        );
        // A new leader's entries take the truncated indexes.
        append_range(&mut store, 2, 20..=25).await;
    }
    for name in segment_files(dir.path()) {
        assert!(
            parse_segment_name(&name).unwrap() <= 25,
            "stale segment {name}"
        );
    }
    let mut store = LogStore::open(dir.path(), options(512)).unwrap();
    let entries = store.try_get_log_entries(..).await.unwrap();
    let expected: Vec<_> = (1..=19)
        .map(|i| txn_entry(1, i))
        .chain((20..=25).map(|i| txn_entry(2, i)))
        .collect();
    assert_eq!(entries, expected);
}

#[tokio::test]
async fn truncate_everything_then_append_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::open(dir.path(), options(512)).unwrap();
    append_range(&mut store, 1, 5..=9).await;
    store.truncate(log_id(1, 5)).await.unwrap();
    assert!(indexes(&mut store).await.is_empty());
    assert_eq!(store.get_log_state().await.unwrap().last_log_id, None);
    append_range(&mut store, 2, 5..=6).await;
    drop(store);
    let mut store = LogStore::open(dir.path(), options(512)).unwrap();
    assert_eq!(indexes(&mut store).await, vec![5, 6]);
}

#[tokio::test]
async fn purge_deletes_whole_segments_and_persists_purge_point() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = LogStore::open(dir.path(), options(512)).unwrap();
        append_range(&mut store, 1, 1..=60).await;
        let before = segment_files(dir.path()).len();
        store.purge(log_id(1, 30)).await.unwrap();
        assert_eq!(indexes(&mut store).await, (31..=60).collect::<Vec<_>>());
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 30)));
        let after = segment_files(dir.path());
        assert!(after.len() < before, "no segment deleted: {after:?}");
        // The first remaining segment still holds index 31; every deleted one ended before it.
        assert!(parse_segment_name(&after[0]).unwrap() <= 31);
        assert!(store.shared.lock().locs.len() == 30);

        // Purging everything keeps the active segment; appends continue after the purge point.
        store.purge(log_id(1, 60)).await.unwrap();
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(log_id(1, 60))
        );
        append_range(&mut store, 1, 61..=62).await;
    }
    let mut store = LogStore::open(dir.path(), options(512)).unwrap();
    assert_eq!(indexes(&mut store).await, vec![61, 62]);
    assert_eq!(
        store.get_log_state().await.unwrap().last_purged_log_id,
        Some(log_id(1, 60))
    );
}

#[tokio::test]
async fn torn_tail_is_truncated_and_all_complete_records_recovered() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = LogStore::open(dir.path(), options(DEFAULT_SEGMENT_SIZE)).unwrap();
        append_range(&mut store, 1, 1..=20).await;
    }
    let path = dir.path().join(segment_name(1));
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    {
        let mut store = LogStore::open(dir.path(), options(DEFAULT_SEGMENT_SIZE)).unwrap();
        assert_eq!(indexes(&mut store).await, (1..=19).collect::<Vec<_>>());
        append_range(&mut store, 1, 20..=21).await;
    }
    let mut store = LogStore::open(dir.path(), options(DEFAULT_SEGMENT_SIZE)).unwrap();
    assert_eq!(indexes(&mut store).await, (1..=21).collect::<Vec<_>>());
}

#[tokio::test]
async fn torn_tail_of_a_rolled_log_only_affects_the_last_segment() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = LogStore::open(dir.path(), options(512)).unwrap();
        append_range(&mut store, 1, 1..=40).await;
    }
    let files = segment_files(dir.path());
    let last = dir.path().join(files.last().unwrap());
    let last_first = parse_segment_name(files.last().unwrap()).unwrap();
    // Garbage appended after the last record, as a crash mid-write can leave.
    let mut bytes = fs::read(&last).unwrap();
    bytes.extend_from_slice(&[0x17, 0, 0, 0, 1, 2, 3]);
    fs::write(&last, bytes).unwrap();
    let mut store = LogStore::open(dir.path(), options(512)).unwrap();
    assert_eq!(indexes(&mut store).await, (1..=40).collect::<Vec<_>>());
    assert!(last_first > 1);
}

#[tokio::test]
async fn flipped_byte_in_the_middle_is_refused_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = LogStore::open(dir.path(), options(DEFAULT_SEGMENT_SIZE)).unwrap();
        append_range(&mut store, 1, 1..=20).await;
    }
    let (damaged_offset, path) = {
        let store = LogStore::open(dir.path(), options(DEFAULT_SEGMENT_SIZE)).unwrap();
        let inner = store.shared.lock();
        let loc = inner.locs[9];
        (loc.offset, inner.segment_path(loc.segment))
    };
    let mut bytes = fs::read(&path).unwrap();
    bytes[damaged_offset as usize + RECORD_HEADER_LEN + 3] ^= 0x01;
    fs::write(&path, bytes).unwrap();

    match LogStore::open(dir.path(), options(DEFAULT_SEGMENT_SIZE)) {
        Err(LogError::Corrupt { file, offset, .. }) => {
            assert_eq!(file, path);
            assert_eq!(offset, damaged_offset);
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a corrupt middle record was accepted"),
    }
}

#[tokio::test]
async fn damage_in_a_non_last_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = LogStore::open(dir.path(), options(512)).unwrap();
        append_range(&mut store, 1, 1..=40).await;
    }
    // Chopping the end of the first segment looks like a torn tail, but it is not the last.
    let path = dir.path().join(segment_name(1));
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    assert!(matches!(
        LogStore::open(dir.path(), options(512)),
        Err(LogError::Corrupt { file, .. }) if file == path
    ));
}

#[tokio::test]
async fn missing_segment_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = LogStore::open(dir.path(), options(512)).unwrap();
        append_range(&mut store, 1, 1..=60).await;
    }
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);
    fs::remove_file(dir.path().join(&files[1])).unwrap();
    let err = LogStore::open(dir.path(), options(512)).err().unwrap();
    assert!(
        matches!(&err, LogError::Corrupt { reason, .. } if reason.contains("expected index")),
        "{err}"
    );
}

#[tokio::test]
async fn second_open_of_the_same_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = LogStore::open(dir.path(), options(512)).unwrap();
    assert!(matches!(
        LogStore::open(dir.path(), options(512)),
        Err(LogError::Locked { .. })
    ));
}

#[tokio::test]
async fn committed_and_vote_survive_reopen_without_force_sync() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        segment_size: 512,
        force_sync: false,
        flush_ack: FlushAck::AfterSync,
    };
    {
        let mut store = LogStore::open(dir.path(), opts.clone()).unwrap();
        append_range(&mut store, 1, 1..=5).await;
        store.save_committed(Some(log_id(1, 4))).await.unwrap();
        store.save_vote(&Vote::new_committed(1, 1)).await.unwrap();
        assert_eq!(
            store
                .sync_counter()
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }
    let mut store = LogStore::open(dir.path(), opts).unwrap();
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 4)));
    assert_eq!(
        store.read_vote().await.unwrap(),
        Some(Vote::new_committed(1, 1))
    );
    assert_eq!(indexes(&mut store).await, (1..=5).collect::<Vec<_>>());
}

#[tokio::test]
async fn append_with_a_hole_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::open(dir.path(), options(512)).unwrap();
    append_range(&mut store, 1, 1..=3).await;
    let result = store.blocking_append(vec![txn_entry(1, 5)]).await;
    assert!(result.is_err());
    assert_eq!(indexes(&mut store).await, vec![1, 2, 3]);
}
