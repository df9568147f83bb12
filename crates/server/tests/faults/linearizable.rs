//! A linearizability check under faults: clients read (sync + getData), write (setData) and
//! compare-and-set (setData with a version) a few registers, and create sequential nodes,
//! while the leader is killed, stopped and (with namespaces) cut off. The history is checked
//! per key with the WGL checker; plain reads per client for monotonicity; acknowledged
//! sequential creates for being present exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_test_support::linearizability::{
    check_monotonic_reads, check_per_key, check_sequential_creates, Observation, Operation,
    Register, RegisterOp, RegisterRet,
};
use rand::{Rng, SeedableRng};
use zookeeper_client as zk;

use crate::support::{
    assert_converged, connect, eventually, leader_among, opts, persistent, status, Cluster, Status,
};

const KEYS: usize = 3;
const WORKERS: usize = 4;
/// Longer than any fault below, so sessions survive them (operations fail, sessions do not).
const SESSION_TIMEOUT: Duration = Duration::from_secs(8);
const OP_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_STEPS: u64 = 20_000_000;

/// Everything the workers recorded.
#[derive(Default)]
struct History {
    ops: Vec<(usize, Operation<RegisterOp, RegisterRet>)>,
    observations: Vec<Observation<usize>>,
    /// (name, data) of acknowledged sequential creates.
    created: Vec<(String, String)>,
    /// Data of sequential creates with unknown outcome.
    maybe_created: Vec<String>,
}

fn register(key: usize) -> String {
    format!("/lin/r{key}")
}

/// Errors after which a write's outcome is known: it did not happen.
fn did_not_happen(e: &zk::Error) -> bool {
    matches!(e, zk::Error::BadVersion | zk::Error::NoNode)
}

/// Errors after which the client must be replaced (its session is over).
fn session_over(e: &zk::Error) -> bool {
    matches!(e, zk::Error::SessionExpired | zk::Error::ClientClosed)
}

async fn timed<T>(
    f: impl std::future::Future<Output = Result<T, zk::Error>>,
) -> Result<T, zk::Error> {
    tokio::time::timeout(OP_TIMEOUT, f)
        .await
        .unwrap_or(Err(zk::Error::Timeout))
}

async fn worker(
    worker: usize,
    connect_string: String,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    history: Arc<Mutex<History>>,
) -> (usize, usize) {
    let now = || epoch.elapsed().as_nanos() as u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(worker as u64 * 7919 + 1);
    let mut generation = 0;
    let mut client = connect(&connect_string, SESSION_TIMEOUT).await;
    let mut known_version = [0i32; KEYS];
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let client_id = worker * 1000 + generation;
        let key = rng.gen_range(0..KEYS);
        let path = register(key);
        let value = (worker as u64 + 1) * 1_000_000 + n;
        let invoked = now();
        let dice = rng.gen_range(0..100);
        let mut outcome_error = None;
        if dice < 35 {
            // Linearizable read.
            let result = timed(async {
                client.sync(&path).await?;
                client.get_data(&path).await
            })
            .await;
            let completed = now();
            match result {
                Ok((data, stat)) => {
                    let value: u64 = String::from_utf8_lossy(&data).parse().expect("number");
                    let mut h = history.lock().unwrap();
                    h.ops.push((
                        key,
                        Operation {
                            client: client_id,
                            op: RegisterOp::Read,
                            ret: Some(RegisterRet::Read {
                                value,
                                version: stat.version,
                            }),
                            invoked,
                            completed,
                        },
                    ));
                    h.observations.push(Observation {
                        client: client_id,
                        key,
                        version: stat.version,
                        completed,
                        plain: false,
                    });
                    known_version[key] = stat.version;
                }
                Err(e) => outcome_error = Some(e),
            }
        } else if dice < 55 {
            // Plain read: only per-client monotonicity is promised.
            let result = timed(client.get_data(&path)).await;
            let completed = now();
            match result {
                Ok((_, stat)) => history.lock().unwrap().observations.push(Observation {
                    client: client_id,
                    key,
                    version: stat.version,
                    completed,
                    plain: true,
                }),
                Err(e) => outcome_error = Some(e),
            }
        } else if dice < 90 {
            let (op, expected) = if dice < 75 {
                (RegisterOp::Write(value), None)
            } else {
                let expected = known_version[key];
                (
                    RegisterOp::CompareAndSet {
                        expected_version: expected,
                        value,
                    },
                    Some(expected),
                )
            };
            let result =
                timed(client.set_data(&path, value.to_string().as_bytes(), expected)).await;
            let completed = now();
            let ret = match &result {
                Ok(stat) => {
                    known_version[key] = stat.version;
                    Some(RegisterRet::Written {
                        version: stat.version,
                    })
                }
                Err(zk::Error::BadVersion) => Some(RegisterRet::BadVersion),
                Err(e) if did_not_happen(e) => panic!("{path}: {e}"),
                Err(_) => None,
            };
            if let Some(RegisterRet::Written { version }) = &ret {
                history.lock().unwrap().observations.push(Observation {
                    client: client_id,
                    key,
                    version: *version,
                    completed,
                    plain: false,
                });
            }
            history.lock().unwrap().ops.push((
                key,
                Operation {
                    client: client_id,
                    op,
                    ret,
                    invoked,
                    completed,
                },
            ));
            if let Err(e) = result {
                if e != zk::Error::BadVersion {
                    outcome_error = Some(e);
                }
            }
        } else {
            let data = format!("c{worker}-{n}");
            let options = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
            let result = timed(client.create("/lin/seq/n-", data.as_bytes(), &options)).await;
            let mut h = history.lock().unwrap();
            match result {
                Ok((_, sequence)) => h.created.push((format!("n-{sequence}"), data)),
                Err(e) => {
                    h.maybe_created.push(data);
                    outcome_error = Some(e);
                }
            }
        }
        match outcome_error {
            None => ok += 1,
            Some(e) => {
                failed += 1;
                if session_over(&e) {
                    // A new session is a new client for the monotonicity check.
                    generation += 1;
                    client = connect(&connect_string, SESSION_TIMEOUT).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(2..10))).await;
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn register_histories_under_faults_are_linearizable() {
    let cluster = match Cluster::in_namespaces("linearizability partitions", 3, opts()) {
        Some(cluster) => cluster,
        None => {
            eprintln!("running the linearizability check on loopback without the partition phase");
            Cluster::loopback(3, opts())
        }
    };
    let mut cluster = cluster;
    let all = cluster.ids();
    leader_among(&cluster, &all, Duration::from_secs(15)).await;
    let connect_string = cluster.connect_string(&all);
    let setup = connect(&connect_string, Duration::from_secs(20)).await;
    setup.create("/lin", b"", &persistent()).await.unwrap();
    setup.create("/lin/seq", b"", &persistent()).await.unwrap();
    for key in 0..KEYS {
        setup
            .create(&register(key), b"0", &persistent())
            .await
            .unwrap();
    }

    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let history = Arc::new(Mutex::new(History::default()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            tokio::spawn(worker(
                w,
                connect_string.clone(),
                epoch,
                stop.clone(),
                history.clone(),
            ))
        })
        .collect();
    let settle = Duration::from_secs(2);
    tokio::time::sleep(settle).await;

    // kill -9 of the leader, then it comes back.
    let leader = leader_among(&cluster, &all, Duration::from_secs(15)).await;
    eprintln!("[{:?}] kill -9 leader {leader}", epoch.elapsed());
    cluster.ensemble.member_mut(leader).kill9();
    let rest: Vec<u64> = all.iter().copied().filter(|&id| id != leader).collect();
    leader_among(&cluster, &rest, Duration::from_secs(15)).await;
    tokio::time::sleep(settle).await;
    cluster.ensemble.member_mut(leader).spawn().unwrap();
    cluster.ensemble.member_mut(leader).wait_serving().unwrap();
    tokio::time::sleep(settle).await;

    // SIGSTOP of the leader for three seconds.
    let leader = leader_among(&cluster, &all, Duration::from_secs(15)).await;
    eprintln!("[{:?}] SIGSTOP leader {leader}", epoch.elapsed());
    cluster.ensemble.member(leader).signal("STOP");
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.ensemble.member(leader).signal("CONT");
    eventually(
        "the stopped leader rejoins",
        Duration::from_secs(15),
        || status(cluster.addr(leader)) == Status::Mode("follower".into()),
    )
    .await;
    tokio::time::sleep(settle).await;

    // A partition cutting off the leader, healed after three seconds.
    if cluster.lab.is_some() {
        let leader = leader_among(&cluster, &all, Duration::from_secs(15)).await;
        eprintln!("[{:?}] cut off leader {leader}", epoch.elapsed());
        cluster.cut(leader);
        tokio::time::sleep(Duration::from_secs(3)).await;
        cluster.heal(leader);
        eventually(
            "the cut-off leader rejoins",
            Duration::from_secs(15),
            || status(cluster.addr(leader)) == Status::Mode("follower".into()),
        )
        .await;
        tokio::time::sleep(settle).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut totals = (0, 0);
    for w in workers {
        let (ok, failed) = w.await.unwrap();
        totals = (totals.0 + ok, totals.1 + failed);
    }
    eprintln!(
        "[{:?}] workers done: {} operations succeeded, {} failed or timed out",
        epoch.elapsed(),
        totals.0,
        totals.1
    );

    let history = std::mem::take(&mut *history.lock().unwrap());
    let determinate = history.ops.iter().filter(|(_, o)| o.ret.is_some()).count();
    let unknown = history.ops.len() - determinate;
    assert!(
        determinate >= 200,
        "too few completed register operations to say anything: {determinate}"
    );
    let checked_at = Instant::now();
    let verdict = check_per_key(
        |_| Register {
            value: 0,
            version: 0,
        },
        &history.ops,
        MAX_STEPS,
    );
    eprintln!(
        "checked {} register operations ({unknown} with unknown outcome) in {:?}",
        history.ops.len(),
        checked_at.elapsed()
    );
    if let Err((key, verdict)) = verdict {
        panic!("register {key}: {verdict:?}");
    }
    if let Err(violation) = check_monotonic_reads(&history.observations) {
        panic!("plain reads went back in time: {violation}");
    }

    // Every member ends with the same tree, and every acknowledged create is there once.
    let view = assert_converged(&cluster, &all).await;
    let found: Vec<(String, String)> = view
        .nodes
        .iter()
        .filter_map(|(path, node)| {
            let name = path.strip_prefix("/lin/seq/")?;
            Some((
                name.to_owned(),
                String::from_utf8_lossy(&node.data).into_owned(),
            ))
        })
        .collect();
    eprintln!(
        "sequential creates: {} acknowledged, {} unknown, {} found",
        history.created.len(),
        history.maybe_created.len(),
        found.len()
    );
    assert!(!history.created.is_empty());
    if let Err(violation) =
        check_sequential_creates(&history.created, &history.maybe_created, &found)
    {
        panic!("sequential creates: {violation}");
    }
}
