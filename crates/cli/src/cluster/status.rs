//! `arbor cluster status`: every member's role, zxid, lag and health, from the four-letter
//! words each server answers on its client port (so it works against ZooKeeper too).

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one member said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberStatus {
    pub server: String,
    /// `leader`, `follower`, `observer`, `standalone`; `None` when it did not answer usefully.
    pub mode: Option<String>,
    pub zxid: Option<i64>,
    /// How many txns behind the most advanced member it is.
    pub lag: Option<i64>,
    pub connections: Option<u64>,
    /// `ok`, `not serving` or `unreachable: <reason>`.
    pub health: String,
}

/// The fields of a `srvr` reply that the status shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Srvr {
    pub mode: Option<String>,
    pub zxid: Option<i64>,
    pub connections: Option<u64>,
    pub serving: bool,
}

/// Parses ZooKeeper's `srvr` text (pure).
pub fn parse_srvr(text: &str) -> Srvr {
    if text.contains("not currently serving requests") {
        return Srvr::default();
    }
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.trim().to_owned())
    };
    Srvr {
        mode: field("Mode:"),
        zxid: field("Zxid:").and_then(|z| i64::from_str_radix(z.trim_start_matches("0x"), 16).ok()),
        connections: field("Connections:").and_then(|c| c.parse().ok()),
        serving: field("Mode:").is_some(),
    }
}

/// Joins the members' answers into rows with lags (pure).
pub fn rows(answers: Vec<(String, Result<Srvr, String>)>) -> Vec<MemberStatus> {
    let newest = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok().and_then(|s| s.zxid))
        .max();
    answers
        .into_iter()
        .map(|(server, answer)| match answer {
            Ok(srvr) => MemberStatus {
                lag: srvr.zxid.zip(newest).map(|(z, n)| n - z),
                health: if srvr.serving { "ok" } else { "not serving" }.to_owned(),
                server,
                mode: srvr.mode,
                zxid: srvr.zxid,
                connections: srvr.connections,
            },
            Err(reason) => MemberStatus {
                server,
                mode: None,
                zxid: None,
                lag: None,
                connections: None,
                health: format!("unreachable: {reason}"),
            },
        })
        .collect()
}

/// Whether the rows describe a healthy group: everyone serves and exactly one member leads
/// (or one standalone server).
pub fn healthy(rows: &[MemberStatus]) -> bool {
    let leaders = rows
        .iter()
        .filter(|r| matches!(r.mode.as_deref(), Some("leader" | "standalone")))
        .count();
    leaders == 1 && rows.iter().all(|r| r.health == "ok")
}

/// Renders the rows as an aligned table (pure).
pub fn table(rows: &[MemberStatus]) -> String {
    let dash = || "-".to_owned();
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.server.clone(),
                r.mode.clone().unwrap_or_else(dash),
                r.zxid.map_or_else(dash, |z| format!("0x{z:x}")),
                r.lag.map_or_else(dash, |l| l.to_string()),
                r.connections.map_or_else(dash, |c| c.to_string()),
                r.health.clone(),
            ]
        })
        .collect();
    let header = ["SERVER", "MODE", "ZXID", "LAG", "CONNECTIONS", "HEALTH"];
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(header);
    for row in &cells {
        out.push_str(&line(std::array::from_fn(|i| row[i].as_str())));
    }
    out
}

/// Sends a four-letter word and returns the whole answer.
pub async fn four_letter(server: &str, word: &str, timeout: Duration) -> Result<String, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await?;
        stream.write_all(word.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&reply).into_owned())
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Asks every server of `servers` for `srvr`, concurrently.
pub async fn gather(servers: &[String], timeout: Duration) -> Vec<MemberStatus> {
    let answers = futures::future::join_all(servers.iter().map(|server| async move {
        let answer = four_letter(server, "srvr", timeout)
            .await
            .map(|t| parse_srvr(&t));
        (server.clone(), answer)
    }))
    .await;
    rows(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEADER: &str = "Zookeeper version: 3.8.4-arbor-0.1.0, built on unknown\n\
        Latency min/avg/max: 0/0.5/3\nReceived: 10\nSent: 10\nConnections: 2\n\
        Outstanding: 0\nZxid: 0x2a\nMode: leader\nNode count: 5\n";

    #[test]
    fn srvr_fields_are_parsed_and_not_serving_is_recognised() {
        let s = parse_srvr(LEADER);
        assert_eq!(s.mode.as_deref(), Some("leader"));
        assert_eq!(s.zxid, Some(0x2a));
        assert_eq!(s.connections, Some(2));
        assert!(s.serving);
        let down = parse_srvr("This ZooKeeper instance is not currently serving requests\n");
        assert!(!down.serving);
        assert_eq!(down.mode, None);
    }

    #[test]
    fn rows_compute_lag_and_health_and_the_table_aligns() {
        let follower = LEADER
            .replace("Mode: leader", "Mode: follower")
            .replace("0x2a", "0x28");
        let rows = rows(vec![
            ("a:1".into(), Ok(parse_srvr(LEADER))),
            ("b:2".into(), Ok(parse_srvr(&follower))),
            ("c:3".into(), Err("connection refused".into())),
        ]);
        assert_eq!(rows[0].lag, Some(0));
        assert_eq!(rows[1].lag, Some(2));
        assert_eq!(rows[2].health, "unreachable: connection refused");
        assert!(!healthy(&rows));
        assert!(healthy(&rows[..2]));
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("SERVER  MODE"));
        assert!(
            lines[1].starts_with("a:1     leader    0x2a  0    2"),
            "{text}"
        );
        assert!(lines[3].contains("unreachable: connection refused"));
    }
}
