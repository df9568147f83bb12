//! Loopback ports for test servers.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};

/// Ports this process has handed out; the OS may offer a just-released port again, and two
/// servers of one test must never be given the same one.
fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A loopback TCP port that was free a moment ago and that this process has not handed out
/// before. Panics only when the OS has no ports to give (nothing a test could do then).
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("local_addr of a bound socket")
            .port();
        // A poisoned set is still a valid set of numbers.
        let mut ports = handed_out().lock().unwrap_or_else(|e| e.into_inner());
        if ports.insert(port) {
            return port;
        }
    }
    panic!("free_port: the OS kept offering ports this process already handed out");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        for port in &ports[..5] {
            TcpListener::bind(("127.0.0.1", *port)).expect("handed-out port is bindable");
        }
    }

    #[test]
    fn concurrent_callers_never_share_a_port() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..25).map(|_| free_port()).collect::<Vec<_>>()))
            .collect();
        let mut all = HashSet::new();
        for t in threads {
            for port in t.join().expect("thread") {
                assert!(all.insert(port), "port {port} handed out twice");
            }
        }
    }
}
