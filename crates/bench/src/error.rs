//! Typed errors of the benchmark client and of a benchmark run.

use std::io;

use arbor_proto::{DecodeError, ErrorCode, FrameError};

/// A connection-level failure of [`crate::client::Client`]. Server error codes are not errors
/// here: they arrive in [`crate::client::Reply::err`] and are counted by the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("no connection to {addr} within {seconds} s")]
    ConnectTimeout { addr: String, seconds: u64 },
    #[error("{addr} refused the session (it answered with session id 0)")]
    SessionRefused { addr: String },
    #[error("i/o error on the connection: {0}")]
    Io(#[from] io::Error),
    #[error("bad frame from the server: {0}")]
    Frame(#[from] FrameError),
    #[error("undecodable data from the server: {0}")]
    Decode(#[from] DecodeError),
    #[error("the server closed the connection during the handshake")]
    ClosedDuringHandshake,
    #[error("reply xid {got} does not match the oldest outstanding request's xid {expected}")]
    XidMismatch { expected: i32, got: i32 },
    #[error("reply xid {0} with no request outstanding")]
    UnexpectedReply(i32),
    #[error("the connection was lost")]
    ConnectionLost,
    #[error("no reply within {seconds} s")]
    Timeout { seconds: u64 },
}

/// Why a benchmark could not run (or clean up). Errors of individual operations are not
/// failures of the run: they are counted in the report.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid option: {0}")]
    InvalidArgs(String),
    #[error("cannot resolve server {host:?}: {reason}")]
    Resolve { host: String, reason: String },
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{what} failed on the server: {code} ({code_num})", code_num = code.code())]
    Server { what: String, code: ErrorCode },
    #[error("{what} failed on the server with unknown error code {code}")]
    UnknownServerError { what: String, code: i32 },
    #[error("a benchmark task failed: {0}")]
    TaskFailed(String),
    #[error("cannot write the report: {0}")]
    Output(#[from] io::Error),
    #[error("cannot encode the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl BenchError {
    /// The error for a failed setup or cleanup request.
    pub(crate) fn server(what: impl Into<String>, code: i32) -> BenchError {
        let what = what.into();
        match ErrorCode::from_code(code) {
            Some(code) => BenchError::Server { what, code },
            None => BenchError::UnknownServerError { what, code },
        }
    }
}
