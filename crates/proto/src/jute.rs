//! Jute, ZooKeeper's binary serialization: the primitives and the [`Record`] trait.
//!
//! Everything is big-endian. `int` is an `i32`, `long` an `i64`, `boolean` one byte. A `buffer`
//! or `ustring` is an `i32` length followed by that many bytes, where length `-1` means null. A
//! `vector` is an `i32` item count (`-1` = null) followed by the items. A record is its fields in
//! declaration order, with no framing of its own.
//!
//! The [`Reader`] never trusts a length prefix: it checks every length and vector count against
//! the bytes that remain before it allocates, so a hostile frame cannot make it reserve more
//! memory than the frame itself holds, and no input makes it panic.

use crate::error::ErrorCode;
use crate::types::{Acl, Id, Stat};

/// Why a jute value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the value did (also: a length prefix larger than what is left).
    #[error("truncated input: {needed} bytes needed, {remaining} left")]
    Truncated { needed: usize, remaining: usize },
    /// A buffer/string length or vector count below `-1` (the null marker).
    #[error("negative length {0}")]
    NegativeLength(i32),
    /// A vector count that cannot possibly fit in the bytes left.
    #[error("vector of {count} items cannot fit in the {remaining} bytes left")]
    VectorTooLong { count: i32, remaining: usize },
    /// A request opcode that is unknown or that clients may not send (notification,
    /// deleteContainer, createSession, error). ZooKeeper answers these with `UNIMPLEMENTED`.
    #[error("unknown or non-client opcode {0}")]
    UnknownOpCode(i32),
    /// An operation type that may not appear inside a multi request or multi response.
    #[error("invalid operation type {0} inside a multi")]
    InvalidMultiOp(i32),
    /// An error code ZooKeeper does not define, where a typed one is required.
    #[error("unknown error code {0}")]
    UnknownErrorCode(i32),
    /// The opcode has no reply body to decode (e.g. a notification or createSession).
    #[error("opcode {0} has no reply of its own")]
    NoReplyForOpCode(i32),
}

/// A cursor over one complete jute-encoded value (usually a frame body).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// How many bytes have been consumed.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes exactly `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(DecodeError::Truncated {
                needed: n,
                remaining,
            });
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.read_bytes(N)?);
        Ok(out)
    }

    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.read_array::<1>()?[0])
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        self.read_array().map(i32::from_be_bytes)
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        self.read_array().map(i64::from_be_bytes)
    }

    /// Any non-zero byte is `true`, as Java's `DataInput.readBoolean` has it.
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read_u8()? != 0)
    }

    /// Reads a length prefix: `None` for null (`-1`), an error below that.
    fn read_len(&mut self) -> Result<Option<usize>, DecodeError> {
        match self.read_i32()? {
            -1 => Ok(None),
            len if len < -1 => Err(DecodeError::NegativeLength(len)),
            // Non-negative i32 always fits in usize on the 32/64-bit targets we build for.
            len => Ok(Some(len as usize)),
        }
    }

    /// A `buffer` borrowed from the input; `None` if it was null.
    pub fn read_opt_buffer_ref(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.read_len()? {
            None => Ok(None),
            Some(len) => self.read_bytes(len).map(Some),
        }
    }

    /// A `buffer`; `None` if it was null.
    pub fn read_opt_buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        Ok(self.read_opt_buffer_ref()?.map(<[u8]>::to_vec))
    }

    /// A `buffer`, with null read as empty.
    pub fn read_buffer(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(self.read_opt_buffer()?.unwrap_or_default())
    }

    /// A `ustring`; `None` if it was null.
    ///
    /// Invalid UTF-8 is replaced with U+FFFD, as Java's `new String(bytes, UTF_8)` does on the
    /// ZooKeeper server; path validation then rejects such paths (U+FFFD is a forbidden path
    /// character), exactly as ZooKeeper does.
    pub fn read_opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        Ok(self
            .read_opt_buffer_ref()?
            .map(|bytes| match std::str::from_utf8(bytes) {
                // Valid UTF-8 (nearly every string): the fast validator; the lossy decoder
                // walks chunk by chunk and cost several times more.
                Ok(text) => text.to_owned(),
                Err(_) => String::from_utf8_lossy(bytes).into_owned(),
            }))
    }

    /// A `ustring`, with null read as empty.
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        Ok(self.read_opt_string()?.unwrap_or_default())
    }

    /// A `vector<T>`; `None` if it was null.
    pub fn read_opt_vec<T: Record>(&mut self) -> Result<Option<Vec<T>>, DecodeError> {
        let count = match self.read_i32()? {
            -1 => return Ok(None),
            count if count < -1 => return Err(DecodeError::NegativeLength(count)),
            count => count,
        };
        let remaining = self.remaining();
        // Reject counts that cannot fit before reserving anything: each item takes at least
        // `MIN_ENCODED_LEN` bytes (at least one, so a count never exceeds the bytes left).
        let fits = (count as usize)
            .checked_mul(T::MIN_ENCODED_LEN.max(1))
            .is_some_and(|needed| needed <= remaining);
        if !fits {
            return Err(DecodeError::VectorTooLong { count, remaining });
        }
        // Pre-reserve no more memory than the input holds; growth past that is paid for by
        // items actually decoded.
        let capacity = (count as usize).min(remaining / std::mem::size_of::<T>().max(1));
        let mut items = Vec::with_capacity(capacity);
        for _ in 0..count {
            items.push(T::decode(self)?);
        }
        Ok(Some(items))
    }

    /// A `vector<T>`, with null read as empty.
    pub fn read_vec<T: Record>(&mut self) -> Result<Vec<T>, DecodeError> {
        Ok(self.read_opt_vec()?.unwrap_or_default())
    }

    /// A value of any [`Record`] type.
    pub fn read<T: Record>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }
}

/// Builds a jute-encoded byte string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(capacity),
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Appends bytes as they are (no length prefix).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn write_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn write_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// Overwrites 4 bytes at `at` (used to fill in a frame length afterwards). Does nothing if
    /// `at` is out of range, which only a caller bug can cause.
    pub(crate) fn patch_i32(&mut self, at: usize, v: i32) {
        if let Some(slot) = self.buf.get_mut(at..at + 4) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Writes a length prefix. Jute lengths are `i32`; anything we encode is bounded far below
    /// that by jute.maxbuffer, so a longer value is clamped rather than made a panic path.
    fn write_len(&mut self, len: usize) {
        self.write_i32(i32::try_from(len).unwrap_or(i32::MAX));
    }

    pub fn write_buffer(&mut self, bytes: &[u8]) {
        self.write_len(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    /// A `buffer` that may be null (`None` is written as length `-1`).
    pub fn write_opt_buffer(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self.write_buffer(bytes),
            None => self.write_i32(-1),
        }
    }

    pub fn write_string(&mut self, s: &str) {
        self.write_buffer(s.as_bytes());
    }

    /// A `ustring` that may be null (`None` is written as length `-1`).
    pub fn write_opt_string(&mut self, s: Option<&str>) {
        self.write_opt_buffer(s.map(str::as_bytes));
    }

    pub fn write_vec<T: Record>(&mut self, items: &[T]) {
        self.write_len(items.len());
        for item in items {
            item.encode(self);
        }
    }

    /// A `vector` that may be null (`None` is written as count `-1`).
    pub fn write_opt_vec<T: Record>(&mut self, items: Option<&[T]>) {
        match items {
            Some(items) => self.write_vec(items),
            None => self.write_i32(-1),
        }
    }

    /// A value of any [`Record`] type.
    pub fn write<T: Record>(&mut self, value: &T) {
        value.encode(self);
    }
}

/// A jute-serializable value: a primitive or a record (fields in declaration order).
pub trait Record: Sized {
    /// The fewest bytes one encoded value can take. Bounds vector counts before allocation.
    const MIN_ENCODED_LEN: usize;

    fn encode(&self, w: &mut Writer);

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// The value encoded on its own.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes a value from the start of `bytes` (trailing bytes are ignored, as ZooKeeper's
    /// deserializers ignore them).
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(&mut Reader::new(bytes))
    }
}

impl Record for i32 {
    const MIN_ENCODED_LEN: usize = 4;
    fn encode(&self, w: &mut Writer) {
        w.write_i32(*self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_i32()
    }
}

impl Record for i64 {
    const MIN_ENCODED_LEN: usize = 8;
    fn encode(&self, w: &mut Writer) {
        w.write_i64(*self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_i64()
    }
}

impl Record for bool {
    const MIN_ENCODED_LEN: usize = 1;
    fn encode(&self, w: &mut Writer) {
        w.write_bool(*self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_bool()
    }
}

/// A `ustring`; null decodes as empty.
impl Record for String {
    const MIN_ENCODED_LEN: usize = 4;
    fn encode(&self, w: &mut Writer) {
        w.write_string(self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_string()
    }
}

/// A `ustring` where null is meaningful.
impl Record for Option<String> {
    const MIN_ENCODED_LEN: usize = 4;
    fn encode(&self, w: &mut Writer) {
        w.write_opt_string(self.as_deref());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_opt_string()
    }
}

/// A `buffer`; null decodes as empty.
impl Record for Vec<u8> {
    const MIN_ENCODED_LEN: usize = 4;
    fn encode(&self, w: &mut Writer) {
        w.write_buffer(self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_buffer()
    }
}

/// A `vector<T>`; null decodes as empty. (`Vec<u8>` is a `buffer`, see above; `u8` is not a
/// `Record`, so the two cannot overlap.)
impl<T: Record> Record for Vec<T> {
    const MIN_ENCODED_LEN: usize = 4;
    fn encode(&self, w: &mut Writer) {
        w.write_vec(self);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_vec()
    }
}

/// An error code carried in a record (`ErrorResponse.err`, multi error results).
impl Record for ErrorCode {
    const MIN_ENCODED_LEN: usize = 4;
    fn encode(&self, w: &mut Writer) {
        w.write_i32(self.code());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let code = r.read_i32()?;
        ErrorCode::from_code(code).ok_or(DecodeError::UnknownErrorCode(code))
    }
}

impl Record for Stat {
    const MIN_ENCODED_LEN: usize = 6 * 8 + 5 * 4;
    fn encode(&self, w: &mut Writer) {
        w.write_i64(self.czxid);
        w.write_i64(self.mzxid);
        w.write_i64(self.ctime);
        w.write_i64(self.mtime);
        w.write_i32(self.version);
        w.write_i32(self.cversion);
        w.write_i32(self.aversion);
        w.write_i64(self.ephemeral_owner);
        w.write_i32(self.data_length);
        w.write_i32(self.num_children);
        w.write_i64(self.pzxid);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Stat {
            czxid: r.read_i64()?,
            mzxid: r.read_i64()?,
            ctime: r.read_i64()?,
            mtime: r.read_i64()?,
            version: r.read_i32()?,
            cversion: r.read_i32()?,
            aversion: r.read_i32()?,
            ephemeral_owner: r.read_i64()?,
            data_length: r.read_i32()?,
            num_children: r.read_i32()?,
            pzxid: r.read_i64()?,
        })
    }
}

impl Record for Id {
    const MIN_ENCODED_LEN: usize = 8;
    fn encode(&self, w: &mut Writer) {
        w.write_string(&self.scheme);
        w.write_string(&self.id);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Id {
            scheme: r.read_string()?,
            id: r.read_string()?,
        })
    }
}

impl Record for Acl {
    const MIN_ENCODED_LEN: usize = 4 + Id::MIN_ENCODED_LEN;
    fn encode(&self, w: &mut Writer) {
        w.write_i32(self.perms);
        self.id.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Acl {
            perms: r.read_i32()?,
            id: Id::decode(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_big_endian() {
        let mut w = Writer::new();
        w.write_i32(0x0102_0304);
        w.write_i64(-2);
        w.write_bool(true);
        w.write_bool(false);
        assert_eq!(
            w.as_bytes(),
            [1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 1, 0]
        );
        let mut r = Reader::new(w.as_bytes());
        assert_eq!(r.read_i32(), Ok(0x0102_0304));
        assert_eq!(r.read_i64(), Ok(-2));
        assert_eq!(r.read_bool(), Ok(true));
        assert_eq!(r.read_bool(), Ok(false));
        assert!(r.is_empty());
    }

    #[test]
    fn any_nonzero_byte_is_true() {
        assert_eq!(Reader::new(&[7]).read_bool(), Ok(true));
    }

    #[test]
    fn strings_and_buffers_carry_an_i32_length() {
        let mut w = Writer::new();
        w.write_string("/ab");
        w.write_opt_buffer(None);
        w.write_buffer(&[]);
        assert_eq!(
            w.as_bytes(),
            [0, 0, 0, 3, b'/', b'a', b'b', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
        );
        let mut r = Reader::new(w.as_bytes());
        assert_eq!(r.read_string().as_deref(), Ok("/ab"));
        assert_eq!(r.read_opt_buffer(), Ok(None));
        assert_eq!(r.read_opt_buffer(), Ok(Some(Vec::new())));
    }

    #[test]
    fn null_reads_as_empty_where_null_is_not_meaningful() {
        let null = (-1i32).to_be_bytes();
        assert_eq!(Reader::new(&null).read_string(), Ok(String::new()));
        assert_eq!(Reader::new(&null).read_buffer(), Ok(Vec::new()));
        assert_eq!(Reader::new(&null).read_vec::<String>(), Ok(Vec::new()));
        assert_eq!(Reader::new(&null).read_opt_string(), Ok(None));
        assert_eq!(Reader::new(&null).read_opt_vec::<Acl>(), Ok(None));
    }

    #[test]
    fn lengths_below_minus_one_are_rejected() {
        let bytes = (-2i32).to_be_bytes();
        assert_eq!(
            Reader::new(&bytes).read_buffer(),
            Err(DecodeError::NegativeLength(-2))
        );
        assert_eq!(
            Reader::new(&bytes).read_vec::<i32>(),
            Err(DecodeError::NegativeLength(-2))
        );
    }

    #[test]
    fn a_huge_length_is_rejected_before_allocating() {
        let mut bytes = i32::MAX.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        assert_eq!(
            Reader::new(&bytes).read_buffer(),
            Err(DecodeError::Truncated {
                needed: i32::MAX as usize,
                remaining: 3
            })
        );
        assert_eq!(
            Reader::new(&bytes).read_vec::<String>(),
            Err(DecodeError::VectorTooLong {
                count: i32::MAX,
                remaining: 3
            })
        );
    }

    #[test]
    fn vector_count_is_bounded_by_the_minimum_item_size() {
        // Two Stats need 136 bytes; 100 bytes cannot hold them even though 2 < 100.
        let mut bytes = 2i32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; 100]);
        assert_eq!(
            Reader::new(&bytes).read_vec::<Stat>(),
            Err(DecodeError::VectorTooLong {
                count: 2,
                remaining: 100
            })
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let mut w = Writer::new();
        w.write_buffer(&[b'/', 0xff]);
        assert_eq!(
            Reader::new(w.as_bytes()).read_string().as_deref(),
            Ok("/\u{fffd}")
        );
    }

    #[test]
    fn stat_acl_and_error_codes_round_trip() {
        let stat = Stat {
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            data_length: 9,
            num_children: 10,
            pzxid: 11,
        };
        let bytes = stat.to_bytes();
        assert_eq!(bytes.len(), Stat::MIN_ENCODED_LEN);
        assert_eq!(Stat::from_bytes(&bytes), Ok(stat));

        let acl = vec![Acl {
            perms: 31,
            id: Id::new("digest", "u:p"),
        }];
        assert_eq!(Vec::<Acl>::from_bytes(&acl.to_bytes()), Ok(acl));

        assert_eq!(
            ErrorCode::from_bytes(&ErrorCode::NoNode.to_bytes()),
            Ok(ErrorCode::NoNode)
        );
        assert_eq!(
            ErrorCode::from_bytes(&(-9i32).to_be_bytes()),
            Err(DecodeError::UnknownErrorCode(-9))
        );
    }

    #[test]
    fn truncated_primitives_report_what_was_missing() {
        assert_eq!(
            Reader::new(&[0, 0]).read_i32(),
            Err(DecodeError::Truncated {
                needed: 4,
                remaining: 2
            })
        );
        assert!(Reader::new(&[]).read_bool().is_err());
    }
}
