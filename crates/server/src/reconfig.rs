//! ZooKeeper's dynamic reconfiguration (`reconfig`, opcode 16): the text of
//! `/zookeeper/config`, and how a reconfig request changes it. Pure: the server applies the
//! result through [`arbor_quorum::Quorum::change_membership`] and then records the new text in
//! `/zookeeper/config` with a replicated txn.
//!
//! The text is ZooKeeper's: one `server.N=host:quorumPort:electionPort:role[;client]` line per
//! member, then `version=<hex>` (here: the Raft log index of the membership entry).

use std::collections::BTreeMap;

use arbor_proto::records::ReconfigRequest;
use arbor_proto::ErrorCode;

use crate::config::servers::parse_server_value;
use crate::config::{ClientEndpoint, PeerRole, ServerEntry};

/// A membership as `/zookeeper/config` states it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DynamicConfig {
    pub servers: BTreeMap<u64, ServerEntry>,
    pub version: u64,
}

/// Why a reconfig request is refused, with the error code ZooKeeper answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReconfigRefusal {
    pub code: ErrorCode,
    pub message: String,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> ReconfigRefusal {
    ReconfigRefusal {
        code,
        message: message.into(),
    }
}

impl DynamicConfig {
    pub fn from_servers(servers: &[ServerEntry], version: u64) -> DynamicConfig {
        DynamicConfig {
            servers: servers.iter().map(|s| (s.id, s.clone())).collect(),
            version,
        }
    }

    /// Parses `/zookeeper/config` text; `None` for an empty node.
    pub fn parse(text: &str) -> Result<Option<DynamicConfig>, String> {
        let mut config = DynamicConfig::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {line:?}"))?;
            if key == "version" {
                config.version = u64::from_str_radix(value.trim(), 16)
                    .map_err(|_| format!("bad version {value:?}"))?;
            } else if let Some(id) = key.strip_prefix("server.") {
                let id: u64 = id
                    .parse()
                    .map_err(|_| format!("bad server id in {key:?}"))?;
                config.servers.insert(id, parse_server_value(id, value)?);
            } else {
                return Err(format!("unknown key {key:?}"));
            }
        }
        Ok((!config.servers.is_empty()).then_some(config))
    }

    /// The `/zookeeper/config` text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in self.servers.values() {
            out.push_str(&format!("server.{}={}\n", s.id, render_entry(s)));
        }
        out.push_str(&format!("version={:x}", self.version));
        out
    }

    /// Voters and learners with their quorum addresses.
    pub fn membership(&self) -> arbor_quorum::Membership {
        let mut membership = arbor_quorum::Membership::default();
        for s in self.servers.values() {
            let addr = quorum_addr(s);
            match s.role {
                PeerRole::Participant => membership.voters.insert(s.id, addr),
                PeerRole::Observer => membership.learners.insert(s.id, addr),
            };
        }
        membership
    }

    /// The configuration a request asks for: incremental (`joining` specs and `leaving`
    /// ids, comma-separated) or a full `newMembers` list.
    pub fn apply(&self, request: &ReconfigRequest) -> Result<DynamicConfig, ReconfigRefusal> {
        if request.cur_config_id != -1 && request.cur_config_id as u64 != self.version {
            return Err(refuse(
                ErrorCode::BadVersion,
                format!(
                    "the current config version is {:x}, not {:x}",
                    self.version, request.cur_config_id
                ),
            ));
        }
        let non_empty = |s: &Option<String>| s.as_deref().is_some_and(|t| !t.trim().is_empty());
        let mut next = self.clone();
        if non_empty(&request.new_members) {
            if non_empty(&request.joining_servers) || non_empty(&request.leaving_servers) {
                return Err(refuse(
                    ErrorCode::BadArguments,
                    "either joining/leaving servers or new members, not both",
                ));
            }
            next.servers = parse_specs(request.new_members.as_deref().unwrap_or(""))?;
        } else {
            for (id, entry) in parse_specs(request.joining_servers.as_deref().unwrap_or(""))? {
                next.servers.insert(id, entry);
            }
            for id in split_list(request.leaving_servers.as_deref().unwrap_or("")) {
                let id: u64 = id.parse().map_err(|_| {
                    refuse(ErrorCode::BadArguments, format!("bad server id {id:?}"))
                })?;
                if next.servers.remove(&id).is_none() {
                    return Err(refuse(
                        ErrorCode::BadArguments,
                        format!("server {id} is not a member"),
                    ));
                }
            }
        }
        if next.servers == self.servers {
            return Err(refuse(
                ErrorCode::BadArguments,
                "the request does not change the configuration",
            ));
        }
        let voters = next
            .servers
            .values()
            .filter(|s| s.role == PeerRole::Participant)
            .count();
        if voters == 0 {
            return Err(refuse(
                ErrorCode::NewConfigNoQuorum,
                "the new configuration has no participants",
            ));
        }
        Ok(next)
    }
}

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `server.N=spec` entries, comma-separated.
fn parse_specs(text: &str) -> Result<BTreeMap<u64, ServerEntry>, ReconfigRefusal> {
    let mut out = BTreeMap::new();
    for spec in split_list(text) {
        let bad = |why: String| refuse(ErrorCode::BadArguments, format!("{spec:?}: {why}"));
        let (key, value) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected server.N=host:port:port[:role][;client]".into()))?;
        let id: u64 = key
            .trim()
            .strip_prefix("server.")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| bad("expected server.N=...".into()))?;
        let entry = parse_server_value(id, value).map_err(bad)?;
        if out.insert(id, entry).is_some() {
            return Err(bad(format!("server {id} given twice")));
        }
    }
    Ok(out)
}

fn host_text(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `host:quorumPort` of a member (where its peers reach it).
pub fn quorum_addr(entry: &ServerEntry) -> String {
    format!("{}:{}", host_text(&entry.host), entry.quorum_port)
}

fn render_entry(s: &ServerEntry) -> String {
    let role = match s.role {
        PeerRole::Participant => "participant",
        PeerRole::Observer => "observer",
    };
    let client = s
        .client
        .as_ref()
        .map_or(String::new(), |c: &ClientEndpoint| {
            format!(";{}:{}", c.address.as_deref().unwrap_or("0.0.0.0"), c.port)
        });
    format!(
        "{}:{}:{}:{role}{client}",
        host_text(&s.host),
        s.quorum_port,
        s.election_port
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> DynamicConfig {
        DynamicConfig::parse(
            "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
             server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
             server.3=127.0.0.1:2890:3890:participant\nversion=a",
        )
        .unwrap()
        .unwrap()
    }

    fn request(joining: &str, leaving: &str, new: &str, version: i64) -> ReconfigRequest {
        ReconfigRequest {
            joining_servers: Some(joining.into()),
            leaving_servers: Some(leaving.into()),
            new_members: (!new.is_empty()).then(|| new.into()),
            cur_config_id: version,
        }
    }

    #[test]
    fn text_round_trips_in_zookeeper_layout() {
        let config = current();
        assert_eq!(config.version, 10);
        assert_eq!(
            config.render(),
            "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
             server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
             server.3=127.0.0.1:2890:3890:participant\nversion=a"
        );
        assert_eq!(
            DynamicConfig::parse(&config.render()).unwrap(),
            Some(config)
        );
        assert_eq!(DynamicConfig::parse("").unwrap(), None);
        assert!(DynamicConfig::parse("server.x=h:1:2").is_err());
    }

    #[test]
    fn incremental_and_full_requests_give_the_new_membership() {
        let config = current();
        let added = config
            .apply(&request(
                "server.4=127.0.0.1:2891:3891:observer;2184",
                "",
                "",
                -1,
            ))
            .unwrap();
        let m = added.membership();
        assert_eq!(m.voters.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            m.learners.get(&4).map(String::as_str),
            Some("127.0.0.1:2891")
        );
        let removed = config.apply(&request("", "1, 2", "", 10)).unwrap();
        assert_eq!(removed.servers.keys().copied().collect::<Vec<_>>(), [3]);
        let full = config
            .apply(&request("", "", "server.7=h:1:2,server.8=h:3:4", -1))
            .unwrap();
        assert_eq!(full.servers.keys().copied().collect::<Vec<_>>(), [7, 8]);
    }

    #[test]
    fn bad_requests_are_refused_with_zookeeper_codes() {
        let config = current();
        let code = |r: ReconfigRequest| config.apply(&r).unwrap_err().code;
        assert_eq!(code(request("", "1", "", 5)), ErrorCode::BadVersion);
        assert_eq!(code(request("", "9", "", -1)), ErrorCode::BadArguments);
        assert_eq!(
            code(request("server.4=nonsense", "", "", -1)),
            ErrorCode::BadArguments
        );
        assert_eq!(
            code(request("", "1,2,3", "", -1)),
            ErrorCode::NewConfigNoQuorum
        );
        assert_eq!(code(request("", "", "", -1)), ErrorCode::BadArguments);
        assert_eq!(
            code(request("server.4=h:1:2", "", "server.5=h:1:2", -1)),
            ErrorCode::BadArguments
        );
    }
}
