//! The four-letter words: a connection whose first four bytes spell one gets a text report and
//! is closed. The reports are computed by [`crate::report::gather`] (shared with the admin
//! HTTP commands) and printed by [`crate::report::text`] in ZooKeeper 3.8's layout.

use std::sync::atomic::Ordering;

use crate::report::{gather, text};
use crate::server::Shared;

/// The words ZooKeeper 3.8 knows.
const WORDS: [&str; 18] = [
    "ruok", "stat", "srvr", "conf", "cons", "crst", "dump", "envi", "mntr", "wchs", "wchc", "wchp",
    "dirs", "isro", "srst", "gtmk", "stmk", "hash",
];

pub use crate::report::VERSION;

/// What ZooKeeper answers to srvr/stat/mntr while it is not part of a working quorum.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// Recognizes a four-letter word in the first bytes of a connection. A real connect request
/// starts with a frame length, which is never one of these (they decode to lengths far beyond
/// jute.maxbuffer).
pub fn parse(head: &[u8; 4]) -> Option<&'static str> {
    let s = std::str::from_utf8(head).ok()?;
    WORDS.iter().copied().find(|w| *w == s)
}

/// Resets every connection's packet counters (`crst`, `connection_stat_reset`).
pub fn reset_connection_stats(shared: &Shared) {
    for c in shared.connections.lock().values() {
        c.received.store(0, Ordering::Relaxed);
        c.sent.store(0, Ordering::Relaxed);
    }
}

/// Runs a word and returns the text to send back.
pub fn run(shared: &Shared, word: &str) -> String {
    if !shared.config.four_letter_word_allowed(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    match word {
        "ruok" => "imok".to_owned(),
        "srvr" | "stat" | "mntr" if !shared.quorum.serving() => NOT_SERVING.to_owned(),
        "srvr" => text::server_summary(&gather::server_summary(shared, false)),
        "stat" => text::server_summary(&gather::server_summary(shared, true)),
        "conf" => text::conf(&gather::conf(shared)),
        "cons" => text::connections(&gather::connections(shared)),
        "crst" => {
            reset_connection_stats(shared);
            "Connection stats reset.\n".to_owned()
        }
        "srst" => {
            shared.stats.reset();
            "Server stats reset.\n".to_owned()
        }
        "dump" => text::dump(&gather::dump(shared)),
        "envi" => text::environment(&gather::environment()),
        "mntr" => text::monitor(&gather::monitor(shared)),
        "wchs" => text::watch_summary(&gather::watch_summary(shared)),
        "wchc" => text::watches_by_session(&gather::watches_by_session(shared)),
        "wchp" => text::watches_by_path(&gather::watches_by_path(shared)),
        "dirs" => text::dirs(&gather::dirs(shared)),
        "isro" => text::is_read_only(false),
        _ => format!("{word} is not supported by Arbor.\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_only_known_words() {
        assert_eq!(parse(b"ruok"), Some("ruok"));
        assert_eq!(parse(b"mntr"), Some("mntr"));
        assert_eq!(parse(b"abcd"), None);
        assert_eq!(parse(&[0, 0, 0, 44]), None);
    }
}
