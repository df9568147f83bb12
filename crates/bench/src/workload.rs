//! The tree a run works in and the requests each workload issues.

use arbor_proto::records::{
    CreateRequest, ExistsRequest, GetChildrenRequest, GetDataRequest, SetDataRequest,
};
use arbor_proto::{Acl, CreateMode, MultiOp, MultiResult, OpCode, Request, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::args::{BenchArgs, Workload};
use crate::client::Reply;
use crate::stats::{error_name, Outcome};

/// Keys are grouped under parents of this many children, so that `getChildren` lists a
/// realistic directory rather than all keys at once.
pub const KEYS_PER_GROUP: u64 = 100;

/// Paths of a run's subtree:
///
/// ```text
/// <prefix>/keys/g<G>/k<I>     the --keys nodes, key I in group I / 100
/// <prefix>/create/s<S>/n-     sequential creates of session S
/// <prefix>/ephemeral/n-       ephemeral-churn nodes
/// <prefix>/watch              the watch-fanout node
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    pub fn new(prefix: impl Into<String>) -> Layout {
        Layout {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn keys_dir(&self) -> String {
        format!("{}/keys", self.prefix)
    }

    pub fn group_count(keys: u64) -> u64 {
        keys.div_ceil(KEYS_PER_GROUP)
    }

    pub fn group(&self, group: u64) -> String {
        format!("{}/keys/g{group}", self.prefix)
    }

    pub fn key(&self, key: u64) -> String {
        format!("{}/keys/g{}/k{key}", self.prefix, key / KEYS_PER_GROUP)
    }

    pub fn create_root(&self) -> String {
        format!("{}/create", self.prefix)
    }

    pub fn create_dir(&self, session: usize) -> String {
        format!("{}/create/s{session}", self.prefix)
    }

    pub fn ephemeral_dir(&self) -> String {
        format!("{}/ephemeral", self.prefix)
    }

    pub fn watch_node(&self) -> String {
        format!("{}/watch", self.prefix)
    }
}

/// A create request with open ACLs.
pub fn create(path: String, data: Vec<u8>, mode: CreateMode) -> Request {
    Request::Create(CreateRequest {
        path,
        data,
        acl: Acl::open_unsafe(),
        flags: mode.flags(),
    })
}

pub fn set_data(path: String, data: Vec<u8>) -> Request {
    Request::SetData(SetDataRequest {
        path,
        data,
        version: -1,
    })
}

pub fn get_data(path: String, watch: bool) -> Request {
    Request::GetData(GetDataRequest { path, watch })
}

/// Generates the requests of one session of a closed-loop workload.
pub struct OpGenerator {
    workload: Workload,
    layout: Layout,
    rng: StdRng,
    value: Vec<u8>,
    keys: u64,
    read_pct: u8,
    multi_ops: usize,
    create_prefix: String,
}

impl OpGenerator {
    /// The generator of session `session`; its random choices are seeded by the session
    /// number, so runs are repeatable.
    pub fn new(args: &BenchArgs, layout: &Layout, session: usize) -> OpGenerator {
        OpGenerator {
            workload: args.workload,
            layout: layout.clone(),
            rng: StdRng::seed_from_u64(0x5eed_0000 + session as u64),
            value: value_of_size(args.value_size),
            keys: args.keys.max(1),
            read_pct: args.read_pct,
            multi_ops: args.multi_ops.max(1),
            create_prefix: format!("{}/n-", layout.create_dir(session)),
        }
    }

    fn random_key(&mut self) -> String {
        let key = self.rng.gen_range(0..self.keys);
        self.layout.key(key)
    }

    /// The next request and its opcode (needed to interpret the reply).
    pub fn next_request(&mut self) -> (OpCode, Request) {
        let request = match self.workload {
            Workload::Create => create(
                self.create_prefix.clone(),
                self.value.clone(),
                CreateMode::PersistentSequential,
            ),
            Workload::Set => set_data(self.random_key(), self.value.clone()),
            Workload::Get => get_data(self.random_key(), false),
            Workload::Exists => Request::Exists(ExistsRequest {
                path: self.random_key(),
                watch: false,
            }),
            Workload::Children => {
                let group = self.rng.gen_range(0..Layout::group_count(self.keys));
                Request::GetChildren(GetChildrenRequest {
                    path: self.layout.group(group),
                    watch: false,
                })
            }
            Workload::Multi => {
                let ops = (0..self.multi_ops)
                    .map(|_| {
                        MultiOp::SetData(SetDataRequest {
                            path: self.random_key(),
                            data: self.value.clone(),
                            version: -1,
                        })
                    })
                    .collect();
                Request::Multi(ops)
            }
            Workload::Mixed => {
                if self.rng.gen_range(0..100u8) < self.read_pct {
                    get_data(self.random_key(), false)
                } else {
                    set_data(self.random_key(), self.value.clone())
                }
            }
            // Not closed-loop: these have drivers of their own; issue something harmless.
            Workload::EphemeralChurn | Workload::WatchFanout => {
                get_data(self.layout.prefix().to_string(), false)
            }
        };
        (request.op_code(), request)
    }
}

/// `size` bytes of printable data.
pub fn value_of_size(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// How a reply ends its operation. A multi fails as a whole with the code of the operation
/// that failed (the others report `RUNTIMEINCONSISTENCY`), whether the server puts it in the
/// header or only in the results.
pub fn outcome_of(op: OpCode, reply: &Reply) -> Outcome {
    if !reply.is_ok() || op != OpCode::Multi {
        return Outcome::from_code(reply.err);
    }
    let Ok(Response::Multi(results)) = reply.response(op) else {
        return Outcome::Error("UNDECODABLE_REPLY".to_string());
    };
    let codes: Vec<i32> = results
        .iter()
        .filter_map(|result| match result {
            MultiResult::Error(code) if *code != arbor_proto::ErrorCode::Ok => Some(code.code()),
            _ => None,
        })
        .collect();
    let runtime_inconsistency = arbor_proto::ErrorCode::RuntimeInconsistency.code();
    match codes
        .iter()
        .find(|c| **c != runtime_inconsistency)
        .or(codes.first())
    {
        Some(code) => Outcome::Error(error_name(*code)),
        None => Outcome::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_proto::{ErrorCode, Stat};

    fn args(workload: Workload) -> BenchArgs {
        let mut args = BenchArgs::new("127.0.0.1:1", workload);
        args.keys = 250;
        args.value_size = 7;
        args.multi_ops = 3;
        args
    }

    fn layout() -> Layout {
        Layout::new("/b")
    }

    #[test]
    fn layout_groups_keys_by_hundreds() {
        let layout = layout();
        assert_eq!(layout.key(0), "/b/keys/g0/k0");
        assert_eq!(layout.key(250), "/b/keys/g2/k250");
        assert_eq!(Layout::group_count(250), 3);
        assert_eq!(Layout::group_count(200), 2);
        assert_eq!(layout.create_dir(3), "/b/create/s3");
        for path in [
            layout.key(5),
            layout.group(1),
            layout.watch_node(),
            layout.ephemeral_dir(),
        ] {
            arbor_proto::validate_path(&path).expect("valid path");
        }
    }

    #[test]
    fn create_workload_issues_sequential_creates_in_its_session_dir() {
        let (op, request) = OpGenerator::new(&args(Workload::Create), &layout(), 4).next_request();
        assert_eq!(op, OpCode::Create);
        let Request::Create(create) = request else {
            panic!("{request:?}")
        };
        assert_eq!(create.path, "/b/create/s4/n-");
        assert_eq!(create.create_mode(), Some(CreateMode::PersistentSequential));
        assert_eq!(create.data, b"abcdefg");
    }

    #[test]
    fn key_workloads_stay_within_the_keys() {
        for workload in [
            Workload::Set,
            Workload::Get,
            Workload::Exists,
            Workload::Mixed,
        ] {
            let mut generator = OpGenerator::new(&args(workload), &layout(), 0);
            for _ in 0..200 {
                let (_, request) = generator.next_request();
                let path = request.path().expect("single path").to_string();
                let key: u64 = path
                    .rsplit("/k")
                    .next()
                    .and_then(|k| k.parse().ok())
                    .expect("key");
                assert!(key < 250, "{path}");
                assert_eq!(path, layout().key(key));
            }
        }
    }

    #[test]
    fn mixed_follows_the_read_percentage() {
        let mut mixed = args(Workload::Mixed);
        mixed.read_pct = 90;
        let mut generator = OpGenerator::new(&mixed, &layout(), 1);
        let reads = (0..2000)
            .filter(|_| generator.next_request().0 == OpCode::GetData)
            .count();
        assert!((1700..=1900).contains(&reads), "{reads} reads of 2000");
        mixed.read_pct = 0;
        let mut writes_only = OpGenerator::new(&mixed, &layout(), 1);
        assert!((0..100).all(|_| writes_only.next_request().0 == OpCode::SetData));
    }

    #[test]
    fn children_and_multi_requests() {
        let mut children = OpGenerator::new(&args(Workload::Children), &layout(), 0);
        for _ in 0..50 {
            let (op, request) = children.next_request();
            assert_eq!(op, OpCode::GetChildren);
            let path = request.path().expect("path");
            assert!(
                ["/b/keys/g0", "/b/keys/g1", "/b/keys/g2"].contains(&path),
                "{path}"
            );
        }
        let (op, request) = OpGenerator::new(&args(Workload::Multi), &layout(), 0).next_request();
        assert_eq!(op, OpCode::Multi);
        let Request::Multi(ops) = request else {
            panic!("{request:?}")
        };
        assert_eq!(ops.len(), 3);
        assert!(ops.iter().all(|op| matches!(op, MultiOp::SetData(_))));
    }

    #[test]
    fn generators_are_repeatable_per_session() {
        let a: Vec<_> = {
            let mut g = OpGenerator::new(&args(Workload::Get), &layout(), 2);
            (0..20).map(|_| g.next_request().1).collect()
        };
        let mut g = OpGenerator::new(&args(Workload::Get), &layout(), 2);
        let b: Vec<_> = (0..20).map(|_| g.next_request().1).collect();
        assert_eq!(a, b);
        let mut other = OpGenerator::new(&args(Workload::Get), &layout(), 3);
        let c: Vec<_> = (0..20).map(|_| other.next_request().1).collect();
        assert_ne!(a, c);
    }

    fn reply(err: ErrorCode, body: Response) -> Reply {
        Reply {
            zxid: 1,
            err: err.code(),
            body: body.to_bytes(),
        }
    }

    #[test]
    fn outcomes_of_plain_and_multi_replies() {
        let ok = reply(ErrorCode::Ok, Response::Stat(Stat::default()));
        assert_eq!(outcome_of(OpCode::SetData, &ok), Outcome::Ok);
        let missing = reply(ErrorCode::NoNode, Response::Empty);
        assert_eq!(
            outcome_of(OpCode::SetData, &missing),
            Outcome::Error("NONODE".into())
        );
        assert_eq!(
            outcome_of(OpCode::Multi, &missing),
            Outcome::Error("NONODE".into())
        );

        let all_ok = reply(
            ErrorCode::Ok,
            Response::Multi(vec![MultiResult::SetData(Stat::default())]),
        );
        assert_eq!(outcome_of(OpCode::Multi, &all_ok), Outcome::Ok);
        let failed = reply(
            ErrorCode::Ok,
            Response::Multi(vec![
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::BadVersion),
                MultiResult::Error(ErrorCode::RuntimeInconsistency),
            ]),
        );
        assert_eq!(
            outcome_of(OpCode::Multi, &failed),
            Outcome::Error("BADVERSION".into())
        );
        let garbage = Reply {
            zxid: 1,
            err: 0,
            body: vec![1, 2],
        };
        assert_eq!(
            outcome_of(OpCode::Multi, &garbage),
            Outcome::Error("UNDECODABLE_REPLY".into())
        );
    }
}
