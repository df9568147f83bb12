//! A node's name and data in one heap block, addressed by a thin pointer.
//!
//! `Box<[u8]>` would do the same job safely but spends 8 bytes on a length the node already
//! knows (it must keep the name's length anyway): over a million znodes that is 8 MB, and with
//! the node's other fields it decides whether a node fits 72 bytes or needs 80. This type keeps
//! both lengths in two `u32`s beside one pointer (16 bytes) and rebuilds the boxed slice only to
//! free it.

use std::ptr::NonNull;

/// An owned, immutable `name ++ data` byte block. Names and data are bounded by the frame size
/// (`jute.maxbuffer`, an `i32`), so `u32` lengths always suffice.
pub(crate) struct NameData {
    /// Start of a block obtained from `Box::<[u8]>::into_raw` with `name_len + data_len` bytes.
    ptr: NonNull<u8>,
    name_len: u32,
    data_len: u32,
}

// SAFETY: `NameData` owns its block exclusively (no aliasing pointer exists) and only hands
// out shared borrows tied to `&self`, exactly like the `Box<[u8]>` it was made from.
unsafe impl Send for NameData {}
// SAFETY: as above; `&NameData` gives only `&[u8]`.
unsafe impl Sync for NameData {}

impl NameData {
    pub(crate) fn new(name: &str, data: &[u8]) -> Self {
        let name_len = u32::try_from(name.len()).expect("znode name longer than 4 GiB");
        let data_len = u32::try_from(data.len()).expect("znode data longer than 4 GiB");
        let mut bytes = Vec::with_capacity(name.len() + data.len());
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(data);
        let raw = Box::into_raw(bytes.into_boxed_slice()) as *mut u8;
        NameData {
            // `Box::into_raw` never returns null (an empty slice gives a dangling, non-null one).
            ptr: NonNull::new(raw).expect("Box::into_raw returned null"),
            name_len,
            data_len,
        }
    }

    fn len(&self) -> usize {
        self.name_len as usize + self.data_len as usize
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points at `len()` initialized bytes owned by `self` (see `new`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len()) }
    }

    pub(crate) fn name(&self) -> &str {
        // SAFETY: the first `name_len` bytes were copied from a `&str` in `new`, the only
        // constructor, and are never changed. (Checking them again on every lookup cost ~2%
        // of an ensemble's CPU under a write load.)
        unsafe { std::str::from_utf8_unchecked(&self.bytes()[..self.name_len as usize]) }
    }

    /// Whether the name is `name` (bytes compared, no UTF-8 check).
    pub(crate) fn name_is(&self, name: &str) -> bool {
        &self.bytes()[..self.name_len as usize] == name.as_bytes()
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.bytes()[self.name_len as usize..]
    }
}

impl Drop for NameData {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len());
        // SAFETY: `slice` is exactly the pointer and length `Box::into_raw` gave in `new`, and
        // it is freed once, here.
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
            .field("data_len", &self.data_len)
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
    fn is_a_thin_pointer_with_a_niche() {
        assert_eq!(std::mem::size_of::<NameData>(), 16);
        assert_eq!(std::mem::size_of::<Option<NameData>>(), 16);
    }
}
