//! `/healthz` (the process is up and answering) and `/readyz` (it serves clients).

use arbor_quorum::{QuorumStatus, Role};
use serde_json::{json, Value};

/// Why a server is not ready, or that it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(String),
}

/// Whether a server whose quorum reports `status` serves clients: it knows a leader (it can
/// commit writes and its reads are of an agreed history) and it is a member of the group.
///
/// "Has applied its log": the server only starts answering HTTP with a status after the quorum
/// has replayed its whole local log (`Server::start` waits for it); before, `/readyz` says
/// "starting". In an ensemble it must also be serving: a leader acknowledged by a quorum
/// recently, or a follower/observer hearing from its leader (`QuorumStatus::serving`).
pub fn readiness(status: &QuorumStatus) -> Readiness {
    match (status.role, status.leader) {
        (Role::Shutdown, _) => Readiness::NotReady("the quorum has stopped".into()),
        (Role::Candidate, _) | (_, None) => {
            Readiness::NotReady(format!("no leader in term {}", status.term))
        }
        (_, Some(_)) if !status.serving => {
            Readiness::NotReady("cut off: no recent contact with a quorum or the leader".into())
        }
        (_, Some(_)) => Readiness::Ready,
    }
}

impl Readiness {
    pub fn status_code(&self) -> u16 {
        match self {
            Readiness::Ready => 200,
            Readiness::NotReady(_) => 503,
        }
    }

    /// The `/readyz` body.
    pub fn body(&self, status: Option<&QuorumStatus>) -> Value {
        let mut body = match self {
            Readiness::Ready => json!({ "status": "ready" }),
            Readiness::NotReady(reason) => json!({ "status": "not ready", "reason": reason }),
        };
        if let Some(s) = status {
            body["role"] = json!(format!("{:?}", s.role).to_lowercase());
            body["term"] = json!(s.term);
            body["leader"] = json!(s.leader);
            body["last_applied_index"] = json!(s.last_applied_index);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(role: Role, leader: Option<u64>) -> QuorumStatus {
        QuorumStatus {
            node_id: 1,
            role,
            term: 2,
            leader,
            voters: vec![1],
            last_log_index: Some(5),
            last_applied_index: Some(5),
            last_applied_zxid: 9,
            serving: leader.is_some(),
            ..QuorumStatus::default()
        }
    }

    #[test]
    fn ready_only_with_a_leader_and_a_running_quorum() {
        assert_eq!(readiness(&status(Role::Leader, Some(1))), Readiness::Ready);
        assert_eq!(
            readiness(&status(Role::Follower, Some(2))),
            Readiness::Ready
        );
        assert!(matches!(
            readiness(&status(Role::Follower, None)),
            Readiness::NotReady(r) if r.contains("no leader")
        ));
        assert!(matches!(
            readiness(&status(Role::Candidate, Some(2))),
            Readiness::NotReady(_)
        ));
        assert!(matches!(
            readiness(&status(Role::Shutdown, Some(1))),
            Readiness::NotReady(_)
        ));
        let cut_off = QuorumStatus {
            serving: false,
            ..status(Role::Follower, Some(2))
        };
        assert!(matches!(
            readiness(&cut_off),
            Readiness::NotReady(r) if r.contains("cut off")
        ));
        let s = status(Role::Leader, Some(1));
        let body = readiness(&s).body(Some(&s));
        assert_eq!(body["status"], "ready");
        assert_eq!(body["role"], "leader");
    }
}
