//! Helpers shared by the integration tests of the real `arbor server` process. Each test file
//! compiles this module separately and uses only part of it.
#![allow(dead_code)]

pub mod raw;
pub mod zk;

use std::time::{Duration, Instant};

use arbor_test_support::{ArborOptions, ArborServer};

/// Starts a server with extra zoo.cfg settings.
pub fn start_arbor(config: &[(&str, &str)]) -> ArborServer {
    let opts = config
        .iter()
        .fold(ArborOptions::new(), |opts, (key, value)| {
            opts.config(*key, value)
        });
    ArborServer::start(opts)
}

/// Asserts the server process is alive and answers `ruok`.
pub fn assert_serving(server: &ArborServer) {
    assert_eq!(
        server.four_letter("ruok"),
        "imok",
        "server stopped answering; log:\n{}",
        server.log_tail()
    );
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes; returns the last answer.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
