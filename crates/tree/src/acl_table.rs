//! Interned ACL lists (ZooKeeper's ACL cache idea): nodes store a 4-byte reference, and each
//! distinct list is stored once with a reference count.
//!
//! A list whose count drops to zero is not freed at once: an undo in the same transaction may
//! need it again. `collect_garbage` frees such lists once the transaction is settled.

use std::collections::HashMap;
use std::sync::Arc;

use arbor_proto::Acl;

/// Reference to an interned ACL list.
pub(crate) type AclRef = u32;

#[derive(Debug, Clone)]
struct Entry {
    list: Arc<[Acl]>,
    refs: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct AclTable {
    entries: Vec<Option<Entry>>,
    by_list: HashMap<Arc<[Acl]>, AclRef>,
    free: Vec<AclRef>,
    maybe_unused: Vec<AclRef>,
}

impl AclTable {
    /// Takes a reference to `list`, interning it if it is new.
    pub(crate) fn intern(&mut self, list: &[Acl]) -> AclRef {
        if let Some(&found) = self.by_list.get(list) {
            self.retain(found);
            return found;
        }
        let list: Arc<[Acl]> = Arc::from(list);
        let entry = Entry {
            list: Arc::clone(&list),
            refs: 1,
        };
        let idx = match self.free.pop() {
            Some(idx) => {
                self.entries[idx as usize] = Some(entry);
                idx
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as AclRef
            }
        };
        self.by_list.insert(list, idx);
        idx
    }

    pub(crate) fn retain(&mut self, idx: AclRef) {
        if let Some(Some(entry)) = self.entries.get_mut(idx as usize) {
            entry.refs += 1;
        }
    }

    pub(crate) fn release(&mut self, idx: AclRef) {
        if let Some(Some(entry)) = self.entries.get_mut(idx as usize) {
            entry.refs = entry.refs.saturating_sub(1);
            if entry.refs == 0 {
                self.maybe_unused.push(idx);
            }
        }
    }

    /// The list behind a reference (empty for an unknown reference, which only a bug produces).
    pub(crate) fn get(&self, idx: AclRef) -> &[Acl] {
        match self.entries.get(idx as usize) {
            Some(Some(entry)) => &entry.list,
            _ => &[],
        }
    }

    /// Frees lists that are no longer referenced.
    pub(crate) fn collect_garbage(&mut self) {
        for idx in std::mem::take(&mut self.maybe_unused) {
            let slot = &mut self.entries[idx as usize];
            if slot.as_ref().is_some_and(|e| e.refs == 0) {
                if let Some(entry) = slot.take() {
                    self.by_list.remove(&entry.list);
                    self.free.push(idx);
                }
            }
        }
    }

    /// Live entries, for snapshots: `(reference, list)`.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (AclRef, &[Acl])> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as AclRef, &*e.list)))
    }

    /// Appends a list with no references yet (snapshot loading), at the next position.
    /// Returns false if the list is already interned.
    pub(crate) fn push_unreferenced(&mut self, list: Vec<Acl>) -> bool {
        if self.by_list.contains_key(&*list) {
            return false;
        }
        let list: Arc<[Acl]> = Arc::from(list);
        self.by_list
            .insert(Arc::clone(&list), self.entries.len() as AclRef);
        self.entries.push(Some(Entry { list, refs: 0 }));
        true
    }

    pub(crate) fn contains(&self, idx: AclRef) -> bool {
        matches!(self.entries.get(idx as usize), Some(Some(_)))
    }

    /// After snapshot loading: frees lists no node refers to.
    pub(crate) fn finish_loading(&mut self) {
        self.maybe_unused = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.as_ref().is_some_and(|e| e.refs == 0))
            .map(|(i, _)| i as AclRef)
            .collect();
        self.collect_garbage();
    }

    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.by_list.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_proto::Id;

    fn list(perms: i32) -> Vec<Acl> {
        vec![Acl {
            perms,
            id: Id::anyone(),
        }]
    }

    #[test]
    fn equal_lists_share_an_entry_until_unused() {
        let mut table = AclTable::default();
        let a = table.intern(&list(31));
        let b = table.intern(&list(31));
        let c = table.intern(&list(1));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(table.get(c), list(1).as_slice());
        table.release(a);
        table.collect_garbage();
        assert_eq!(table.get(a), list(31).as_slice(), "one reference remains");
        table.release(b);
        // Not yet collected: an undo may still take it back.
        table.retain(a);
        table.collect_garbage();
        assert_eq!(table.live(), 2);
        table.release(a);
        table.collect_garbage();
        assert_eq!(table.live(), 1);
        assert!(table.get(a).is_empty());
        // The freed slot is reused.
        assert_eq!(table.intern(&list(7)), a);
    }
}
