//! Four-letter words over a raw TCP connection, as `echo ruok | nc` would send them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::error::HarnessError;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `word` (e.g. `ruok`, `srvr`, `mntr`) and returns everything the server wrote before it
/// closed the connection.
pub fn send_four_letter(addr: SocketAddr, word: &str) -> Result<String, HarnessError> {
    let what = || format!("four-letter word {word:?} to {addr}");
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(HarnessError::io(what()))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(HarnessError::io(what()))?;
    stream
        .write_all(word.as_bytes())
        .map_err(HarnessError::io(what()))?;
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .map_err(HarnessError::io(what()))?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Polls `ruok` until the answer is `imok` or `timeout` passes; `still_running` is asked between
/// attempts so a crashed server fails fast instead of after the whole timeout.
pub(crate) fn wait_until_ready(
    addr: SocketAddr,
    timeout: Duration,
    mut still_running: impl FnMut() -> Result<(), HarnessError>,
) -> Result<(), ReadyTimeout> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(reply) = send_four_letter(addr, "ruok") {
            if reply == "imok" {
                return Ok(());
            }
        }
        still_running().map_err(ReadyTimeout::Exited)?;
        if Instant::now() >= deadline {
            return Err(ReadyTimeout::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// ZooKeeper's `srvr` reply while its database is still loading (`ruok` already says `imok`).
const NOT_SERVING: &str = "not currently serving requests";

/// Waits until `srvr` no longer says the server is still starting; false on timeout.
pub(crate) fn wait_until_serving(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(reply) = send_four_letter(addr, "srvr") {
            if !reply.contains(NOT_SERVING) {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) enum ReadyTimeout {
    TimedOut,
    Exited(HarnessError),
}

/// Waits until the server at `addr` answers `ruok` with `imok`.
pub fn wait_for_imok(addr: SocketAddr, timeout: Duration) -> Result<(), HarnessError> {
    wait_until_ready(addr, timeout, || Ok(())).map_err(|_| HarnessError::NotReady {
        what: addr.to_string(),
        seconds: timeout.as_secs(),
        log_tail: String::new(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-thread stand-in server that answers each connection with `reply(word)`.
    pub(crate) fn fake_server(reply: fn(&str) -> String, connections: usize) -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().take(connections) {
                let Ok(mut stream) = stream else { continue };
                let mut word = [0u8; 4];
                if stream.read_exact(&mut word).is_ok() {
                    let answer = reply(&String::from_utf8_lossy(&word));
                    let _ = stream.write_all(answer.as_bytes());
                }
            }
        });
        addr
    }

    #[test]
    fn returns_whole_reply_until_close() {
        let addr = fake_server(|w| format!("you said {w}\nline two\n"), 1);
        assert_eq!(
            send_four_letter(addr, "srvr").expect("reply"),
            "you said srvr\nline two\n"
        );
    }

    #[test]
    fn connection_refused_is_an_error_naming_the_address() {
        let addr: SocketAddr = ([127, 0, 0, 1], crate::free_port()).into();
        let err = send_four_letter(addr, "ruok").unwrap_err();
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[test]
    fn wait_until_serving_skips_the_loading_reply() {
        let loading = fake_server(
            |_| format!("This ZooKeeper instance is {NOT_SERVING}\n"),
            100,
        );
        assert!(!wait_until_serving(loading, Duration::from_millis(300)));
        let serving = fake_server(|_| "Zookeeper version: 3.8.0\nMode: standalone\n".into(), 1);
        assert!(wait_until_serving(serving, Duration::from_secs(5)));
    }

    #[test]
    fn wait_for_imok_succeeds_on_imok_and_times_out_otherwise() {
        let good = fake_server(|_| "imok".into(), 1);
        wait_for_imok(good, Duration::from_secs(5)).expect("ready");
        let bad = fake_server(|_| "nope".into(), 100);
        let err = wait_for_imok(bad, Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, HarnessError::NotReady { .. }), "{err}");
    }
}
