//! Session liveness: which sessions are alive, and which have gone quiet for longer than their
//! negotiated timeout. The tracker only decides; expiring a session is a replicated
//! `CloseSession` txn proposed by the server, so every replica deletes the same ephemerals.

// Keys are server-assigned ids: foldhash's fast variant is enough (std's SipHash cost more
// than the map operations themselves on every request).
use foldhash::{HashMap, HashSet};
use std::time::{Duration, Instant};

use arbor_tree::SessionId;

use crate::watch::ConnId;

#[derive(Debug, Clone)]
struct Tracked {
    timeout: Duration,
    deadline: Instant,
    /// The connection the session is attached to, if any.
    conn: Option<ConnId>,
    /// An expiry (or close) has been proposed; do not propose it again.
    closing: bool,
}

/// Liveness of every session this server knows of.
#[derive(Debug, Default)]
pub struct SessionTracker {
    sessions: HashMap<SessionId, Tracked>,
    /// Sessions touched since the last `take_recent` (reported to the leader by followers).
    recent: HashSet<SessionId>,
}

impl SessionTracker {
    /// Starts tracking a session (new, or recovered from disk with a fresh deadline, as
    /// ZooKeeper does after a restart).
    pub fn add(&mut self, id: SessionId, timeout_ms: i32, now: Instant) {
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        self.sessions.entry(id).or_insert(Tracked {
            timeout,
            deadline: now + timeout,
            conn: None,
            closing: false,
        });
    }

    pub fn remove(&mut self, id: SessionId) -> Option<ConnId> {
        self.recent.remove(&id);
        self.sessions.remove(&id).and_then(|t| t.conn)
    }

    /// Records activity; false if the session is unknown or already closing.
    pub fn touch(&mut self, id: SessionId, now: Instant) -> bool {
        match self.sessions.get_mut(&id) {
            Some(t) if !t.closing => {
                t.deadline = now + t.timeout;
                self.recent.insert(id);
                true
            }
            _ => false,
        }
    }

    /// Records activity reported by another server (no entry in `recent`: it is not ours to
    /// report again).
    pub fn touch_reported(&mut self, id: SessionId, now: Instant) {
        if let Some(t) = self.sessions.get_mut(&id) {
            if !t.closing {
                t.deadline = now + t.timeout;
            }
        }
    }

    /// The sessions touched here since the last call, sorted.
    pub fn take_recent(&mut self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self.recent.drain().collect();
        ids.sort_unstable();
        ids
    }

    /// Gives every session a full timeout from `now` (a new leader did not see the activity
    /// the old one saw). Closing sessions stay closing.
    pub fn refresh_all(&mut self, now: Instant) {
        for t in self.sessions.values_mut() {
            t.deadline = now + t.timeout;
        }
    }

    /// Attaches a connection (and touches); returns the previously attached connection.
    pub fn attach(&mut self, id: SessionId, conn: ConnId, now: Instant) -> Option<ConnId> {
        let t = self.sessions.get_mut(&id)?;
        t.deadline = now + t.timeout;
        t.conn.replace(conn).filter(|&old| old != conn)
    }

    /// Detaches `conn` if it is still the session's connection. The session lives on until its
    /// timeout passes without a reconnect.
    pub fn detach(&mut self, id: SessionId, conn: ConnId) {
        if let Some(t) = self.sessions.get_mut(&id) {
            if t.conn == Some(conn) {
                t.conn = None;
            }
        }
    }

    /// Marks a session as closing (client sent closeSession); false if unknown or already so.
    pub fn begin_close(&mut self, id: SessionId) -> bool {
        match self.sessions.get_mut(&id) {
            Some(t) if !t.closing => {
                t.closing = true;
                true
            }
            _ => false,
        }
    }

    /// A close that was proposed did not commit: let expiry try again later.
    pub fn abort_close(&mut self, id: SessionId) {
        if let Some(t) = self.sessions.get_mut(&id) {
            t.closing = false;
        }
    }

    /// Sessions whose deadline has passed; they are marked closing so each is returned once.
    pub fn take_expired(&mut self, now: Instant) -> Vec<SessionId> {
        let mut out = Vec::new();
        for (&id, t) in self.sessions.iter_mut() {
            if !t.closing && t.deadline <= now {
                t.closing = true;
                out.push(id);
            }
        }
        out.sort();
        out
    }

    pub fn is_alive(&self, id: SessionId) -> bool {
        self.sessions.get(&id).is_some_and(|t| !t.closing)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// (session, timeout, deadline) triples, sorted, for `dump`.
    pub fn list(&self) -> Vec<(SessionId, Duration, Instant)> {
        let mut v: Vec<_> = self
            .sessions
            .iter()
            .map(|(&id, t)| (id, t.timeout, t.deadline))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_expires_only_after_quiet_timeout() {
        let t0 = Instant::now();
        let mut s = SessionTracker::default();
        s.add(1, 4000, t0);
        assert!(s.take_expired(t0 + Duration::from_millis(3999)).is_empty());
        assert!(s.touch(1, t0 + Duration::from_millis(3000)));
        assert!(s.take_expired(t0 + Duration::from_millis(6999)).is_empty());
        assert_eq!(s.take_expired(t0 + Duration::from_millis(7000)), [1]);
        // Reported once; a closing session cannot be revived by a touch.
        assert!(s.take_expired(t0 + Duration::from_secs(60)).is_empty());
        assert!(!s.touch(1, t0 + Duration::from_secs(61)));
        s.abort_close(1);
        assert!(s.is_alive(1));
    }

    #[test]
    fn attach_replaces_previous_connection() {
        let t0 = Instant::now();
        let mut s = SessionTracker::default();
        s.add(5, 1000, t0);
        assert_eq!(s.attach(5, 10, t0), None);
        assert_eq!(s.attach(5, 11, t0), Some(10));
        s.detach(5, 10); // stale connection: no effect
        assert_eq!(s.remove(5), Some(11));
        assert!(s.is_empty());
    }

    #[test]
    fn close_is_proposed_once() {
        let mut s = SessionTracker::default();
        s.add(2, 1000, Instant::now());
        assert!(s.begin_close(2));
        assert!(!s.begin_close(2));
        assert!(!s.begin_close(3));
    }
}
