//! `arbor cluster add|remove`: membership changes through ZooKeeper's `reconfig` request, so
//! the same change can be made with `zkCli.sh reconfig -add/-remove`. The server must run with
//! `reconfigEnabled=true`, and the caller needs `super` (`--auth super:<password>`) or WRITE on
//! `/zookeeper/config`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use arbor_bench::client::Client;
use arbor_proto::records::{AuthPacket, ReconfigRequest};
use arbor_proto::{ErrorCode, OpCode, Request, Response};

/// What a membership change ended with.
#[derive(Debug)]
pub enum Outcome {
    /// The new `/zookeeper/config` text.
    Changed(String),
    Refused(ErrorCode),
    Unreachable(String),
}

/// The reconfig request for adding `server.<id>=<spec>` (incremental).
pub fn add_request(id: u64, spec: &str) -> ReconfigRequest {
    ReconfigRequest {
        joining_servers: Some(format!("server.{id}={spec}")),
        leaving_servers: None,
        new_members: None,
        cur_config_id: -1,
    }
}

/// The reconfig request for removing member `id` (incremental).
pub fn remove_request(id: u64) -> ReconfigRequest {
    ReconfigRequest {
        joining_servers: None,
        leaving_servers: Some(id.to_string()),
        new_members: None,
        cur_config_id: -1,
    }
}

/// Sends `request` to the first server of `servers` that takes a session.
pub async fn reconfig(
    servers: &[String],
    request: ReconfigRequest,
    auth: Option<&str>,
    timeout: Duration,
) -> Outcome {
    let mut last_error = String::from("no servers given");
    for server in servers {
        let addr: SocketAddr = match server.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => addr,
            Ok(None) | Err(_) => {
                last_error = format!("cannot resolve {server}");
                continue;
            }
        };
        let client = match Client::connect(addr, Duration::from_secs(10)).await {
            Ok(client) => client,
            Err(e) => {
                last_error = e.to_string();
                continue;
            }
        };
        if let Some(credential) = auth {
            let packet = Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: credential.as_bytes().to_vec(),
            });
            match client.call(packet).await {
                Ok(reply) if reply.is_ok() => {}
                Ok(reply) => {
                    return Outcome::Refused(reply.error_code().unwrap_or(ErrorCode::AuthFailed))
                }
                Err(e) => {
                    last_error = e.to_string();
                    continue;
                }
            }
        }
        let answer =
            tokio::time::timeout(timeout, client.call(Request::Reconfig(request.clone()))).await;
        let _ = client.close().await;
        return match answer {
            Ok(Ok(reply)) if reply.is_ok() => match reply.response(OpCode::Reconfig) {
                Ok(Response::Reconfig(data, _)) => {
                    Outcome::Changed(String::from_utf8_lossy(&data).into_owned())
                }
                Ok(other) => Outcome::Unreachable(format!("unexpected answer {other:?}")),
                Err(e) => Outcome::Unreachable(format!("undecodable answer: {e}")),
            },
            Ok(Ok(reply)) => Outcome::Refused(reply.error_code().unwrap_or(ErrorCode::SystemError)),
            Ok(Err(e)) => Outcome::Unreachable(e.to_string()),
            Err(_) => Outcome::Unreachable(format!("no answer within {timeout:?}")),
        };
    }
    Outcome::Unreachable(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_incremental() {
        let add = add_request(4, "127.0.0.1:2891:3891:observer;2184");
        assert_eq!(
            add.joining_servers.as_deref(),
            Some("server.4=127.0.0.1:2891:3891:observer;2184")
        );
        assert_eq!(add.cur_config_id, -1);
        assert_eq!(remove_request(2).leaving_servers.as_deref(), Some("2"));
    }
}
