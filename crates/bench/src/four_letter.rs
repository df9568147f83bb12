//! Four-letter words (`srvr`, `mntr`, `wchs`, ...) over a plain TCP connection, as `nc` sends
//! them: ZooKeeper and Arbor both answer and close.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `word` to `addr` and returns the whole answer; fails after `timeout`.
pub async fn four_letter(
    addr: SocketAddr,
    word: &str,
    timeout: Duration,
) -> std::io::Result<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(word.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{word} to {addr}: no answer within {timeout:?}"),
            ))
        })
}

/// The value of a `Key: value` line of `srvr`/`stat` output (e.g. `Mode`).
pub fn field<'a>(answer: &'a str, key: &str) -> Option<&'a str> {
    answer.lines().find_map(|line| {
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The value of a `key<TAB>value` line of `mntr` output.
pub fn mntr_value(answer: &str, key: &str) -> Option<i64> {
    answer.lines().find_map(|line| {
        let (name, value) = line.split_once('\t')?;
        (name.trim() == key).then(|| value.trim().parse().ok())?
    })
}

/// The `Mode:` a server reports in `srvr` (leader, follower, observer, standalone), or `None`
/// when it does not answer or does not serve.
pub async fn mode(addr: SocketAddr, timeout: Duration) -> Option<String> {
    let answer = four_letter(addr, "srvr", timeout).await.ok()?;
    field(&answer, "Mode").map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_key() {
        let srvr = "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: follower\nNode count: 5\n";
        assert_eq!(field(srvr, "Mode"), Some("follower"));
        assert_eq!(field(srvr, "Node count"), Some("5"));
        assert_eq!(field(srvr, "Zxid"), None);
        let mntr = "zk_version\t3.8.0\nzk_num_alive_connections\t12\nzk_watch_count\t300\n";
        assert_eq!(mntr_value(mntr, "zk_num_alive_connections"), Some(12));
        assert_eq!(mntr_value(mntr, "zk_watch_count"), Some(300));
        assert_eq!(mntr_value(mntr, "zk_version"), None);
        assert_eq!(mntr_value(mntr, "zk_missing"), None);
    }
}
