//! Several real `arbor server` processes forming one ensemble on loopback.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::arbor::{ArborOptions, ArborServer, Placement};
use crate::error::HarnessError;
use crate::four_letter::send_four_letter;
use crate::ports::free_port;
use crate::zk_tree::TreeView;
use zookeeper_client as zk;

/// Where one ensemble member runs: its client listener and process ([`Placement`]) and the
/// host of its `server.N` line (where its quorum port listens and peers reach it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberPlacement {
    pub client: Placement,
    /// `None`: the client host.
    pub peer_host: Option<IpAddr>,
}

impl MemberPlacement {
    fn peer_host(&self) -> IpAddr {
        self.peer_host.unwrap_or(self.client.host)
    }
}

/// How members differ from each other when an ensemble starts; by default they do not.
#[derive(Debug, Clone, Default)]
pub struct EnsembleOptions {
    /// Where each member runs (member `i` has server id `i + 1`); empty: all on loopback.
    pub placements: Vec<MemberPlacement>,
    /// Settings of one member (by server id), written after the shared ones, so they win:
    /// e.g. a member's own certificate.
    pub member_config: BTreeMap<u64, Vec<(String, String)>>,
    /// Members started but not expected to serve (e.g. misconfigured on purpose): starting
    /// and [`ArborEnsemble::try_wait_all_serving`] do not wait for them.
    pub not_serving: BTreeSet<u64>,
}

impl EnsembleOptions {
    /// Adds a setting for member `id` only.
    pub fn member_config(mut self, id: u64, key: impl Into<String>, value: impl ToString) -> Self {
        self.member_config
            .entry(id)
            .or_default()
            .push((key.into(), value.to_string()));
        self
    }

    /// Starts member `id` without waiting for it to serve.
    pub fn not_serving(mut self, id: u64) -> Self {
        self.not_serving.insert(id);
        self
    }
}

/// An ensemble of `arbor server` processes: member `i` (0-based) has server id `i + 1`.
/// Participants come first, then observers. Dropping it SIGKILLs every member.
pub struct ArborEnsemble {
    members: Vec<ArborServer>,
    participants: usize,
    /// Every member's `server.N` line, in id order.
    lines: Vec<(String, String)>,
    opts: ArborOptions,
    /// Members not waited for (see [`EnsembleOptions::not_serving`]).
    not_serving: BTreeSet<u64>,
}

impl ArborEnsemble {
    /// Starts `participants` voters (and no observers) and waits until every member serves.
    pub fn start(participants: usize, opts: ArborOptions) -> ArborEnsemble {
        Self::try_start(participants, 0, opts).unwrap_or_else(|e| panic!("ArborEnsemble: {e}"))
    }

    /// Starts `participants` voters and `observers` observers with `opts.config` applied to
    /// each, writes each member's `myid`, and waits until all of them serve.
    pub fn try_start(
        participants: usize,
        observers: usize,
        opts: ArborOptions,
    ) -> Result<ArborEnsemble, HarnessError> {
        let placements = vec![MemberPlacement::default(); participants + observers];
        Self::try_start_placed(participants, observers, opts, &placements)
    }

    /// [`Self::try_start`] with member `i` (server id `i + 1`) placed as `placements[i]`, e.g.
    /// each in its own network namespace (see [`crate::netns::NetLab`]).
    pub fn try_start_placed(
        participants: usize,
        observers: usize,
        opts: ArborOptions,
        placements: &[MemberPlacement],
    ) -> Result<ArborEnsemble, HarnessError> {
        let members = EnsembleOptions {
            placements: placements.to_vec(),
            ..EnsembleOptions::default()
        };
        Self::try_start_with(participants, observers, opts, members)
    }

    /// [`Self::try_start`] with members that differ as `members` says (placement, their own
    /// settings, whether they are expected to serve).
    pub fn try_start_with(
        participants: usize,
        observers: usize,
        opts: ArborOptions,
        members: EnsembleOptions,
    ) -> Result<ArborEnsemble, HarnessError> {
        let total = participants + observers;
        let placements = if members.placements.is_empty() {
            vec![MemberPlacement::default(); total]
        } else {
            members.placements
        };
        assert_eq!(placements.len(), total, "one placement per member");
        let mut servers = Vec::with_capacity(total);
        for placement in &placements {
            servers.push(ArborServer::prepare(&opts, placement.client.clone())?);
        }
        let lines: Vec<(String, String)> = placements
            .iter()
            .enumerate()
            .map(|(index, placement)| {
                let id = index + 1;
                let role = if id > participants { ":observer" } else { "" };
                let host = match placement.peer_host() {
                    IpAddr::V6(v6) => format!("[{v6}]"),
                    v4 => v4.to_string(),
                };
                (
                    format!("server.{id}"),
                    format!("{host}:{}:{}{role}", free_port(), free_port()),
                )
            })
            .collect();
        for (index, member) in servers.iter().enumerate() {
            let id = index as u64 + 1;
            let mut config = opts.config.clone();
            config.extend(lines.iter().cloned());
            if let Some(own) = members.member_config.get(&id) {
                config.extend(own.iter().cloned());
            }
            member.write_config(&config, Some(id))?;
        }
        let mut ensemble = ArborEnsemble {
            members: servers,
            participants,
            lines,
            opts,
            not_serving: members.not_serving,
        };
        for member in &mut ensemble.members {
            member.spawn()?;
        }
        ensemble.try_wait_all_serving()?;
        Ok(ensemble)
    }

    /// Starts a new server (the next id) whose `server.N` lines are the ensemble's plus its own,
    /// as ZooKeeper's `reconfig -add` expects: it runs but serves only once a `reconfig`
    /// (e.g. `arbor cluster add`) makes it a member. Returns its id and its own spec
    /// (`host:quorumPort:electionPort[:observer];clientPort`).
    pub fn start_joiner(&mut self, observer: bool) -> Result<(u64, String), HarnessError> {
        let id = self.members.len() as u64 + 1;
        let member = ArborServer::prepare(&self.opts, Placement::default())?;
        let role = if observer {
            ":observer"
        } else {
            ":participant"
        };
        let spec = format!(
            "127.0.0.1:{}:{}{role};{}",
            free_port(),
            free_port(),
            member.client_port()
        );
        self.lines.push((format!("server.{id}"), spec.clone()));
        let mut config = self.opts.config.clone();
        config.extend(self.lines.iter().cloned());
        member.write_config(&config, Some(id))?;
        self.members.push(member);
        self.members.last_mut().expect("just pushed").spawn()?;
        Ok((id, spec))
    }

    /// Waits until every running member answers and serves (but those started as
    /// [`EnsembleOptions::not_serving`]).
    pub fn try_wait_all_serving(&mut self) -> Result<(), HarnessError> {
        for (index, member) in self.members.iter_mut().enumerate() {
            if member.pid().is_some() && !self.not_serving.contains(&(index as u64 + 1)) {
                member.wait_serving()?;
            }
        }
        Ok(())
    }

    pub fn wait_all_serving(&mut self) {
        if let Err(e) = self.try_wait_all_serving() {
            panic!("ArborEnsemble: {e}");
        }
    }

    /// Member `id`'s quorum port address as its `server.N` line names it (`host:quorumPort`),
    /// where its peers connect.
    pub fn quorum_addr(&self, id: u64) -> String {
        let (_, spec) = &self.lines[id as usize - 1];
        quorum_addr_of(spec).unwrap_or_else(|| panic!("unexpected server line {spec:?}"))
    }

    /// The member with server id `id` (1-based).
    pub fn member(&self, id: u64) -> &ArborServer {
        &self.members[id as usize - 1]
    }

    pub fn member_mut(&mut self, id: u64) -> &mut ArborServer {
        &mut self.members[id as usize - 1]
    }

    pub fn ids(&self) -> impl Iterator<Item = u64> {
        1..=self.members.len() as u64
    }

    pub fn participants(&self) -> usize {
        self.participants
    }

    /// A ZooKeeper connect string naming every member.
    pub fn connect_string(&self) -> String {
        self.members
            .iter()
            .map(ArborServer::connect_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The `Mode:` each running member reports in `srvr` (`None` if it does not answer or
    /// is not serving).
    pub fn mode(&self, id: u64) -> Option<String> {
        let member = self.member(id);
        member.pid()?;
        let reply = send_four_letter(member.addr(), "srvr").ok()?;
        reply
            .lines()
            .find_map(|line| line.strip_prefix("Mode: "))
            .map(|mode| mode.trim().to_owned())
    }

    /// The id of the member that says it leads, if exactly one does.
    pub fn leader(&self) -> Option<u64> {
        let leaders: Vec<u64> = self
            .ids()
            .filter(|&id| self.mode(id).as_deref() == Some("leader"))
            .collect();
        match leaders.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// Waits up to `timeout` for a single serving leader; panics otherwise.
    pub fn wait_for_leader(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.leader() {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "no single leader within {timeout:?}; modes: {:?}",
                self.ids().map(|id| (id, self.mode(id))).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Comparing replicas.
impl ArborEnsemble {
    /// Reads the whole tree through each member of `ids` (after a sync there, see
    /// [`TreeView::read`]) and panics naming the first difference unless all are equal;
    /// returns the common view. Waits first until the leader has published
    /// `/zookeeper/config`, so that write does not land between two members' reads. Read the
    /// tree while no one writes.
    pub async fn assert_converged(&self, ids: &[u64]) -> TreeView {
        self.wait_config_published(ids[0]).await;
        let mut views: Vec<(u64, TreeView)> = Vec::new();
        for &id in ids {
            let client = connect(&self.member(id).connect_string()).await;
            // Reads through a member may fail while it rejoins; retry briefly.
            let mut attempt = 0;
            let view = loop {
                match tokio::time::timeout(Duration::from_secs(20), TreeView::read(&client, "/"))
                    .await
                {
                    Ok(Ok(view)) => break view,
                    other if attempt < 5 => {
                        eprintln!(
                            "reading the tree through member {id} failed ({other:?}); retrying"
                        );
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    other => panic!("cannot read the tree through member {id}: {other:?}"),
                }
            };
            views.push((id, view));
        }
        let (first_id, first) = &views[0];
        for (id, view) in &views[1..] {
            if let Some(difference) = first.first_difference(view) {
                panic!(
                    "members {first_id} and {id} disagree (digests {:x} vs {:x}, {} vs {} \
                     nodes); first difference: {difference}",
                    first.digest(),
                    view.digest(),
                    first.len(),
                    view.len()
                );
            }
        }
        eprintln!(
            "members {ids:?} agree: {} nodes, digest {:x}",
            first.len(),
            first.digest()
        );
        views.swap_remove(0).1
    }

    /// Waits until the leader has written `/zookeeper/config` (about a second after it first
    /// serves), as seen through member `id` after a sync.
    async fn wait_config_published(&self, id: u64) {
        let client = connect(&self.member(id).connect_string()).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if client.sync("/zookeeper/config").await.is_ok() {
                if let Ok((data, _)) = client.get_data("/zookeeper/config").await {
                    if !data.is_empty() {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "the leader did not publish /zookeeper/config within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A client of `connect_string` with a 10 s session; panics after 20 s without a session.
async fn connect(connect_string: &str) -> zk::Client {
    tokio::time::timeout(
        Duration::from_secs(20),
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(connect_string),
    )
    .await
    .unwrap_or_else(|_| panic!("connect to {connect_string}: no session within 20 s"))
    .unwrap_or_else(|e| panic!("connect to {connect_string}: {e}"))
}

/// `host:quorumPort` of a `server.N` value (`host:quorumPort:electionPort[:role][;client]`).
fn quorum_addr_of(spec: &str) -> Option<String> {
    let ports = spec.split(';').next()?;
    let ports = ports
        .strip_suffix(":observer")
        .or_else(|| ports.strip_suffix(":participant"))
        .unwrap_or(ports);
    let mut parts = ports.rsplitn(3, ':');
    let (_election, quorum, host) = (parts.next()?, parts.next()?, parts.next()?);
    Some(format!("{host}:{quorum}"))
}

#[cfg(test)]
mod tests {
    use super::quorum_addr_of;

    #[test]
    fn quorum_addresses_come_from_server_lines() {
        for (spec, expected) in [
            ("127.0.0.1:2888:3888", "127.0.0.1:2888"),
            ("127.0.0.1:2888:3888:observer", "127.0.0.1:2888"),
            ("127.0.0.1:2888:3888:participant;2181", "127.0.0.1:2888"),
            ("[::1]:2888:3888", "[::1]:2888"),
        ] {
            assert_eq!(quorum_addr_of(spec).as_deref(), Some(expected), "{spec}");
        }
        assert_eq!(quorum_addr_of("nohost"), None);
    }
}
