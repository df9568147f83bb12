//! Feeds arbitrary bytes to every decoder a server or client runs on untrusted input.
//!
//! The input is used three ways: as a connection's byte stream (split into frames; the first
//! frame decoded as a `ConnectRequest`, the rest as request header + body), and as an opcode (its
//! first 4 bytes) followed by a request or reply body. Decoders must not panic, and whatever
//! decodes must re-encode to something that decodes to the same value.

#![no_main]

use arbor_proto::frame::{split_frame, DEFAULT_MAX_FRAME_LEN};
use arbor_proto::{ConnectRequest, OpCode, Reader, Record, Request, RequestHeader, Response};
use libfuzzer_sys::fuzz_target;

fn check_request(op: i32, body: &[u8]) {
    if let Ok(req) = Request::decode(op, body) {
        let again = Request::decode(op, &req.to_bytes());
        assert_eq!(again.as_ref(), Ok(&req), "request does not round-trip");
    }
}

fn check_stream(mut stream: &[u8]) {
    let mut first = true;
    while let Ok(Some(frame)) = split_frame(stream, DEFAULT_MAX_FRAME_LEN) {
        if first {
            if let Ok(connect) = ConnectRequest::from_bytes(frame.body) {
                assert_eq!(ConnectRequest::from_bytes(&connect.to_bytes()), Ok(connect));
            }
            first = false;
        } else {
            let mut r = Reader::new(frame.body);
            if let Ok(header) = RequestHeader::decode(&mut r) {
                check_request(header.op, r.rest());
            }
        }
        stream = &stream[frame.consumed()..];
    }
}

fuzz_target!(|data: &[u8]| {
    check_stream(data);
    if let Some((op, body)) = data.split_first_chunk::<4>() {
        let op = i32::from_be_bytes(*op);
        check_request(op, body);
        if let Some(op) = OpCode::from_code(op) {
            if let Ok(rsp) = Response::decode_for(op, body) {
                let again = Response::decode_for(op, &rsp.to_bytes());
                assert_eq!(again.as_ref(), Ok(&rsp), "response does not round-trip");
            }
        }
    }
});
