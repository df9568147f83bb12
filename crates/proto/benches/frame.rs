//! Frame encode/decode on the request path: `cargo bench -p arbor-proto --bench frame`.
//!
//! What a server does per request (split the frame off the read buffer, decode the header and
//! the body) and per reply (encode header and body into one frame), for the common opcodes
//! with 100-byte values.

use std::hint::black_box;

use arbor_proto::records::{CreateRequest, GetDataRequest, SetDataRequest};
use arbor_proto::{
    reply_frame, split_frame, Acl, CreateMode, ErrorCode, OpCode, Reader, Record, ReplyHeader,
    Request, RequestHeader, Response, Stat, DEFAULT_MAX_FRAME_LEN,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PATH: &str = "/bench-0001/keys/g42/k4242";

fn requests() -> Vec<(&'static str, Request)> {
    vec![
        (
            "getData",
            Request::GetData(GetDataRequest {
                path: PATH.into(),
                watch: false,
            }),
        ),
        (
            "setData",
            Request::SetData(SetDataRequest {
                path: PATH.into(),
                data: vec![b'x'; 100],
                version: -1,
            }),
        ),
        (
            "create",
            Request::Create(CreateRequest {
                path: PATH.into(),
                data: vec![b'x'; 100],
                acl: Acl::open_unsafe(),
                flags: CreateMode::PersistentSequential.flags(),
            }),
        ),
    ]
}

/// Split, header, body: what the server's read loop does per request.
fn decode_request(stream: &[u8]) -> Request {
    let frame = split_frame(stream, DEFAULT_MAX_FRAME_LEN)
        .expect("valid frame")
        .expect("whole frame");
    let mut reader = Reader::new(frame.body);
    let header = RequestHeader::decode(&mut reader).expect("header");
    Request::decode(header.op, reader.rest()).expect("body")
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Elements(1));
    for (name, request) in requests() {
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| black_box(&request).to_frame(black_box(7)))
        });
        let stream = request.to_frame(7);
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| decode_request(black_box(&stream)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("reply");
    group.throughput(Throughput::Elements(1));
    let get = Response::GetData(vec![b'x'; 100], Stat::default());
    let header = ReplyHeader::new(7, 42, ErrorCode::Ok);
    group.bench_function("encode/getData", |b| {
        b.iter(|| reply_frame(black_box(&header), black_box(&get)))
    });
    let set = Response::Stat(Stat::default());
    group.bench_function("encode/setData", |b| {
        b.iter(|| reply_frame(black_box(&header), black_box(&set)))
    });
    let body = get.to_bytes();
    group.bench_function("decode/getData", |b| {
        b.iter(|| Response::decode_for(OpCode::GetData, black_box(&body)).expect("decode"))
    });
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
