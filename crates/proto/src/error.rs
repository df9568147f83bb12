//! ZooKeeper's `KeeperException.Code` values, as sent in reply headers and multi results.

use serde::{Deserialize, Serialize};

/// An error code as ZooKeeper reports it on the wire (`ReplyHeader.err`, `ErrorResult.err`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum ErrorCode {
    #[error("ok")]
    Ok,
    #[error("system error")]
    SystemError,
    #[error("runtime inconsistency")]
    RuntimeInconsistency,
    #[error("data inconsistency")]
    DataInconsistency,
    #[error("connection loss")]
    ConnectionLoss,
    #[error("marshalling error")]
    MarshallingError,
    #[error("unimplemented")]
    Unimplemented,
    #[error("operation timeout")]
    OperationTimeout,
    #[error("bad arguments")]
    BadArguments,
    #[error("new config no quorum")]
    NewConfigNoQuorum,
    #[error("reconfig in progress")]
    ReconfigInProgress,
    #[error("unknown session")]
    UnknownSession,
    #[error("api error")]
    ApiError,
    #[error("no node")]
    NoNode,
    #[error("no auth")]
    NoAuth,
    #[error("bad version")]
    BadVersion,
    #[error("no children for ephemerals")]
    NoChildrenForEphemerals,
    #[error("node exists")]
    NodeExists,
    #[error("not empty")]
    NotEmpty,
    #[error("session expired")]
    SessionExpired,
    #[error("invalid callback")]
    InvalidCallback,
    #[error("invalid ACL")]
    InvalidAcl,
    #[error("auth failed")]
    AuthFailed,
    #[error("session moved")]
    SessionMoved,
    #[error("not read-only")]
    NotReadOnly,
    #[error("ephemeral on local session")]
    EphemeralOnLocalSession,
    #[error("no watcher")]
    NoWatcher,
    #[error("request timeout")]
    RequestTimeout,
    #[error("reconfig disabled")]
    ReconfigDisabled,
    #[error("session closed because client failed to authenticate")]
    SessionClosedRequireSaslAuth,
    #[error("quota exceeded")]
    QuotaExceeded,
    #[error("throttled op")]
    Throttled,
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub const fn code(self) -> i32 {
        use ErrorCode::*;
        match self {
            Ok => 0,
            SystemError => -1,
            RuntimeInconsistency => -2,
            DataInconsistency => -3,
            ConnectionLoss => -4,
            MarshallingError => -5,
            Unimplemented => -6,
            OperationTimeout => -7,
            BadArguments => -8,
            NewConfigNoQuorum => -13,
            ReconfigInProgress => -14,
            UnknownSession => -12,
            ApiError => -100,
            NoNode => -101,
            NoAuth => -102,
            BadVersion => -103,
            NoChildrenForEphemerals => -108,
            NodeExists => -110,
            NotEmpty => -111,
            SessionExpired => -112,
            InvalidCallback => -113,
            InvalidAcl => -114,
            AuthFailed => -115,
            SessionMoved => -118,
            NotReadOnly => -119,
            EphemeralOnLocalSession => -120,
            NoWatcher => -121,
            RequestTimeout => -122,
            ReconfigDisabled => -123,
            SessionClosedRequireSaslAuth => -124,
            QuotaExceeded => -125,
            Throttled => -127,
        }
    }

    /// The code for a wire value, if ZooKeeper defines one.
    pub fn from_code(code: i32) -> Option<Self> {
        use ErrorCode::*;
        const ALL: [ErrorCode; 32] = [
            Ok,
            SystemError,
            RuntimeInconsistency,
            DataInconsistency,
            ConnectionLoss,
            MarshallingError,
            Unimplemented,
            OperationTimeout,
            BadArguments,
            NewConfigNoQuorum,
            ReconfigInProgress,
            UnknownSession,
            ApiError,
            NoNode,
            NoAuth,
            BadVersion,
            NoChildrenForEphemerals,
            NodeExists,
            NotEmpty,
            SessionExpired,
            InvalidCallback,
            InvalidAcl,
            AuthFailed,
            SessionMoved,
            NotReadOnly,
            EphemeralOnLocalSession,
            NoWatcher,
            RequestTimeout,
            ReconfigDisabled,
            SessionClosedRequireSaslAuth,
            QuotaExceeded,
            Throttled,
        ];
        ALL.into_iter().find(|c| c.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in -200..=10 {
            if let Some(e) = ErrorCode::from_code(code) {
                assert_eq!(e.code(), code);
            }
        }
        assert_eq!(ErrorCode::from_code(-101), Some(ErrorCode::NoNode));
        assert_eq!(ErrorCode::from_code(-9), None);
    }
}
