//! The node slots of the store, in fixed-size chunks.
//!
//! A `Vec` of a million 64-byte slots doubles by copying 64 MiB into freshly mapped memory:
//! measured with mimalloc, applies stalled for 0.27 s at half a million nodes and 0.46 s at a
//! million. Chunks of `CHUNK` slots never move; growing adds one chunk (and a pointer to the
//! small chunk list). An access costs one more indirection.

use std::ops::{Index, IndexMut};

use crate::node::Node;

/// Slots per chunk: 4096 × 64 bytes = 256 KiB, so the last, partly used chunk wastes little.
const CHUNK_BITS: usize = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

#[derive(Debug, Clone, Default)]
pub(crate) struct Slab {
    chunks: Vec<Box<[Option<Node>]>>,
    len: usize,
}

impl Slab {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, index: usize) -> Option<&Option<Node>> {
        (index < self.len).then(|| &self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)])
    }

    pub(crate) fn push(&mut self, slot: Option<Node>) {
        if self.len == self.chunks.len() * CHUNK {
            self.chunks
                .push(std::iter::repeat_with(|| None).take(CHUNK).collect());
        }
        let index = self.len;
        self.len += 1;
        self[index] = slot;
    }

    /// Removes the last slot (a chunk left empty is kept: a push would need it again soon).
    pub(crate) fn pop(&mut self) -> Option<Option<Node>> {
        if self.len == 0 {
            return None;
        }
        let index = self.len - 1;
        let last = self[index].take();
        self.len = index;
        Some(last)
    }
}

impl Index<usize> for Slab {
    type Output = Option<Node>;

    fn index(&self, index: usize) -> &Option<Node> {
        assert!(
            index < self.len,
            "slot {index} past the slab's end {}",
            self.len
        );
        &self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }
}

impl IndexMut<usize> for Slab {
    fn index_mut(&mut self, index: usize) -> &mut Option<Node> {
        assert!(
            index < self.len,
            "slot {index} past the slab's end {}",
            self.len
        );
        &mut self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Birth, ROOT};

    fn node(name: &str) -> Option<Node> {
        let birth = Birth {
            zxid: 1,
            time: 1,
            owner: 0,
        };
        Some(Node::new(ROOT, name, b"", 0, birth))
    }

    #[test]
    fn slots_across_chunk_boundaries() {
        let mut slab = Slab::default();
        for i in 0..CHUNK * 2 + 3 {
            slab.push(node(&format!("n{i}")));
        }
        assert_eq!(slab.len(), CHUNK * 2 + 3);
        for i in [0, CHUNK - 1, CHUNK, CHUNK * 2 + 2] {
            assert_eq!(slab[i].as_ref().unwrap().name(), format!("n{i}"));
        }
        assert!(slab.get(CHUNK * 2 + 3).is_none());
        slab[CHUNK] = None;
        assert!(slab[CHUNK].is_none());
        for _ in 0..4 {
            slab.pop();
        }
        assert_eq!(slab.len(), CHUNK * 2 - 1);
        slab.push(node("again"));
        assert_eq!(slab[CHUNK * 2 - 1].as_ref().unwrap().name(), "again");
    }
}
