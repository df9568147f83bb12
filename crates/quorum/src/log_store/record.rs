//! On-disk format of log segments, independent of any file handling.
//!
//! A segment is a 16-byte header (`ARBRSEG\0`, format version u32 LE, 4 reserved zero bytes)
//! followed by records `[payload len u32 LE][crc32 of payload u32 LE][payload]`, where the
//! payload is the bincode encoding of one openraft `Entry`.

use crate::files::read_u32;
use crate::types::Entry;

pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"ARBRSEG\0";
pub(crate) const SEGMENT_VERSION: u32 = 1;
pub(crate) const SEGMENT_HEADER_LEN: usize = 16;
pub(crate) const RECORD_HEADER_LEN: usize = 8;
/// No legitimate entry comes near this (client frames are limited by jute.maxbuffer, 1 MiB by
/// default); anything larger is a damaged length field.
pub(crate) const MAX_PAYLOAD_LEN: usize = 256 << 20;

pub(crate) fn segment_header() -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h
}

/// Why the bytes of a segment header are unusable.
pub(crate) fn check_segment_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < SEGMENT_HEADER_LEN {
        return Err("segment shorter than its header".into());
    }
    if &bytes[..8] != SEGMENT_MAGIC {
        return Err("bad segment magic".into());
    }
    let version = read_u32(bytes, 8);
    if version != SEGMENT_VERSION {
        return Err(format!("unsupported segment format version {version}"));
    }
    Ok(())
}

/// Append the record for `entry` to `out`; returns the payload length. The payload is
/// encoded in place after a header placeholder (no separate buffer, no sizing pass), then the
/// header is filled in; on error `out` is left as it was.
pub(crate) fn encode_record(entry: &Entry, out: &mut Vec<u8>) -> Result<u32, bincode::Error> {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_LEN]);
    if let Err(e) = bincode::serialize_into(&mut *out, entry) {
        out.truncate(start);
        return Err(e);
    }
    let payload_len = out.len() - start - RECORD_HEADER_LEN;
    let Some(len) = u32::try_from(payload_len)
        .ok()
        .filter(|&l| l as usize <= MAX_PAYLOAD_LEN)
    else {
        out.truncate(start);
        return Err(Box::new(bincode::ErrorKind::Custom(format!(
            "log entry of {payload_len} bytes exceeds the record limit"
        ))));
    };
    let crc = crc32fast::hash(&out[start + RECORD_HEADER_LEN..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + RECORD_HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    Ok(len)
}

/// Decode a payload read back from disk, checking it against its stored checksum.
pub(crate) fn decode_payload(payload: &[u8], crc: u32) -> Result<Entry, &'static str> {
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch");
    }
    bincode::deserialize(payload).map_err(|_| "undecodable entry")
}

/// One record found by [`scan`].
#[derive(Debug)]
pub(crate) struct ScannedRecord {
    /// Offset of the record header within the segment.
    pub offset: u64,
    pub payload_len: u32,
    pub entry: Entry,
}

/// Where a scan stopped short of the end of the bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    pub offset: u64,
    pub reason: &'static str,
    /// A well-formed record exists somewhere after the damage: the damage is not a torn tail.
    pub valid_after: bool,
}

/// Parse the records of a segment (`bytes` includes the segment header, already checked).
pub(crate) fn scan(bytes: &[u8]) -> (Vec<ScannedRecord>, Option<Damage>) {
    let mut records = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    while pos < bytes.len() {
        match record_at(bytes, pos) {
            Ok((entry, payload_len)) => {
                records.push(ScannedRecord {
                    offset: pos as u64,
                    payload_len,
                    entry,
                });
                pos += RECORD_HEADER_LEN + payload_len as usize;
            }
            Err(reason) => {
                // The length field itself may be what is damaged, so look for a valid record
                // at every later offset, not just where the length points.
                let valid_after = (pos + 1..bytes.len()).any(|p| record_at(bytes, p).is_ok());
                let damage = Damage {
                    offset: pos as u64,
                    reason,
                    valid_after,
                };
                return (records, Some(damage));
            }
        }
    }
    (records, None)
}

/// The entry stored at `pos` and its payload length, or why there is no valid record there.
fn record_at(bytes: &[u8], pos: usize) -> Result<(Entry, u32), &'static str> {
    let rest = bytes.get(pos..).unwrap_or_default();
    if rest.len() < RECORD_HEADER_LEN {
        return Err("incomplete record header");
    }
    let len = read_u32(rest, 0);
    let crc = read_u32(rest, 4);
    // Zero length never occurs (an entry encodes to at least a log id); zero-filled space left
    // by a crash must not count as records.
    if len == 0 {
        return Err("zero-length record");
    }
    if len as usize > MAX_PAYLOAD_LEN {
        return Err("record length out of range");
    }
    let payload = rest
        .get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len as usize)
        .ok_or("incomplete record payload")?;
    let entry = decode_payload(payload, crc)?;
    Ok((entry, len))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arbor_tree::{Txn, TxnOp};

    use crate::types::TxnBatch;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    pub(crate) fn txn_entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(TxnBatch::new(vec![Txn {
                session: index as i64,
                time: 0,
                auth: Vec::new().into(),
                op: TxnOp::Noop,
            }])),
        }
    }

    fn segment(entries: &[Entry]) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = segment_header().to_vec();
        let mut offsets = Vec::new();
        for e in entries {
            offsets.push(bytes.len());
            encode_record(e, &mut bytes).unwrap();
        }
        (bytes, offsets)
    }

    fn indexes(records: &[ScannedRecord]) -> Vec<u64> {
        records.iter().map(|r| r.entry.log_id.index).collect()
    }

    #[test]
    fn scan_reads_back_all_records() {
        let entries: Vec<_> = (1..=5).map(|i| txn_entry(1, i)).collect();
        let (bytes, offsets) = segment(&entries);
        let (records, damage) = scan(&bytes);
        assert_eq!(damage, None);
        assert_eq!(indexes(&records), vec![1, 2, 3, 4, 5]);
        assert_eq!(records[2].offset, offsets[2] as u64);
        assert_eq!(records[4].entry, entries[4]);
    }

    #[test]
    fn torn_tail_is_damage_with_nothing_after() {
        let entries: Vec<_> = (1..=3).map(|i| txn_entry(1, i)).collect();
        let (bytes, offsets) = segment(&entries);
        for cut in [bytes.len() - 1, offsets[2] + 3, offsets[2] + 9] {
            let (records, damage) = scan(&bytes[..cut]);
            assert_eq!(indexes(&records), vec![1, 2], "cut at {cut}");
            let damage = damage.unwrap();
            assert_eq!(damage.offset, offsets[2] as u64);
            assert!(!damage.valid_after);
        }
        // Zeros after the last record (space a crash left behind) are a torn tail too.
        let mut zeroed = bytes.clone();
        zeroed.extend_from_slice(&[0u8; 64]);
        let (records, damage) = scan(&zeroed);
        assert_eq!(records.len(), 3);
        assert!(!damage.unwrap().valid_after);
    }

    #[test]
    fn middle_damage_reports_valid_records_after_it() {
        let entries: Vec<_> = (1..=4).map(|i| txn_entry(1, i)).collect();
        let (bytes, offsets) = segment(&entries);
        // A flipped payload byte and a flipped length byte are both detected as middle damage.
        for at in [offsets[1] + RECORD_HEADER_LEN + 2, offsets[1]] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            let (records, damage) = scan(&damaged);
            assert_eq!(indexes(&records), vec![1], "flip at {at}");
            let damage = damage.unwrap();
            assert_eq!(damage.offset, offsets[1] as u64);
            assert!(damage.valid_after, "flip at {at}");
        }
    }

    #[test]
    fn segment_header_validation() {
        assert!(check_segment_header(&segment_header()).is_ok());
        assert!(check_segment_header(&segment_header()[..10]).is_err());
        let mut bad = segment_header();
        bad[8] = 9;
        assert!(check_segment_header(&bad).unwrap_err().contains("version"));
    }
}
