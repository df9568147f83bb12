//! Running parsed commands against a ZooKeeper session.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use zookeeper_client::{Acl, Acls, Client, CreateMode, Error as ZkError};

use super::acl::{format_acls, parse_acl};
use super::command::{Command, ParseError, USAGES};
use super::format::{format_list, format_stat};
use super::watches::Watches;

/// What a command printed, and its exit code (0 on success).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reply {
    pub out: String,
    pub err: String,
    pub exit_code: i32,
}

impl Reply {
    fn line(&mut self, text: impl fmt::Display) {
        self.out.push_str(&text.to_string());
        self.out.push('\n');
    }

    fn warn(&mut self, text: impl fmt::Display) {
        self.err.push_str(&text.to_string());
        self.err.push('\n');
    }

    /// The reply to a command line that could not be parsed.
    pub fn parse_error(error: &ParseError) -> Reply {
        let mut reply = Reply::default();
        if matches!(error, ParseError::UnknownCommand(_)) {
            reply.err.push_str(&usage_text());
        }
        reply.warn(error);
        reply.exit_code = match error {
            ParseError::UnknownCommand(_) => EXIT_UNKNOWN_COMMAND,
            _ => EXIT_FAILED,
        };
        reply
    }
}

/// Exit code of a command that failed, as zkCli's.
const EXIT_FAILED: i32 = 1;
/// Exit code for an unknown command, as zkCli's (and shells').
const EXIT_UNKNOWN_COMMAND: i32 = 127;

/// The list of commands that `help` prints.
pub fn usage_text() -> String {
    let mut text = String::from("arbor shell [-s host:port] cmd args\n");
    for (_, usage) in USAGES {
        text.push('\t');
        text.push_str(usage);
        text.push('\n');
    }
    text
}

/// Why a command failed; displayed as zkCli words the same failure.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CommandError {
    /// The server (or the client library) refused an operation on `path`.
    Node {
        path: String,
        error: ZkError,
    },
    /// An ACL list had no valid entry.
    EmptyAcl {
        path: String,
    },
    Auth(ZkError),
    DeleteAllIncomplete,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Node { path, error } => match error {
                ZkError::NoNode => write!(f, "Node does not exist: {path}"),
                ZkError::NodeExists => write!(f, "Node already exists: {path}"),
                ZkError::NotEmpty => write!(f, "Node not empty: {path}"),
                ZkError::NoAuth => write!(f, "Insufficient permission : {path}"),
                ZkError::BadVersion => write!(f, "version No is not valid : {path}"),
                ZkError::NoChildrenForEphemerals => {
                    write!(f, "Ephemerals cannot have children: {path}")
                }
                ZkError::InvalidAcl => write!(f, "Acl is not valid : {path}"),
                ZkError::AuthFailed => write!(f, "Authentication is not valid : {path}"),
                other => write!(f, "{other}: {path}"),
            },
            CommandError::EmptyAcl { path } => write!(f, "Acl is not valid : {path}"),
            CommandError::Auth(error) => write!(f, "Authentication failed: {error}"),
            CommandError::DeleteAllIncomplete => {
                f.write_str("Failed to delete some node(s) in the subtree!")
            }
        }
    }
}

/// Attaches the node path to a client error.
fn at(path: &str) -> impl FnOnce(ZkError) -> CommandError + '_ {
    move |error| CommandError::Node {
        path: path.to_string(),
        error,
    }
}

/// A session plus the watches its commands set.
pub struct Executor {
    client: Client,
    watches: Watches,
}

impl Executor {
    pub fn new(client: Client) -> Self {
        Executor {
            client,
            watches: Watches::default(),
        }
    }

    pub fn watches(&mut self) -> &mut Watches {
        &mut self.watches
    }

    /// Runs one command; never fails as a whole: failures are part of the reply.
    pub async fn execute(&mut self, command: Command) -> Reply {
        let mut reply = Reply::default();
        if let Err(error) = self.run(command, &mut reply).await {
            reply.warn(&error);
            reply.exit_code = EXIT_FAILED;
        }
        reply
    }

    async fn run(&mut self, command: Command, reply: &mut Reply) -> Result<(), CommandError> {
        let client = &self.client;
        match command {
            // As in zkCli, `-s` does not apply to a recursive listing: it prints paths only.
            Command::Ls {
                path,
                watch,
                recursive: true,
                ..
            } => {
                for node in self.subtree(&path, watch).await? {
                    reply.line(node);
                }
            }
            Command::Ls {
                path,
                stat,
                watch,
                recursive: false,
            } => {
                let (mut children, node_stat) = if watch {
                    let (children, node_stat, watcher) = client
                        .get_and_watch_children(&path)
                        .await
                        .map_err(at(&path))?;
                    self.watches.add(watcher);
                    (children, node_stat)
                } else {
                    client.get_children(&path).await.map_err(at(&path))?
                };
                children.sort();
                reply.line(format_list(&children));
                if stat {
                    reply.out.push_str(&format_stat(&node_stat));
                }
            }
            Command::Get { path, stat, watch } => {
                let (data, node_stat) = if watch {
                    let (data, node_stat, watcher) =
                        client.get_and_watch_data(&path).await.map_err(at(&path))?;
                    self.watches.add(watcher);
                    (data, node_stat)
                } else {
                    client.get_data(&path).await.map_err(at(&path))?
                };
                reply.line(String::from_utf8_lossy(&data));
                if stat {
                    reply.out.push_str(&format_stat(&node_stat));
                }
            }
            Command::Set {
                path,
                data,
                stat,
                version,
            } => {
                let node_stat = client
                    .set_data(&path, data.as_bytes(), version)
                    .await
                    .map_err(at(&path))?;
                if stat {
                    reply.out.push_str(&format_stat(&node_stat));
                }
            }
            Command::Create {
                path,
                data,
                acl,
                mode,
                ttl_ms,
            } => {
                let acls = match acl {
                    Some(spec) => Some(checked_acls(&spec, &path, reply)?),
                    None => None,
                };
                let acls = acls.as_deref().map_or(Acls::anyone_all(), Acls::from);
                let mut options = mode.with_acls(acls);
                if let Some(ttl) = ttl_ms {
                    options = options.with_ttl(Duration::from_millis(ttl));
                }
                let (_, sequence) = client
                    .create(&path, data.as_bytes(), &options)
                    .await
                    .map_err(at(&path))?;
                let sequential = matches!(
                    mode,
                    CreateMode::PersistentSequential | CreateMode::EphemeralSequential
                );
                if sequential {
                    reply.line(format!("Created {path}{sequence}"));
                } else {
                    reply.line(format!("Created {path}"));
                }
            }
            Command::Stat { path, watch } => {
                let node_stat = if watch {
                    // The watch stays set even when the node does not exist: it fires on creation.
                    let (node_stat, watcher) = client
                        .check_and_watch_stat(&path)
                        .await
                        .map_err(at(&path))?;
                    self.watches.add(watcher);
                    node_stat
                } else {
                    client.check_stat(&path).await.map_err(at(&path))?
                };
                let node_stat = node_stat.ok_or_else(|| at(&path)(ZkError::NoNode))?;
                reply.out.push_str(&format_stat(&node_stat));
            }
            Command::Delete { path, version } => {
                client.delete(&path, version).await.map_err(at(&path))?
            }
            Command::DeleteAll { path } => self.delete_all(&path).await?,
            Command::GetAcl { path, stat } => {
                let (acls, node_stat) = client.get_acl(&path).await.map_err(at(&path))?;
                reply.out.push_str(&format_acls(&acls));
                if stat {
                    reply.out.push_str(&format_stat(&node_stat));
                }
            }
            Command::SetAcl {
                path,
                acl,
                stat,
                version,
                recursive,
            } => {
                let acls = checked_acls(&acl, &path, reply)?;
                let node_stat = client
                    .set_acl(&path, &acls, version)
                    .await
                    .map_err(at(&path))?;
                if recursive {
                    // Unlike zkCli, which checks `-v` against every node of the subtree, the
                    // version only guards the named node: descendants have versions of their own.
                    for node in self.subtree(&path, false).await?.iter().skip(1) {
                        match self.client.set_acl(node, &acls, None).await {
                            Ok(_) | Err(ZkError::NoNode) => {}
                            Err(error) => return Err(at(node)(error)),
                        }
                    }
                }
                if stat {
                    reply.out.push_str(&format_stat(&node_stat));
                }
            }
            Command::AddAuth { scheme, auth } => {
                client
                    .auth(&scheme, auth.as_bytes())
                    .await
                    .map_err(CommandError::Auth)?;
            }
            Command::Sync { path } => {
                client.sync(&path).await.map_err(at(&path))?;
                reply.line("Sync is OK");
            }
            Command::GetEphemerals { path } => {
                let mut ephemerals = client.list_ephemerals(&path).await.map_err(at(&path))?;
                ephemerals.sort();
                reply.line(format_list(&ephemerals));
            }
            Command::GetAllChildrenNumber { path } => {
                let count = client
                    .count_descendants_number(&path)
                    .await
                    .map_err(at(&path))?;
                reply.line(count);
            }
            Command::WhoAmI => {
                let users = client.list_auth_users().await.map_err(CommandError::Auth)?;
                reply.line("Auth scheme: User");
                for user in users {
                    reply.line(format!("{}: {}", user.scheme(), user.user()));
                }
            }
            Command::Help => reply.out.push_str(&usage_text()),
            // The caller ends the session; nothing to do here.
            Command::Quit => {}
        }
        Ok(())
    }

    /// `path` and all its descendants, breadth first (parents before children, siblings sorted),
    /// like zkCli's `ls -R`. Nodes deleted while walking are skipped.
    async fn subtree(&mut self, path: &str, watch: bool) -> Result<Vec<String>, CommandError> {
        let mut nodes = Vec::new();
        let mut queue = VecDeque::from([path.to_string()]);
        while let Some(node) = queue.pop_front() {
            let listed = if watch {
                self.client
                    .list_and_watch_children(&node)
                    .await
                    .map(|(children, watcher)| {
                        self.watches.add(watcher);
                        children
                    })
            } else {
                self.client.list_children(&node).await
            };
            let mut children = match listed {
                Ok(children) => children,
                Err(ZkError::NoNode) if node != path => continue,
                Err(error) => return Err(at(&node)(error)),
            };
            children.sort();
            let prefix = if node == "/" { "" } else { node.as_str() };
            queue.extend(children.iter().map(|child| format!("{prefix}/{child}")));
            nodes.push(node);
        }
        Ok(nodes)
    }

    /// Deletes `path` and everything under it, deepest nodes first.
    async fn delete_all(&mut self, path: &str) -> Result<(), CommandError> {
        let nodes = self.subtree(path, false).await?;
        let mut complete = true;
        for node in nodes.iter().rev() {
            match self.client.delete(node, None).await {
                Ok(()) | Err(ZkError::NoNode) => {}
                Err(_) => complete = false,
            }
        }
        if complete {
            Ok(())
        } else {
            Err(CommandError::DeleteAllIncomplete)
        }
    }
}

/// Parses an ACL list, passing its warnings on; an empty result is an error.
fn checked_acls(spec: &str, path: &str, reply: &mut Reply) -> Result<Vec<Acl>, CommandError> {
    let parsed = parse_acl(spec);
    for warning in &parsed.warnings {
        reply.warn(warning);
    }
    if parsed.acls.is_empty() {
        return Err(CommandError::EmptyAcl {
            path: path.to_string(),
        });
    }
    Ok(parsed.acls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_errors_read_like_zkcli() {
        let cases = [
            (ZkError::NoNode, "Node does not exist: /x"),
            (ZkError::NodeExists, "Node already exists: /x"),
            (ZkError::NotEmpty, "Node not empty: /x"),
            (ZkError::NoAuth, "Insufficient permission : /x"),
            (ZkError::BadVersion, "version No is not valid : /x"),
            (
                ZkError::NoChildrenForEphemerals,
                "Ephemerals cannot have children: /x",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(at("/x")(error).to_string(), message);
        }
    }

    #[test]
    fn unknown_command_prints_usage_and_exits_127() {
        let reply = Reply::parse_error(&ParseError::UnknownCommand("exists".into()));
        assert_eq!(reply.exit_code, 127);
        assert!(reply.out.is_empty());
        assert!(reply
            .err
            .starts_with("arbor shell [-s host:port] cmd args\n\taddauth scheme auth\n"));
        assert!(reply.err.ends_with("\nCommand not found: exists\n"));
    }

    #[test]
    fn usage_error_prints_only_the_usage_line() {
        let reply = Reply::parse_error(&ParseError::Usage {
            usage: "get [-s] [-w] path",
        });
        assert_eq!(
            reply,
            Reply {
                out: String::new(),
                err: "get [-s] [-w] path\n".into(),
                exit_code: 1
            }
        );
    }

    #[test]
    fn acl_warnings_go_to_the_error_stream() {
        let mut reply = Reply::default();
        let acls = checked_acls("world:anyone:rq", "/x", &mut reply).expect("one valid entry");
        assert_eq!(acls.len(), 1);
        assert_eq!(reply.err, "Unknown perm type: q\n");
        let empty = checked_acls("nonsense", "/x", &mut reply).unwrap_err();
        assert_eq!(empty.to_string(), "Acl is not valid : /x");
    }
}
