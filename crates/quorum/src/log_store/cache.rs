//! A bounded cache of the newest log entries.
//!
//! openraft reads every entry back right after it commits (to apply it), so keeping the tail
//! in memory avoids a disk read per entry; older entries are read from their segment.

use std::collections::VecDeque;

use crate::types::Entry;

const MAX_ENTRIES: usize = 8192;
/// Entries carry whole txn batches (up to 1024 txns), so bytes, not entries, bound it. Bytes
/// of encoded payload: decoded entries take about twice that in memory. 4 MiB holds a few
/// hundred milliseconds of writes at full speed, far more than apply and replication lag
/// behind; what falls out is read from its segment (in the page cache).
const MAX_BYTES: usize = 4 << 20;

/// Contiguous entries `first_index .. first_index + entries.len()`.
#[derive(Default)]
pub(crate) struct EntryCache {
    first_index: u64,
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

impl EntryCache {
    /// Add the entry following the cached ones (a non-contiguous entry restarts the cache).
    pub(crate) fn push(&mut self, entry: Entry, size: usize) {
        let index = entry.log_id.index;
        if self.entries.is_empty() || index != self.first_index + self.entries.len() as u64 {
            self.clear();
            self.first_index = index;
        }
        self.entries.push_back((entry, size));
        self.bytes += size;
        while self.entries.len() > MAX_ENTRIES || self.bytes > MAX_BYTES {
            self.pop_front();
        }
    }

    pub(crate) fn get(&self, index: u64) -> Option<&Entry> {
        let pos = usize::try_from(index.checked_sub(self.first_index)?).ok()?;
        self.entries.get(pos).map(|(e, _)| e)
    }

    /// Forget entries at `index` and after.
    pub(crate) fn truncate_from(&mut self, index: u64) {
        while self
            .entries
            .back()
            .is_some_and(|(e, _)| e.log_id.index >= index)
        {
            if let Some((_, size)) = self.entries.pop_back() {
                self.bytes -= size;
            }
        }
    }

    /// Forget entries at `index` and before.
    pub(crate) fn purge_upto(&mut self, index: u64) {
        while self
            .entries
            .front()
            .is_some_and(|(e, _)| e.log_id.index <= index)
        {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some((_, size)) = self.entries.pop_front() {
            self.bytes -= size;
            self.first_index += 1;
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_store::record::tests::txn_entry;

    #[test]
    fn keeps_a_bounded_contiguous_tail() {
        let mut cache = EntryCache::default();
        for i in 1..=(MAX_ENTRIES as u64 + 10) {
            cache.push(txn_entry(1, i), 10);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(cache.get(10).is_none());
        assert_eq!(cache.get(11).map(|e| e.log_id.index), Some(11));

        cache.truncate_from(100);
        assert!(cache.get(100).is_none());
        assert!(cache.get(99).is_some());
        cache.purge_upto(50);
        assert!(cache.get(50).is_none());
        assert!(cache.get(51).is_some());

        // A gap restarts the cache rather than mislabelling entries.
        cache.push(txn_entry(2, 500), 10);
        assert!(cache.get(99).is_none());
        assert_eq!(cache.get(500).map(|e| e.log_id.index), Some(500));
    }

    #[test]
    fn evicts_by_bytes() {
        let mut cache = EntryCache::default();
        for i in 0..4 {
            cache.push(txn_entry(1, i), MAX_BYTES / 3);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(0).is_none());
    }
}
