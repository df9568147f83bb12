//! Size limits and the size of the request a change needs. Pure.
//!
//! A change goes to the server as one ZooKeeper multi request, and a server closes the
//! connection of a client whose request frame exceeds `jute.maxbuffer` (1 MiB - 1 byte by
//! default, on ZooKeeper and Arbor). The request carries the document twice (the config node and
//! the history entry, which holds it as a JSON string) plus the projection's nodes, so the
//! document limit is well under half of that, and the encoded request is measured exactly
//! before it is sent.

use arbor_coord::WriteOp;

/// ZooKeeper's default `jute.maxbuffer`.
pub const DEFAULT_JUTE_MAX_BUFFER: usize = 0xfffff;

/// Limits a push is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest document, in bytes.
    pub max_document_bytes: usize,
    /// Largest encoded multi request a change may send (the server's `jute.maxbuffer`).
    pub max_request_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 256 * 1024,
            max_request_bytes: DEFAULT_JUTE_MAX_BUFFER,
        }
    }
}

/// Jute size of a ustring/buffer: an int length and the bytes.
fn sized(len: usize) -> usize {
    4 + len
}

/// Bytes of the frame body (after the length prefix) of a multi request holding `ops`, as the
/// ZooKeeper Java client and `zookeeper-client` encode it: request header (xid, type), then per
/// op a MultiHeader (type, done, err) and the op record, then a closing MultiHeader.
pub fn multi_request_bytes(ops: &[WriteOp]) -> usize {
    const REQUEST_HEADER: usize = 4 + 4;
    const MULTI_HEADER: usize = 4 + 1 + 4;
    let ops_bytes: usize = ops
        .iter()
        .map(|op| {
            MULTI_HEADER
                + match op {
                    WriteOp::Create {
                        path, data, acl, ..
                    } => sized(path.len()) + sized(data.len()) + acl.encoded_len() + 4,
                    WriteOp::SetData { path, data, .. } => {
                        sized(path.len()) + sized(data.len()) + 4
                    }
                    WriteOp::Delete { path, .. } | WriteOp::Check { path, .. } => {
                        sized(path.len()) + 4
                    }
                }
        })
        .sum();
    REQUEST_HEADER + ops_bytes + MULTI_HEADER
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_coord::{Acl, CreateKind, DigestCredential};

    #[test]
    fn sizes_add_up_per_op() {
        let empty = multi_request_bytes(&[]);
        assert_eq!(empty, 8 + 9);
        let create = WriteOp::Create {
            path: "/a".into(),
            data: vec![0; 10],
            kind: CreateKind::Persistent,
            acl: Acl::open(),
        };
        // header 9 + path 6 + data 14 + acl 27 + flags 4
        assert_eq!(multi_request_bytes(&[create]) - empty, 60);
        // world:anyone:r + digest:u:<28 base64 chars>:cdrwa
        let owner = DigestCredential::parse("u:p").unwrap();
        let protected = WriteOp::Create {
            path: "/a".into(),
            data: vec![0; 10],
            kind: CreateKind::Persistent,
            acl: Acl::readable_by_anyone_owned_by(&owner),
        };
        let acl = 4 + (4 + 4 + 5 + 4 + 6) + (4 + 4 + 6 + 4 + "u:".len() + 28);
        assert_eq!(
            multi_request_bytes(&[protected]) - empty,
            9 + 6 + 14 + acl + 4
        );
        let set = WriteOp::SetData {
            path: "/a".into(),
            data: vec![0; 10],
            expected_version: Some(3),
        };
        assert_eq!(multi_request_bytes(&[set]) - empty, 9 + 6 + 14 + 4);
        let check = WriteOp::Check {
            path: "/abc".into(),
            version: 1,
        };
        assert_eq!(
            multi_request_bytes(&[check.clone(), check]) - empty,
            2 * (9 + 8 + 4)
        );
    }

    #[test]
    fn default_document_limit_leaves_room_for_two_copies() {
        let limits = Limits::default();
        assert!(2 * limits.max_document_bytes < limits.max_request_bytes);
    }
}
