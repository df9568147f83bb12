//! Checking recorded client histories: linearizability (Wing & Gong's search with Lowe's
//! memoization, "WGL", per key), per-client monotonic plain reads, and sequential creates
//! that are neither lost nor duplicated. Pure: tests record histories and call these.
//!
//! A history is a set of [`Operation`]s, each with its invocation and completion time (any
//! monotonic clock, e.g. nanoseconds since the test started) and its outcome. An operation
//! whose outcome is unknown (`ret: None`: connection loss, timeout) may have taken effect at
//! any point after its invocation, or not at all; it is treated as completing after
//! everything else (an operation that never took effect can always be placed last, where it
//! changes nothing anyone saw). Read operations with unknown outcome tell nothing and may be
//! left out.
//!
//! Two operations whose times touch (one completes at the instant the other is invoked) are
//! treated as concurrent, which can only make the checker more permissive, never report a
//! violation that is not there.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification: the state after an operation, given its outcome.
pub trait Model: Clone + Eq + Hash + Debug {
    type Op: Debug;
    type Ret: Debug;

    /// The state after `op` returned `ret` in this state (`ret: None`: outcome unknown, so the
    /// operation took effect as it would), or `None` if `op` cannot return `ret` here.
    fn step(&self, op: &Self::Op, ret: Option<&Self::Ret>) -> Option<Self>;
}

/// One operation of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<O, R> {
    /// Who issued it (only for reports).
    pub client: usize,
    pub op: O,
    /// `None`: the outcome is unknown (see the module docs).
    pub ret: Option<R>,
    pub invoked: u64,
    /// Ignored when `ret` is `None`.
    pub completed: u64,
}

/// What [`check`] concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order of the operations consistent with their real-time order explains every
    /// outcome. `explanation` names how far the search got and what blocked it.
    NotLinearizable {
        explanation: String,
    },
    /// The search took more than `max_steps` steps (the history is too concurrent to decide).
    GaveUp {
        steps: u64,
    },
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        *self == Verdict::Linearizable
    }
}

/// A fixed-size set of operation indexes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BitSet(Vec<u64>);

impl BitSet {
    fn new(len: usize) -> BitSet {
        BitSet(vec![0; len.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// Call and return events of a history in time order, in a doubly linked list that the search
/// removes linearized operations from and puts them back into when it backtracks.
struct Events {
    /// Operation of each event (index 0 is the head sentinel, `len + 1` the tail).
    op: Vec<usize>,
    is_call: Vec<bool>,
    /// For a call event, its operation's return event.
    ret_event: Vec<usize>,
    next: Vec<usize>,
    prev: Vec<usize>,
}

const HEAD: usize = 0;

impl Events {
    fn new<O, R>(history: &[Operation<O, R>]) -> Events {
        // (time, is_return, op): at equal times calls come first (see the module docs).
        let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(history.len() * 2);
        for (i, o) in history.iter().enumerate() {
            order.push((o.invoked, false, i));
            let done = if o.ret.is_some() {
                o.completed.max(o.invoked)
            } else {
                u64::MAX
            };
            order.push((done, true, i));
        }
        order.sort_unstable();
        let n = order.len();
        let tail = n + 1;
        let mut events = Events {
            op: vec![usize::MAX; n + 2],
            is_call: vec![false; n + 2],
            ret_event: vec![0; n + 2],
            next: (1..=n + 2).collect(),
            prev: std::iter::once(0).chain(0..=n).collect(),
        };
        events.next[tail] = tail;
        let mut return_of = vec![0; history.len()];
        for (slot, &(_, is_return, op)) in order.iter().enumerate() {
            let e = slot + 1;
            events.op[e] = op;
            events.is_call[e] = !is_return;
            if is_return {
                return_of[op] = e;
            }
        }
        for e in 1..=n {
            if events.is_call[e] {
                events.ret_event[e] = return_of[events.op[e]];
            }
        }
        events
    }

    fn tail(&self) -> usize {
        self.op.len() - 1
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        self.prev[n] = e;
    }

    /// Removes a call event and its return event.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.ret_event[call]);
    }

    /// Undoes the most recent [`Self::lift`] still in effect.
    fn unlift(&mut self, call: usize) {
        self.relink(self.ret_event[call]);
        self.relink(call);
    }
}

/// Decides whether `history`, starting from `init`, is linearizable, in at most `max_steps`
/// search steps.
pub fn check<M: Model>(init: M, history: &[Operation<M::Op, M::Ret>], max_steps: u64) -> Verdict {
    let mut events = Events::new(history);
    let tail = events.tail();
    let mut linearized = BitSet::new(history.len());
    let mut cache: HashSet<(BitSet, M)> = HashSet::new();
    let mut stack: Vec<(usize, M)> = Vec::new();
    let mut state = init;
    let mut entry = events.next[HEAD];
    let mut steps = 0u64;
    // The deepest point reached, for the report.
    let mut deepest: (usize, Option<M>) = (0, None);
    while events.next[HEAD] != tail {
        steps += 1;
        if steps > max_steps {
            return Verdict::GaveUp { steps };
        }
        if entry != tail && events.is_call[entry] {
            let op = events.op[entry];
            if let Some(next_state) = state.step(&history[op].op, history[op].ret.as_ref()) {
                let mut with_op = linearized.clone();
                with_op.set(op);
                if cache.insert((with_op.clone(), next_state.clone())) {
                    stack.push((entry, state));
                    state = next_state;
                    linearized = with_op;
                    events.lift(entry);
                    entry = events.next[HEAD];
                    continue;
                }
            }
            entry = events.next[entry];
            continue;
        }
        // A return event of an operation not linearized yet (or the end): nothing pending can
        // go next in this state. Backtrack.
        if deepest.1.is_none() || stack.len() > deepest.0 {
            deepest = (stack.len(), Some(state.clone()));
        }
        let Some((call, previous)) = stack.pop() else {
            return Verdict::NotLinearizable {
                explanation: explain(history, deepest),
            };
        };
        state = previous;
        linearized.clear(events.op[call]);
        events.unlift(call);
        entry = events.next[call];
    }
    Verdict::Linearizable
}

fn explain<M: Model>(
    history: &[Operation<M::Op, M::Ret>],
    (depth, state): (usize, Option<M>),
) -> String {
    format!(
        "at most {depth} of {} operations can be put in a valid order; from state {state:?} \
         reached there, no pending operation can take effect next with its recorded outcome. \
         Operations in invocation order:\n{}",
        history.len(),
        describe(history)
    )
}

fn describe<O: Debug, R: Debug>(history: &[Operation<O, R>]) -> String {
    let mut ops: Vec<&Operation<O, R>> = history.iter().collect();
    ops.sort_by_key(|o| o.invoked);
    let lines: Vec<String> = ops
        .iter()
        .take(200)
        .map(|o| match &o.ret {
            Some(r) => format!(
                "  [{} .. {}] client {}: {:?} -> {:?}",
                o.invoked, o.completed, o.client, o.op, r
            ),
            None => format!(
                "  [{} .. ?] client {}: {:?} -> unknown",
                o.invoked, o.client, o.op
            ),
        })
        .collect();
    let more = ops.len().saturating_sub(lines.len());
    let mut text = lines.join("\n");
    if more > 0 {
        text.push_str(&format!("\n  ... and {more} more"));
    }
    text
}

/// An operation of model `M`'s history.
pub type ModelOperation<M> = Operation<<M as Model>::Op, <M as Model>::Ret>;

/// Checks each key's operations on their own (linearizability is compositional): `Ok`, or the
/// first key whose history is not linearizable (or too hard to decide) with the verdict.
pub fn check_per_key<K: Ord + Clone + Debug, M: Model>(
    init: impl Fn(&K) -> M,
    history: &[(K, ModelOperation<M>)],
    max_steps: u64,
) -> Result<(), (K, Verdict)>
where
    M::Op: Clone,
    M::Ret: Clone,
{
    let mut by_key: BTreeMap<K, Vec<ModelOperation<M>>> = BTreeMap::new();
    for (key, op) in history {
        by_key.entry(key.clone()).or_default().push(op.clone());
    }
    for (key, ops) in by_key {
        let verdict = check(init(&key), &ops, max_steps);
        if !verdict.is_linearizable() {
            return Err((key, verdict));
        }
    }
    Ok(())
}

/// A ZooKeeper znode used as a register: its data (a number here) and its data version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Register {
    pub value: u64,
    pub version: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOp {
    /// sync + getData: a linearizable read.
    Read,
    /// setData without a version.
    Write(u64),
    /// setData with an expected version.
    CompareAndSet { expected_version: i32, value: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterRet {
    Read {
        value: u64,
        version: i32,
    },
    /// setData succeeded; the stat's new version.
    Written {
        version: i32,
    },
    /// setData with a version failed with BADVERSION.
    BadVersion,
}

impl Model for Register {
    type Op = RegisterOp;
    type Ret = RegisterRet;

    fn step(&self, op: &RegisterOp, ret: Option<&RegisterRet>) -> Option<Register> {
        let written = |value: u64| Register {
            value,
            version: self.version + 1,
        };
        match (op, ret) {
            (RegisterOp::Read, None) => Some(self.clone()),
            (RegisterOp::Read, Some(RegisterRet::Read { value, version })) => {
                (*value == self.value && *version == self.version).then(|| self.clone())
            }
            (RegisterOp::Write(value), None) => Some(written(*value)),
            (RegisterOp::Write(value), Some(RegisterRet::Written { version })) => {
                (*version == self.version + 1).then(|| written(*value))
            }
            (
                RegisterOp::CompareAndSet {
                    expected_version,
                    value,
                },
                ret,
            ) => {
                let matches = *expected_version == self.version;
                match ret {
                    None if matches => Some(written(*value)),
                    None => Some(self.clone()),
                    Some(RegisterRet::Written { version })
                        if matches && *version == self.version + 1 =>
                    {
                        Some(written(*value))
                    }
                    Some(RegisterRet::BadVersion) if !matches => Some(self.clone()),
                    Some(_) => None,
                }
            }
            (_, Some(_)) => None,
        }
    }
}

/// A version of a key that a client saw or produced, for [`check_monotonic_reads`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation<K> {
    pub client: usize,
    pub key: K,
    pub version: i32,
    /// When the operation completed (one client's operations do not overlap).
    pub completed: u64,
    /// A plain (unsynced) read, the kind this check is about.
    pub plain: bool,
}

/// ZooKeeper's per-client guarantee for plain reads: a client never sees a key go back to an
/// older version than one it has already seen or written. Returns the first violation.
pub fn check_monotonic_reads<K: Ord + Clone + Debug>(
    observations: &[Observation<K>],
) -> Result<(), String> {
    let mut ordered: Vec<&Observation<K>> = observations.iter().collect();
    ordered.sort_by_key(|o| (o.client, o.completed));
    let mut newest: BTreeMap<(usize, K), (i32, u64)> = BTreeMap::new();
    for o in ordered {
        let slot = (o.client, o.key.clone());
        if let Some(&(version, at)) = newest.get(&slot) {
            if o.plain && o.version < version {
                return Err(format!(
                    "client {} read {:?} at version {} at {}, after it had seen version {version} at {at}",
                    o.client, o.key, o.version, o.completed
                ));
            }
            if o.version <= version {
                continue;
            }
        }
        newest.insert(slot, (o.version, o.completed));
    }
    Ok(())
}

/// Acknowledged sequential creates are present exactly once, under the name the create
/// returned; no create appears twice; nothing appears that no client tried to create.
/// `acked`: (name returned, data written); `unknown`: data of creates with unknown outcome;
/// `found`: (name, data) of every child after healing.
pub fn check_sequential_creates(
    acked: &[(String, String)],
    unknown: &[String],
    found: &[(String, String)],
) -> Result<(), String> {
    let mut by_data: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, data) in found {
        by_data.entry(data).or_default().push(name);
    }
    if let Some((data, names)) = by_data.iter().find(|(_, names)| names.len() > 1) {
        return Err(format!(
            "create {data:?} is present {} times: {names:?}",
            names.len()
        ));
    }
    for (name, data) in acked {
        match by_data.get(data.as_str()) {
            None => return Err(format!("acknowledged create {data:?} ({name}) is lost")),
            Some(names) if names[0] != name => {
                return Err(format!(
                    "acknowledged create {data:?} was answered as {name} but is stored as {}",
                    names[0]
                ))
            }
            Some(_) => {}
        }
    }
    let tried: HashSet<&str> = acked
        .iter()
        .map(|(_, d)| d.as_str())
        .chain(unknown.iter().map(String::as_str))
        .collect();
    if let Some((name, data)) = found.iter().find(|(_, d)| !tried.contains(d.as_str())) {
        return Err(format!("{name} holds {data:?}, which no client created"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: u64 = 1_000_000;

    fn op(
        client: usize,
        invoked: u64,
        completed: u64,
        op: RegisterOp,
        ret: Option<RegisterRet>,
    ) -> Operation<RegisterOp, RegisterRet> {
        Operation {
            client,
            op,
            ret,
            invoked,
            completed,
        }
    }

    fn read(value: u64, version: i32) -> Option<RegisterRet> {
        Some(RegisterRet::Read { value, version })
    }

    fn written(version: i32) -> Option<RegisterRet> {
        Some(RegisterRet::Written { version })
    }

    fn init() -> Register {
        Register {
            value: 0,
            version: 0,
        }
    }

    use RegisterOp::{CompareAndSet as Cas, Read, Write};

    #[test]
    fn a_sequential_history_is_linearizable() {
        let h = vec![
            op(0, 0, 1, Write(1), written(1)),
            op(1, 2, 3, Read, read(1, 1)),
            op(
                0,
                4,
                5,
                Cas {
                    expected_version: 1,
                    value: 2,
                },
                written(2),
            ),
            op(
                1,
                6,
                7,
                Cas {
                    expected_version: 1,
                    value: 3,
                },
                Some(RegisterRet::BadVersion),
            ),
            op(1, 8, 9, Read, read(2, 2)),
        ];
        assert_eq!(check(init(), &h, STEPS), Verdict::Linearizable);
    }

    #[test]
    fn a_read_overlapping_a_write_may_see_either_value() {
        for seen in [read(0, 0), read(1, 1)] {
            let h = vec![
                op(0, 0, 10, Write(1), written(1)),
                op(1, 2, 5, Read, seen.clone()),
            ];
            assert!(check(init(), &h, STEPS).is_linearizable(), "{seen:?}");
        }
        // Reads that overlap the write but not each other must not go back: old after new.
        let h = vec![
            op(0, 0, 10, Write(1), written(1)),
            op(1, 1, 2, Read, read(1, 1)),
            op(2, 3, 4, Read, read(0, 0)),
        ];
        assert!(!check(init(), &h, STEPS).is_linearizable());
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_not_linearizable() {
        let h = vec![
            op(0, 0, 1, Write(1), written(1)),
            op(1, 2, 3, Read, read(0, 0)),
        ];
        match check(init(), &h, STEPS) {
            Verdict::NotLinearizable { explanation } => {
                assert!(explanation.contains("client 1: Read"), "{explanation}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn two_compare_and_sets_from_one_version_cannot_both_succeed() {
        let cas = |value| Cas {
            expected_version: 0,
            value,
        };
        let h = vec![
            op(0, 0, 10, cas(1), written(1)),
            op(1, 0, 10, cas(2), written(1)),
        ];
        assert!(!check(init(), &h, STEPS).is_linearizable());
        let h = vec![
            op(0, 0, 10, cas(1), written(1)),
            op(1, 0, 10, cas(2), Some(RegisterRet::BadVersion)),
            op(2, 11, 12, Read, read(1, 1)),
        ];
        assert!(check(init(), &h, STEPS).is_linearizable());
    }

    #[test]
    fn an_unknown_write_may_or_may_not_have_happened_but_only_after_its_invocation() {
        // Seen later: it happened.
        let h = vec![
            op(0, 0, 0, Write(7), None),
            op(1, 5, 6, Read, read(7, 1)),
            op(1, 7, 8, Read, read(7, 1)),
        ];
        assert!(check(init(), &h, STEPS).is_linearizable());
        // Never seen: it did not happen (or happened after everything).
        let h = vec![
            op(0, 0, 0, Write(7), None),
            op(1, 5, 6, Read, read(0, 0)),
            op(2, 7, 8, Write(8), written(1)),
        ];
        assert!(check(init(), &h, STEPS).is_linearizable());
        // Seen before it was invoked: impossible.
        let h = vec![op(1, 0, 1, Read, read(7, 1)), op(0, 5, 5, Write(7), None)];
        assert!(!check(init(), &h, STEPS).is_linearizable());
        // Seen, then unseen again: impossible.
        let h = vec![
            op(0, 0, 0, Write(7), None),
            op(1, 5, 6, Read, read(7, 1)),
            op(1, 7, 8, Read, read(0, 0)),
        ];
        assert!(!check(init(), &h, STEPS).is_linearizable());
    }

    #[test]
    fn versions_must_match_the_order_of_writes() {
        let h = vec![
            op(0, 0, 1, Write(1), written(1)),
            op(1, 2, 3, Write(2), written(1)),
        ];
        assert!(!check(init(), &h, STEPS).is_linearizable());
        // A value that was never written.
        let h = vec![op(0, 0, 1, Read, read(9, 1))];
        assert!(!check(init(), &h, STEPS).is_linearizable());
    }

    #[test]
    fn many_concurrent_writers_are_decided_quickly() {
        // 12 overlapping writes, then a read of one of them: linearizable (that write last).
        let mut h: Vec<_> = (0..12)
            .map(|i| op(i, i as u64, 100 + i as u64, Write(i as u64 + 1), written(0)))
            .collect();
        // Versions are whatever order the writes were applied in: give write i version i+1.
        for (i, o) in h.iter_mut().enumerate() {
            o.ret = written(i as i32 + 1);
        }
        h.push(op(99, 200, 201, Read, read(12, 12)));
        assert!(check(init(), &h, STEPS).is_linearizable());
        h.push(op(99, 202, 203, Read, read(11, 11)));
        assert!(!check(init(), &h, STEPS).is_linearizable());
    }

    #[test]
    fn the_step_budget_is_reported() {
        let h: Vec<_> = (0..16)
            .map(|i| op(i, 0, 0, Write(i as u64), None))
            .collect();
        assert!(matches!(check(init(), &h, 3), Verdict::GaveUp { .. }));
    }

    #[test]
    fn keys_are_checked_independently() {
        let history = vec![
            ("a", op(0, 0, 1, Write(1), written(1))),
            ("b", op(1, 0, 1, Read, read(0, 0))),
            ("a", op(1, 2, 3, Read, read(1, 1))),
        ];
        assert!(check_per_key(|_| init(), &history, STEPS).is_ok());
        // The same read of "a" is stale if it was on "a" — but on "b" it is fine.
        let history = vec![
            ("a", op(0, 0, 1, Write(1), written(1))),
            ("b", op(1, 2, 3, Read, read(0, 0))),
            ("a", op(2, 2, 3, Read, read(0, 0))),
        ];
        let (key, verdict) = check_per_key(|_| init(), &history, STEPS).unwrap_err();
        assert_eq!(key, "a");
        assert!(matches!(verdict, Verdict::NotLinearizable { .. }));
    }

    fn seen(
        client: usize,
        key: &str,
        version: i32,
        completed: u64,
        plain: bool,
    ) -> Observation<String> {
        Observation {
            client,
            key: key.to_owned(),
            version,
            completed,
            plain,
        }
    }

    #[test]
    fn plain_reads_never_go_back_in_a_clients_history() {
        let ok = vec![
            seen(0, "a", 1, 1, true),
            seen(0, "a", 3, 2, false),
            seen(0, "a", 3, 3, true),
            seen(0, "b", 0, 4, true),
            // Another client may lag behind.
            seen(1, "a", 1, 5, true),
        ];
        assert!(check_monotonic_reads(&ok).is_ok());
        let back = vec![seen(0, "a", 3, 2, false), seen(0, "a", 2, 3, true)];
        let err = check_monotonic_reads(&back).unwrap_err();
        assert!(
            err.contains("version 2") && err.contains("version 3"),
            "{err}"
        );
        // Own writes count too.
        let own = vec![seen(4, "k", 5, 1, false), seen(4, "k", 4, 2, true)];
        assert!(check_monotonic_reads(&own).is_err());
    }

    fn pair(name: &str, data: &str) -> (String, String) {
        (name.to_owned(), data.to_owned())
    }

    #[test]
    fn sequential_creates_are_present_once_under_their_names() {
        let acked = vec![pair("n-01", "c0-1"), pair("n-02", "c1-1")];
        let unknown = vec!["c0-2".to_owned(), "c1-2".to_owned()];
        let found = vec![
            pair("n-01", "c0-1"),
            pair("n-02", "c1-1"),
            pair("n-04", "c1-2"),
        ];
        assert!(check_sequential_creates(&acked, &unknown, &found).is_ok());

        let lost = vec![pair("n-02", "c1-1")];
        assert!(check_sequential_creates(&acked, &unknown, &lost)
            .unwrap_err()
            .contains("lost"));
        let twice = vec![
            pair("n-01", "c0-1"),
            pair("n-02", "c1-1"),
            pair("n-03", "c1-1"),
        ];
        assert!(check_sequential_creates(&acked, &unknown, &twice)
            .unwrap_err()
            .contains("2 times"));
        let moved = vec![pair("n-03", "c0-1"), pair("n-02", "c1-1")];
        assert!(check_sequential_creates(&acked, &unknown, &moved)
            .unwrap_err()
            .contains("stored as n-03"));
        let invented = vec![
            pair("n-01", "c0-1"),
            pair("n-02", "c1-1"),
            pair("n-09", "zz"),
        ];
        assert!(check_sequential_creates(&acked, &unknown, &invented)
            .unwrap_err()
            .contains("no client created"));
    }
}
