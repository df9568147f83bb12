//! Text formats shared by the commands, matching zkCli's output.

use zookeeper_client::{EventType, SessionState, Stat, WatchedEvent};

/// Formats a stat as zkCli prints it: one `name = value` line per field.
///
/// zxids and the ephemeral owner are hexadecimal like Java's `Long.toHexString`, times like
/// `java.util.Date::toString` (always in UTC here).
pub fn format_stat(stat: &Stat) -> String {
    format!(
        "cZxid = 0x{:x}\nctime = {}\nmZxid = 0x{:x}\nmtime = {}\npZxid = 0x{:x}\ncversion = {}\n\
         dataVersion = {}\naclVersion = {}\nephemeralOwner = 0x{:x}\ndataLength = {}\nnumChildren = {}\n",
        stat.czxid,
        java_date(stat.ctime),
        stat.mzxid,
        java_date(stat.mtime),
        stat.pzxid,
        stat.cversion,
        stat.version,
        stat.aversion,
        stat.ephemeral_owner,
        stat.data_length,
        stat.num_children,
    )
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats milliseconds since the Unix epoch like Java's `Date::toString` in UTC:
/// `Thu Nov 26 22:58:28 UTC 2026`.
pub fn java_date(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday, the first entry of WEEKDAYS.
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    format!(
        "{weekday} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        MONTHS[(month - 1) as usize],
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month 1..=12, day 1..=31),
/// counting in 400-year eras of 146 097 days that start on March 1st so leap days come last.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats a list like Java's `List::toString`: `[a, b]`.
pub fn format_list<S: AsRef<str>>(items: &[S]) -> String {
    let joined: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", joined.join(", "))
}

/// Formats a watch or session event the way zkCli's default watcher prints it.
pub fn format_event(event: &WatchedEvent) -> String {
    let event_type = match event.event_type {
        EventType::Session => "None".to_string(),
        other => other.to_string(),
    };
    let path = if event.event_type == EventType::Session {
        "null"
    } else {
        event.path.as_str()
    };
    format!(
        "\nWATCHER::\n\nWatchedEvent state:{} type:{event_type} path:{path}\n",
        event.session_state
    )
}

/// The connection state word zkCli shows in its prompt.
pub fn prompt_state(state: SessionState) -> &'static str {
    match state {
        SessionState::SyncConnected => "CONNECTED",
        SessionState::ConnectedReadOnly => "CONNECTEDREADONLY",
        SessionState::Disconnected => "CONNECTING",
        SessionState::AuthFailed => "AUTH_FAILED",
        SessionState::Expired | SessionState::Closed => "CLOSED",
    }
}

/// The interactive prompt, e.g. `[zk: 127.0.0.1:2181(CONNECTED) 3] `.
pub fn prompt(server: &str, state: SessionState, command_count: u64) -> String {
    format!("[zk: {server}({}) {command_count}] ", prompt_state(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_stat() -> Stat {
        Stat {
            czxid: 2,
            mzxid: 0xa,
            pzxid: 0x1a,
            ctime: 1_795_733_908_222,
            mtime: 1_795_733_911_000,
            version: 2,
            cversion: 1,
            aversion: 0,
            ephemeral_owner: 0x1000a2b3c4d0001,
            data_length: 11,
            num_children: 1,
        }
    }

    #[test]
    fn stat_lines_match_zkcli() {
        assert_eq!(
            format_stat(&sample_stat()),
            "cZxid = 0x2\n\
             ctime = Thu Nov 26 22:58:28 UTC 2026\n\
             mZxid = 0xa\n\
             mtime = Thu Nov 26 22:58:31 UTC 2026\n\
             pZxid = 0x1a\n\
             cversion = 1\n\
             dataVersion = 2\n\
             aclVersion = 0\n\
             ephemeralOwner = 0x1000a2b3c4d0001\n\
             dataLength = 11\n\
             numChildren = 1\n"
        );
    }

    #[test]
    fn negative_zxid_is_twos_complement_hex_like_java() {
        let stat = Stat {
            czxid: -1,
            ..sample_stat()
        };
        assert!(format_stat(&stat).starts_with("cZxid = 0xffffffffffffffff\n"));
    }

    #[test]
    fn java_dates() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
        assert_eq!(java_date(1_709_251_199_999), "Thu Feb 29 23:59:59 UTC 2024");
        assert_eq!(java_date(1_735_689_599_000), "Tue Dec 31 23:59:59 UTC 2024");
        assert_eq!(java_date(-1000), "Wed Dec 31 23:59:59 UTC 1969");
    }

    #[test]
    fn lists_like_java() {
        assert_eq!(format_list::<&str>(&[]), "[]");
        assert_eq!(format_list(&["b", "q-0000000001"]), "[b, q-0000000001]");
    }

    #[test]
    fn node_and_session_events() {
        let node = WatchedEvent::new(EventType::NodeDataChanged, "/w");
        assert_eq!(
            format_event(&node),
            "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/w\n"
        );
        let session = WatchedEvent::new_session(SessionState::Disconnected);
        assert_eq!(
            format_event(&session),
            "\nWATCHER::\n\nWatchedEvent state:Disconnected type:None path:null\n"
        );
    }

    #[test]
    fn prompts() {
        assert_eq!(
            prompt("127.0.0.1:2181", SessionState::SyncConnected, 0),
            "[zk: 127.0.0.1:2181(CONNECTED) 0] "
        );
        assert_eq!(
            prompt("h:1", SessionState::Disconnected, 7),
            "[zk: h:1(CONNECTING) 7] "
        );
        assert_eq!(
            prompt("h:1", SessionState::Expired, 7),
            "[zk: h:1(CLOSED) 7] "
        );
    }
}
