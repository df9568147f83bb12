//! `arbor cluster ...`: ensemble status and membership changes.
//!
//! Exit codes: 0 ok, 1 refused or unhealthy, 2 usage, 3 unreachable.

pub mod membership;
pub mod status;

use std::time::Duration;

use clap::{Args, Subcommand};

const OK: u8 = 0;
const UNHEALTHY: u8 = 1;
const REFUSED: u8 = 1;
const UNREACHABLE: u8 = 3;

/// Arguments of `arbor cluster`.
#[derive(Args, Debug)]
pub struct ClusterArgs {
    /// Members' client addresses (a ZooKeeper connect string: host:port,host:port,...).
    #[arg(long, global = true, default_value = "127.0.0.1:2181")]
    server: String,
    /// How long to wait for each server (seconds).
    #[arg(long, global = true, default_value_t = 5)]
    timeout: u64,
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Every member's role, zxid, lag behind the most advanced member, and health.
    Status {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add a member (ZooKeeper `reconfig -add`); start it first with the new server.N lines.
    Add {
        /// Its server id (`server.N`).
        #[arg(long)]
        id: u64,
        /// `host:quorumPort:electionPort[:participant|:observer][;[clientAddress:]clientPort]`.
        #[arg(long)]
        spec: String,
        /// `user:password` for digest auth (the super user, or one with WRITE on
        /// /zookeeper/config).
        #[arg(long)]
        auth: Option<String>,
    },
    /// Remove a member (ZooKeeper `reconfig -remove`).
    Remove {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        auth: Option<String>,
    },
}

/// The servers of a connect string (a `/chroot` suffix is ignored).
fn servers(connect: &str) -> Vec<String> {
    let hosts = connect.split('/').next().unwrap_or("");
    hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.contains(':') {
                h.to_owned()
            } else {
                format!("{h}:2181")
            }
        })
        .collect()
}

/// Runs `arbor cluster`; returns the process exit code.
pub async fn run(args: ClusterArgs) -> anyhow::Result<u8> {
    let timeout = Duration::from_secs(args.timeout.max(1));
    match args.command {
        ClusterCommand::Status { json } => {
            let rows = status::gather(&servers(&args.server), timeout).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", status::table(&rows));
            }
            Ok(
                if rows
                    .iter()
                    .all(|r| r.mode.is_none() && r.health != "not serving")
                {
                    UNREACHABLE
                } else if status::healthy(&rows) {
                    OK
                } else {
                    UNHEALTHY
                },
            )
        }
        ClusterCommand::Add { id, spec, auth } => {
            change(
                &args.server,
                membership::add_request(id, &spec),
                auth,
                timeout,
            )
            .await
        }
        ClusterCommand::Remove { id, auth } => {
            change(&args.server, membership::remove_request(id), auth, timeout).await
        }
    }
}

/// Runs one membership change and prints the new configuration.
async fn change(
    connect: &str,
    request: arbor_proto::records::ReconfigRequest,
    auth: Option<String>,
    timeout: Duration,
) -> anyhow::Result<u8> {
    // Catching up a new member can take a while; the server bounds it too.
    let timeout = timeout.max(Duration::from_secs(120));
    match membership::reconfig(&servers(connect), request, auth.as_deref(), timeout).await {
        membership::Outcome::Changed(config) => {
            println!("{config}");
            Ok(OK)
        }
        membership::Outcome::Refused(code) => {
            eprintln!("arbor cluster: refused: {code:?}");
            Ok(REFUSED)
        }
        membership::Outcome::Unreachable(reason) => {
            eprintln!("arbor cluster: {reason}");
            Ok(UNREACHABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn connect_strings_name_their_servers() {
        assert_eq!(
            super::servers("a:1, b ,c:3/chroot"),
            ["a:1", "b:2181", "c:3"]
        );
    }
}
