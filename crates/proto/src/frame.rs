//! Length-prefixed framing: every message on a ZooKeeper connection is a big-endian `i32`
//! length followed by that many bytes. Pure functions over byte buffers; no I/O.

use crate::jute::Writer;

/// ZooKeeper's default `jute.maxbuffer` (0xfffff bytes, just under 1 MiB).
pub const DEFAULT_MAX_FRAME_LEN: usize = 0xfffff;

/// Bytes in the length prefix.
pub const LEN_PREFIX: usize = 4;

/// Why a frame cannot be accepted. Either way the connection must be closed: the stream can no
/// longer be trusted to be aligned on frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("negative frame length {0}")]
    Negative(i32),
    #[error("frame length {len} exceeds the maximum of {max} bytes (jute.maxbuffer)")]
    TooLarge { len: usize, max: usize },
}

/// One complete frame found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The frame's payload, without the length prefix.
    pub body: &'a [u8],
}

impl Frame<'_> {
    /// Bytes the frame occupies in the buffer, length prefix included: drop this many bytes
    /// from the front of the buffer to move on to the next frame.
    pub fn consumed(&self) -> usize {
        LEN_PREFIX + self.body.len()
    }
}

/// The length prefix at the start of `buf`, if 4 bytes are there.
pub fn peek_len(buf: &[u8]) -> Option<i32> {
    let prefix: [u8; LEN_PREFIX] = buf.get(..LEN_PREFIX)?.try_into().ok()?;
    Some(i32::from_be_bytes(prefix))
}

/// A length prefix as a body length, ZooKeeper's server rule: below 0 or above `max_len` is
/// an error.
pub fn check_len(len: i32, max_len: usize) -> Result<usize, FrameError> {
    let len = usize::try_from(len).map_err(|_| FrameError::Negative(len))?;
    if len > max_len {
        return Err(FrameError::TooLarge { len, max: max_len });
    }
    Ok(len)
}

/// Splits the first frame off `buf`, ZooKeeper's server rule: a length below 0 or above
/// `max_len` is an error, reported as soon as the prefix has arrived (before the body).
///
/// `Ok(None)` means more bytes are needed.
pub fn split_frame(buf: &[u8], max_len: usize) -> Result<Option<Frame<'_>>, FrameError> {
    let Some(len) = peek_len(buf) else {
        return Ok(None);
    };
    let len = check_len(len, max_len)?;
    Ok(buf
        .get(LEN_PREFIX..LEN_PREFIX + len)
        .map(|body| Frame { body }))
}

/// What [`framed`] reserves up front: a reply header with a Stat (88 bytes) or a small
/// getData reply fits without the buffer growing (it grew three or four times from empty).
const FRAME_CAPACITY: usize = 256;

/// Builds a frame: runs `write_body`, then fills in the length prefix.
pub fn framed(write_body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::with_capacity(FRAME_CAPACITY);
    w.write_i32(0);
    write_body(&mut w);
    let body_len = w.len() - LEN_PREFIX;
    w.patch_i32(0, i32::try_from(body_len).unwrap_or(i32::MAX));
    w.into_bytes()
}

/// Prefixes `body` with its length.
pub fn encode_frame(body: &[u8]) -> Vec<u8> {
    framed(|w| w.write_raw(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_four_bytes_for_the_length() {
        for len in 0..4 {
            assert_eq!(split_frame(&[0, 0, 0, 1][..len], 10), Ok(None));
        }
    }

    #[test]
    fn needs_the_whole_body() {
        assert_eq!(split_frame(&[0, 0, 0, 3, 9, 9], 10), Ok(None));
    }

    #[test]
    fn splits_the_first_frame_and_reports_its_size() {
        let buf = [0, 0, 0, 2, 7, 8, 0, 0, 0, 0];
        let frame = split_frame(&buf, 10).expect("valid").expect("complete");
        assert_eq!(frame.body, [7, 8]);
        assert_eq!(frame.consumed(), 6);
        let next = split_frame(&buf[frame.consumed()..], 10)
            .expect("valid")
            .expect("complete");
        assert_eq!(next.body, [] as [u8; 0]);
    }

    #[test]
    fn rejects_negative_lengths() {
        assert_eq!(
            split_frame(&(-1i32).to_be_bytes(), 10),
            Err(FrameError::Negative(-1))
        );
    }

    #[test]
    fn rejects_oversized_frames_before_their_body_arrives() {
        let buf = 11i32.to_be_bytes();
        assert_eq!(
            split_frame(&buf, 10),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );
        // Exactly the maximum is allowed.
        assert_eq!(split_frame(&10i32.to_be_bytes(), 10), Ok(None));
    }

    #[test]
    fn four_letter_words_look_like_oversized_frames() {
        // "ruok" read as a length is 0x72756f6b, far over jute.maxbuffer.
        assert!(matches!(
            split_frame(b"ruok", DEFAULT_MAX_FRAME_LEN),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn encode_frame_prefixes_the_length() {
        let frame = encode_frame(b"abc");
        assert_eq!(frame, [0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(
            split_frame(&frame, DEFAULT_MAX_FRAME_LEN),
            Ok(Some(Frame { body: b"abc" }))
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic_the_frame_splitter(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            max_len in prop_oneof![0..64usize, Just(DEFAULT_MAX_FRAME_LEN), Just(usize::MAX)],
        ) {
            if let Ok(Some(frame)) = split_frame(&bytes, max_len) {
                prop_assert!(frame.consumed() <= bytes.len());
                prop_assert!(frame.body.len() <= max_len);
            }
        }

        #[test]
        fn split_frame_inverts_encode_frame(
            body in prop::collection::vec(any::<u8>(), 0..64),
            trailing in prop::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut buf = encode_frame(&body);
            let frame_len = buf.len();
            buf.extend_from_slice(&trailing);
            let frame = split_frame(&buf, DEFAULT_MAX_FRAME_LEN).expect("valid").expect("complete");
            prop_assert_eq!(frame.body, &body[..]);
            prop_assert_eq!(frame.consumed(), frame_len);
            // Any shorter prefix is incomplete, never an error.
            prop_assert_eq!(split_frame(&buf[..frame_len - 1], DEFAULT_MAX_FRAME_LEN), Ok(None));
        }
    }
}
