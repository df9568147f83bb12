//! Request opcodes (`ZooDefs.OpCode`).

/// A request type as it appears in `RequestHeader.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    Notification,
    Create,
    Delete,
    Exists,
    GetData,
    SetData,
    GetAcl,
    SetAcl,
    GetChildren,
    Sync,
    Ping,
    GetChildren2,
    Check,
    Multi,
    Create2,
    Reconfig,
    CheckWatches,
    RemoveWatches,
    CreateContainer,
    DeleteContainer,
    CreateTtl,
    MultiRead,
    Auth,
    SetWatches,
    Sasl,
    GetEphemerals,
    GetAllChildrenNumber,
    SetWatches2,
    AddWatch,
    WhoAmI,
    CreateSession,
    CloseSession,
    Error,
}

impl OpCode {
    pub const fn code(self) -> i32 {
        use OpCode::*;
        match self {
            Notification => 0,
            Create => 1,
            Delete => 2,
            Exists => 3,
            GetData => 4,
            SetData => 5,
            GetAcl => 6,
            SetAcl => 7,
            GetChildren => 8,
            Sync => 9,
            Ping => 11,
            GetChildren2 => 12,
            Check => 13,
            Multi => 14,
            Create2 => 15,
            Reconfig => 16,
            CheckWatches => 17,
            RemoveWatches => 18,
            CreateContainer => 19,
            DeleteContainer => 20,
            CreateTtl => 21,
            MultiRead => 22,
            Auth => 100,
            SetWatches => 101,
            Sasl => 102,
            GetEphemerals => 103,
            GetAllChildrenNumber => 104,
            SetWatches2 => 105,
            AddWatch => 106,
            WhoAmI => 107,
            CreateSession => -10,
            CloseSession => -11,
            Error => -1,
        }
    }

    pub fn from_code(code: i32) -> Option<Self> {
        use OpCode::*;
        Some(match code {
            0 => Notification,
            1 => Create,
            2 => Delete,
            3 => Exists,
            4 => GetData,
            5 => SetData,
            6 => GetAcl,
            7 => SetAcl,
            8 => GetChildren,
            9 => Sync,
            11 => Ping,
            12 => GetChildren2,
            13 => Check,
            14 => Multi,
            15 => Create2,
            16 => Reconfig,
            17 => CheckWatches,
            18 => RemoveWatches,
            19 => CreateContainer,
            20 => DeleteContainer,
            21 => CreateTtl,
            22 => MultiRead,
            100 => Auth,
            101 => SetWatches,
            102 => Sasl,
            103 => GetEphemerals,
            104 => GetAllChildrenNumber,
            105 => SetWatches2,
            106 => AddWatch,
            107 => WhoAmI,
            -10 => CreateSession,
            -11 => CloseSession,
            -1 => Error,
            _ => return None,
        })
    }

    /// The name ZooKeeper uses for this opcode in `cons`/`dump` output and metrics labels.
    pub const fn name(self) -> &'static str {
        use OpCode::*;
        match self {
            Notification => "notification",
            Create => "create",
            Delete => "delete",
            Exists => "exists",
            GetData => "getData",
            SetData => "setData",
            GetAcl => "getACL",
            SetAcl => "setACL",
            GetChildren => "getChildren",
            Sync => "sync",
            Ping => "ping",
            GetChildren2 => "getChildren2",
            Check => "check",
            Multi => "multi",
            Create2 => "create2",
            Reconfig => "reconfig",
            CheckWatches => "checkWatches",
            RemoveWatches => "removeWatches",
            CreateContainer => "createContainer",
            DeleteContainer => "deleteContainer",
            CreateTtl => "createTtl",
            MultiRead => "multiRead",
            Auth => "auth",
            SetWatches => "setWatches",
            Sasl => "sasl",
            GetEphemerals => "getEphemerals",
            GetAllChildrenNumber => "getAllChildrenNumber",
            SetWatches2 => "setWatches2",
            AddWatch => "addWatch",
            WhoAmI => "whoAmI",
            CreateSession => "createSession",
            CloseSession => "closeSession",
            Error => "error",
        }
    }
}

/// Reserved xids (`ClientCnxn`): notifications, pings, auth packets, setWatches.
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for code in -20..=120 {
            if let Some(op) = OpCode::from_code(code) {
                assert_eq!(op.code(), code, "{op:?}");
            }
        }
        assert_eq!(OpCode::from_code(10), None);
    }
}
