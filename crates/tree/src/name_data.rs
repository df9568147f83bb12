//! A node's name and data in one heap block, addressed by a thin pointer.
//!
//! `Box<[u8]>` would do the same job safely but spends 8 bytes beside the pointer on a length,
//! and the node would need 4 more for the name's length. Here the block starts with both
//! lengths as LEB128 varints (two bytes for names and data under 128 bytes, which usually fall
//! in the allocator's same size class anyway), so the node holds one 8-byte pointer: over a
//! million znodes that is the difference between 64-byte and 72-byte nodes, 8 MB.
//!
//! The tests below also run under Miri, which finds no undefined behaviour (~7 min):
//! `MIRIFLAGS=-Zmiri-disable-isolation PROPTEST_CASES=4 cargo +nightly miri test -p arbor-tree
//! --lib name_data`.

use std::ptr::NonNull;

/// An owned, immutable block: `varint(name_len) ++ varint(data_len) ++ name ++ data`. Names and
/// data are bounded by the frame size (`jute.maxbuffer`, an `i32`), so `u32` lengths suffice.
pub(crate) struct NameData {
    /// Start of a block obtained from `Box::<[u8]>::into_raw`; its length is the header's
    /// length plus the two lengths the header holds.
    ptr: NonNull<u8>,
}

// SAFETY: `NameData` owns its block exclusively (no aliasing pointer exists) and only hands
// out shared borrows tied to `&self`, exactly like the `Box<[u8]>` it was made from.
unsafe impl Send for NameData {}
// SAFETY: as above; `&NameData` gives only `&[u8]`.
unsafe impl Sync for NameData {}

/// Where the parts of a block are: the header's length and the two lengths it holds.
#[derive(Clone, Copy)]
struct Layout {
    header: usize,
    name: usize,
    data: usize,
}

impl Layout {
    fn total(self) -> usize {
        self.header + self.name + self.data
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

impl NameData {
    pub(crate) fn new(name: &str, data: &[u8]) -> Self {
        let name_len = u32::try_from(name.len()).expect("znode name longer than 4 GiB");
        let data_len = u32::try_from(data.len()).expect("znode data longer than 4 GiB");
        // At most 5 bytes per varint; the exact size is what gets allocated (`into_boxed_slice`
        // would otherwise shrink, i.e. reallocate).
        let header = varint_len(name_len) + varint_len(data_len);
        let mut bytes = Vec::with_capacity(header + name.len() + data.len());
        put_varint(&mut bytes, name_len);
        put_varint(&mut bytes, data_len);
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(data);
        let raw = Box::into_raw(bytes.into_boxed_slice()) as *mut u8;
        NameData {
            // `Box::into_raw` never returns null, and the block is never empty (the header
            // takes at least two bytes).
            ptr: NonNull::new(raw).expect("Box::into_raw returned null"),
        }
    }

    /// Reads one varint at `at` bytes into the block.
    fn varint_at(&self, at: usize) -> (usize, usize) {
        let mut value = 0usize;
        let mut shift = 0;
        let mut read = 0;
        loop {
            // SAFETY: `new` wrote a complete varint here (at most 5 bytes, the last without
            // the continuation bit), so every byte read lies inside the block.
            let byte = unsafe { *self.ptr.as_ptr().add(at + read) };
            read += 1;
            value |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return (value, read);
            }
            shift += 7;
        }
    }

    fn layout(&self) -> Layout {
        let (name, first) = self.varint_at(0);
        let (data, second) = self.varint_at(first);
        Layout {
            header: first + second,
            name,
            data,
        }
    }

    /// The block past its header: name then data.
    fn payload(&self, layout: Layout) -> &[u8] {
        // SAFETY: the block holds `layout.total()` initialized bytes owned by `self` (see
        // `new`), of which the first `layout.header` are the header.
        unsafe {
            std::slice::from_raw_parts(
                self.ptr.as_ptr().add(layout.header),
                layout.name + layout.data,
            )
        }
    }

    pub(crate) fn name(&self) -> &str {
        let layout = self.layout();
        // SAFETY: the name's bytes were copied from a `&str` in `new`, the only constructor,
        // and are never changed. (Checking them again on every lookup cost ~2% of an
        // ensemble's CPU under a write load.)
        unsafe { std::str::from_utf8_unchecked(&self.payload(layout)[..layout.name]) }
    }

    /// Whether the name is `name` (bytes compared, no UTF-8 check).
    pub(crate) fn name_is(&self, name: &str) -> bool {
        let layout = self.layout();
        layout.name == name.len() && &self.payload(layout)[..layout.name] == name.as_bytes()
    }

    pub(crate) fn data(&self) -> &[u8] {
        let layout = self.layout();
        &self.payload(layout)[layout.name..]
    }

    pub(crate) fn data_len(&self) -> usize {
        self.layout().data
    }
}

fn varint_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0x0fff_ffff => 4,
        _ => 5,
    }
}

impl Drop for NameData {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.layout().total());
        // SAFETY: `slice` is exactly the pointer and length `Box::into_raw` gave in `new` (the
        // header records the rest of the length), and it is freed once, here.
        drop(unsafe { Box::from_raw(slice) });
    }
}

impl Clone for NameData {
    fn clone(&self) -> Self {
        NameData::new(self.name(), self.data())
    }
}

impl std::fmt::Debug for NameData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameData")
            .field("name", &self.name())
            .field("data_len", &self.data_len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_name_and_data_apart_including_empty_ones() {
        for (name, data) in [
            ("name", &b"data"[..]),
            ("", &b""[..]),
            ("", &b"only data"[..]),
            ("only-name", &b""[..]),
            ("ünïcode", &[0u8, 255, 7][..]),
        ] {
            let block = NameData::new(name, data);
            assert_eq!((block.name(), block.data()), (name, data));
            assert!(block.name_is(name) && !block.name_is("other"));
            let copy = block.clone();
            drop(block);
            assert_eq!((copy.name(), copy.data()), (name, data));
        }
    }

    #[test]
    fn lengths_across_every_varint_width_survive() {
        for len in [0usize, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
            let name = "n".repeat(len.min(200_000));
            let data = vec![7u8; len];
            let block = NameData::new(&name, &data);
            assert_eq!(block.name(), name);
            assert_eq!(block.data(), &data[..]);
            assert_eq!(block.data_len(), len);
            assert!(block.name_is(&name));
            assert!(!block.name_is(&format!("{name}x")));
            assert_eq!(
                block.layout().total(),
                varint_len(name.len() as u32) + varint_len(len as u32) + name.len() + len
            );
        }
        for value in [
            0u32,
            127,
            128,
            16_383,
            16_384,
            0x1f_ffff,
            0x20_0000,
            u32::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
        }
    }

    proptest::proptest! {
        /// Any name and data come back exactly, compare as themselves only, and the block is
        /// exactly as long as header and payload (what `Drop` frees).
        #[test]
        fn any_name_and_data_round_trip(
            name in "\\PC{0,300}",
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..20_000),
            other in "\\PC{0,300}",
        ) {
            let block = NameData::new(&name, &data);
            proptest::prop_assert_eq!(block.name(), name.as_str());
            proptest::prop_assert_eq!(block.data(), &data[..]);
            proptest::prop_assert_eq!(block.data_len(), data.len());
            proptest::prop_assert!(block.name_is(&name));
            proptest::prop_assert_eq!(block.name_is(&other), other == name);
            let header = varint_len(name.len() as u32) + varint_len(data.len() as u32);
            proptest::prop_assert_eq!(block.layout().total(), header + name.len() + data.len());
            let copy = block.clone();
            drop(block);
            proptest::prop_assert_eq!(copy.name(), name.as_str());
            proptest::prop_assert_eq!(copy.data(), &data[..]);
        }
    }

    #[test]
    fn is_a_thin_pointer_with_a_niche() {
        assert_eq!(std::mem::size_of::<NameData>(), 8);
        assert_eq!(std::mem::size_of::<Option<NameData>>(), 8);
    }
}
