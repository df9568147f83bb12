//! ZooKeeper's AdminServer commands (`GET /commands/<name>`): the same reports as the
//! four-letter words, as JSON. Names and aliases are ZooKeeper 3.8's; like ZooKeeper's admin
//! server (and unlike the client port), the 4lw whitelist does not apply here.

use serde_json::{json, Value};

use crate::four_letter;
use crate::report::gather;
use crate::report::json::{self as render, Fields};
use crate::server::Shared;

/// One admin command.
pub struct Command {
    /// The primary name, reported as `command` in the response.
    pub name: &'static str,
    /// Other names that run it (the four-letter word first, where there is one).
    pub aliases: &'static [&'static str],
    /// Whether running it changes server state (resets counters): such commands need the
    /// admin role when API authorization is on.
    pub changes_state: bool,
    /// Whether it answers only while the server serves (ZooKeeper's srvr/stat/mntr).
    needs_serving: bool,
    run: fn(&Shared) -> Fields,
}

const fn command(
    name: &'static str,
    aliases: &'static [&'static str],
    run: fn(&Shared) -> Fields,
) -> Command {
    Command {
        name,
        aliases,
        changes_state: false,
        needs_serving: false,
        run,
    }
}

/// A command that answers only while the server serves.
const fn serving_command(
    name: &'static str,
    aliases: &'static [&'static str],
    run: fn(&Shared) -> Fields,
) -> Command {
    Command {
        needs_serving: true,
        ..command(name, aliases, run)
    }
}

pub const COMMANDS: &[Command] = &[
    command("ruok", &[], |_| Fields::new()),
    serving_command("server_stats", &["srvr"], |s| {
        render::server_summary(&gather::server_summary(s, false))
    }),
    serving_command("stats", &["stat"], |s| {
        render::server_summary(&gather::server_summary(s, true))
    }),
    serving_command("monitor", &["mntr"], |s| {
        render::monitor(&gather::monitor(s))
    }),
    command("configuration", &["conf", "config"], |s| {
        render::conf(&gather::conf(s))
    }),
    command("connections", &["cons"], |s| {
        render::connections(&gather::connections(s))
    }),
    command("environment", &["envi", "env"], |_| {
        render::environment(&gather::environment())
    }),
    command("dirs", &[], |s| render::dirs(&gather::dirs(s))),
    command("watch_summary", &["wchs"], |s| {
        render::watch_summary(&gather::watch_summary(s))
    }),
    command("watches", &["wchc"], |s| {
        render::watches_by_session(&gather::watches_by_session(s))
    }),
    command("watches_by_path", &["wchp"], |s| {
        render::watches_by_path(&gather::watches_by_path(s))
    }),
    command("dump", &[], |s| render::dump(&gather::dump(s))),
    command("is_read_only", &["isro"], |_| render::is_read_only(false)),
    command("leader", &["lead"], |s| render::leader(&gather::leader(s))),
    command("voting_view", &[], |s| {
        render::voting_view(&gather::voting_view(s))
    }),
    Command {
        name: "stat_reset",
        aliases: &["srst"],
        changes_state: true,
        needs_serving: false,
        run: |s| {
            s.stats.reset();
            Fields::new()
        },
    },
    Command {
        name: "connection_stat_reset",
        aliases: &["crst"],
        changes_state: true,
        needs_serving: false,
        run: |s| {
            four_letter::reset_connection_stats(s);
            Fields::new()
        },
    },
];

/// The command called `name` (primary name or alias).
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
}

impl Command {
    /// Runs the command: its fields plus ZooKeeper's `command` and `error` (null on success),
    /// or `Err` with ZooKeeper's error when the command needs a serving server.
    pub fn run(&self, shared: &Shared) -> Result<Value, Value> {
        if self.needs_serving && !shared.quorum.serving() {
            let reason = four_letter::NOT_SERVING.trim_end();
            return Err(json!({ "command": self.name, "error": reason }));
        }
        let mut fields = (self.run)(shared);
        fields.insert("command".into(), json!(self.name));
        fields.insert("error".into(), Value::Null);
        Ok(Value::Object(fields))
    }
}

/// ZooKeeper's answer for a name it does not know.
pub fn unknown(name: &str) -> Value {
    json!({ "command": name, "error": format!("Unknown command: {name}") })
}

/// `GET /commands`: every command with its aliases and where to get it.
pub fn list() -> Value {
    let commands: Vec<Value> = COMMANDS
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "aliases": c.aliases,
                "path": format!("/commands/{}", c.name),
                "changes_state": c.changes_state,
            })
        })
        .collect();
    json!({ "commands": commands })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique_and_found() {
        let mut all: Vec<&str> = COMMANDS
            .iter()
            .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a name is used twice");
        assert_eq!(find("mntr").map(|c| c.name), Some("monitor"));
        assert_eq!(find("monitor").map(|c| c.name), Some("monitor"));
        assert_eq!(find("srst").map(|c| c.changes_state), Some(true));
        assert!(find("nope").is_none());
    }

    #[test]
    fn the_list_names_every_command() {
        let list = list();
        assert_eq!(
            list["commands"].as_array().map(Vec::len),
            Some(COMMANDS.len())
        );
        assert_eq!(unknown("x")["error"], "Unknown command: x");
    }
}
