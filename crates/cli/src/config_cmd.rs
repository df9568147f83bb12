//! `arbor config ...`: the config center's command line. It talks the ZooKeeper protocol, so it
//! works against Arbor and against a plain Apache ZooKeeper ensemble.
//!
//! Exit codes: 0 ok, 1 refused (validation, conflict, not found), 2 usage, 3 unreachable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use arbor_config_center::history::EntryInfo;
use arbor_config_center::layout::{App, ConfigKey, ConfigName, Env, Version};
use arbor_config_center::transfer::{ImportAction, Scope};
use arbor_config_center::{
    ChangeOutcome, ConfigCenter, ConfigError, DeleteOptions, DiffSide, ErrorKind, PushOptions,
};
use arbor_coord::remote::ZkCoord;
use arbor_coord::{CoordError, DigestCredential};
use clap::{Args, Subcommand, ValueEnum};

/// Exit codes.
const OK: u8 = 0;
const REFUSED: u8 = 1;
const USAGE: u8 = 2;
const UNREACHABLE: u8 = 3;

/// Arguments of `arbor config`.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// ZooKeeper connect string of the ensemble (Arbor or Apache ZooKeeper).
    #[arg(long, global = true, default_value = "127.0.0.1:2181")]
    server: String,
    /// How long to wait for the ensemble before giving up (seconds).
    #[arg(long, global = true, default_value_t = 10)]
    timeout: u64,
    /// The config center's credential, USER:PASSWORD (a ZooKeeper `digest` identity): needed to
    /// change configs when the server protects them (configCenter.auth); nodes this command
    /// creates are then readable by anyone and writable only by that identity.
    #[arg(long, global = true, value_name = "USER:PASSWORD")]
    auth: Option<String>,
    #[command(subcommand)]
    command: ConfigCommand,
}

/// Which config: env, app and name.
#[derive(Args, Debug, Clone)]
struct Target {
    #[arg(long)]
    env: String,
    #[arg(long)]
    app: String,
    /// The config's name with its extension (application.yml, db.properties, ...).
    #[arg(long)]
    name: String,
}

/// Who made a change and why.
#[derive(Args, Debug, Clone)]
struct Authorship {
    /// Recorded in the history entry.
    #[arg(long, short)]
    message: Option<String>,
    /// Recorded in the history entry (default: $USER).
    #[arg(long)]
    author: Option<String>,
}

impl Authorship {
    fn author(&self) -> String {
        self.author
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .filter(|author| !author.is_empty())
            .unwrap_or_else(|| "cli".to_string())
    }

    fn message(&self) -> String {
        self.message.clone().unwrap_or_default()
    }
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate FILE and push it as the new version of a config.
    Push {
        file: PathBuf,
        #[arg(long)]
        env: String,
        #[arg(long)]
        app: String,
        /// Config name (default: FILE's file name).
        #[arg(long)]
        name: Option<String>,
        /// Refuse unless the current version is V (0: the config must not exist yet).
        #[arg(long, value_name = "V")]
        expect_version: Option<Version>,
        /// Keep this many history entries for the config from now on (default 100).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        retention: Option<u32>,
        #[command(flatten)]
        authorship: Authorship,
    },
    /// Print a config's content (current, or --version V), or with --info its version and entry.
    Get {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_name = "V")]
        version: Option<Version>,
        /// Print version, sha256, author, time and message instead of the content.
        #[arg(long)]
        info: bool,
    },
    /// List envs; with --env its apps; with --env and --app its configs and versions.
    Ls {
        #[arg(long)]
        env: Option<String>,
        #[arg(long, requires = "env")]
        app: Option<String>,
    },
    /// A config's retained history, newest first.
    History {
        #[command(flatten)]
        target: Target,
    },
    /// Unified diff: --from V [--to V] between versions, or --file F (live or --from V -> F).
    Diff {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_name = "V")]
        from: Option<Version>,
        #[arg(long, value_name = "V", conflicts_with = "file")]
        to: Option<Version>,
        /// A local file to compare with (what a push of it would change).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Make version V's content the current one again (a new version, marked as a rollback).
    Rollback {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_name = "V")]
        to: Version,
        #[arg(long, value_name = "V")]
        expect_version: Option<Version>,
        #[command(flatten)]
        authorship: Authorship,
    },
    /// Delete a config (recorded in its history; --purge removes the history too).
    Delete {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_name = "V")]
        expect_version: Option<Version>,
        #[arg(long)]
        purge: bool,
        #[command(flatten)]
        authorship: Authorship,
    },
    /// Print the current version, then each new version as it lands.
    Watch {
        #[command(flatten)]
        target: Target,
        /// Exit after this many new versions.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Print each new version's content after its line.
        #[arg(long)]
        content: bool,
    },
    /// Write the current configs of a scope to DIR (DIR/<env>/<app>/<name>, less the levels
    /// that --env and --app fix).
    Export {
        dir: PathBuf,
        #[arg(long)]
        env: Option<String>,
        #[arg(long, requires = "env")]
        app: Option<String>,
    },
    /// Push DIR's files (same shape as export) where they differ; --dry-run prints the plan.
    Import {
        dir: PathBuf,
        #[arg(long)]
        env: Option<String>,
        #[arg(long, requires = "env")]
        app: Option<String>,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        authorship: Authorship,
    },
    /// Turn the Spring Cloud Zookeeper Config projection of an app on or off.
    Spring {
        #[arg(long)]
        env: String,
        #[arg(long)]
        app: String,
        state: OnOff,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OnOff {
    On,
    Off,
}

/// A failure with the exit code it maps to.
struct Exit {
    code: u8,
    message: String,
}

impl From<ConfigError> for Exit {
    fn from(err: ConfigError) -> Exit {
        let code = match err.kind() {
            ErrorKind::Unavailable => UNREACHABLE,
            _ => REFUSED,
        };
        let mut message = err.to_string();
        if matches!(err, ConfigError::Coord(CoordError::NoAuth)) {
            message.push_str(
                " (the config center's nodes are protected: pass --auth USER:PASSWORD with the \
                 config center's credential)",
            );
        }
        Exit { code, message }
    }
}

impl From<arbor_config_center::layout::NameError> for Exit {
    fn from(err: arbor_config_center::layout::NameError) -> Exit {
        Exit {
            code: REFUSED,
            message: err.to_string(),
        }
    }
}

impl From<anyhow::Error> for Exit {
    fn from(err: anyhow::Error) -> Exit {
        Exit {
            code: REFUSED,
            message: format!("{err:#}"),
        }
    }
}

/// Runs `arbor config`; returns the process exit code (0 ok, 1 refused, 2 usage, 3 unreachable).
pub async fn run(args: ConfigArgs) -> anyhow::Result<u8> {
    match execute(args).await {
        Ok(()) => Ok(OK),
        Err(exit) => {
            eprintln!("arbor config: {}", exit.message);
            Ok(exit.code)
        }
    }
}

fn key(target: &Target) -> Result<ConfigKey, Exit> {
    Ok(ConfigKey::parse(&target.env, &target.app, &target.name)?)
}

fn scope(env: Option<&str>, app: Option<&str>) -> Result<Scope, Exit> {
    let env = env.map(Env::new).transpose()?;
    let app = app.map(App::new).transpose()?;
    Scope::new(env, app).map_err(|err| Exit {
        code: USAGE,
        message: err.to_string(),
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, Exit> {
    std::fs::read(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(Exit::from)
}

async fn execute(args: ConfigArgs) -> Result<(), Exit> {
    // Checked before connecting, so a usage error does not wait for a server.
    let credential = args
        .auth
        .as_deref()
        .map(DigestCredential::parse)
        .transpose()
        .map_err(|err| Exit {
            code: USAGE,
            message: format!("--auth: {err}"),
        })?;
    let coord = ZkCoord::connect(&args.server, Duration::from_secs(args.timeout.max(1)))
        .await
        .map_err(|err| Exit {
            code: UNREACHABLE,
            message: err.to_string(),
        })?;
    let mut center = ConfigCenter::new(coord);
    if let Some(credential) = &credential {
        center = center.authenticated_as(credential).await?;
    }
    match args.command {
        ConfigCommand::Push {
            file,
            env,
            app,
            name,
            expect_version,
            retention,
            authorship,
        } => {
            let name = match name {
                Some(name) => name,
                None => file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_string)
                    .ok_or_else(|| Exit {
                        code: USAGE,
                        message: format!("{} has no file name; pass --name", file.display()),
                    })?,
            };
            let key = ConfigKey {
                env: Env::new(&env)?,
                app: App::new(&app)?,
                name: ConfigName::new(&name)?,
            };
            let content = read_file(&file)?;
            let options = PushOptions {
                expect_version,
                author: authorship.author(),
                message: authorship.message(),
                retention,
            };
            let outcome = center.push(&key, &content, &options).await?;
            println!("{}", describe_change(&key, &outcome));
        }
        ConfigCommand::Get {
            target,
            version,
            info,
        } => {
            let key = key(&target)?;
            let document = center.get(&key, version).await?;
            if info {
                println!("{key}");
                println!("version: {}", document.version);
                println!("sha256: {}", document.sha256);
                println!("size: {}", document.content.len());
                if let Some(entry) = &document.entry {
                    println!("kind: {}", describe_kind(entry));
                    println!("author: {}", entry.author);
                    println!("time: {}", entry.time);
                    println!("message: {}", entry.message);
                }
                if document.modified_outside {
                    println!(
                        "note: the node was changed outside the config center since this version"
                    );
                }
            } else {
                use std::io::Write;
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(&document.content)
                    .and_then(|()| stdout.flush())
                    .context("cannot write to stdout")?;
            }
        }
        ConfigCommand::Ls { env, app } => match (env, app) {
            (None, _) => {
                for env in center.list_envs().await? {
                    println!("{env}");
                }
            }
            (Some(env), None) => {
                for app in center.list_apps(&Env::new(&env)?).await? {
                    println!("{app}");
                }
            }
            (Some(env), Some(app)) => {
                let configs = center
                    .list_configs(&Env::new(&env)?, &App::new(&app)?)
                    .await?;
                let width = configs.iter().map(|c| c.name.len()).max().unwrap_or(0);
                for config in configs {
                    println!(
                        "{:width$}  {:10}  v{}",
                        config.name, config.format, config.version
                    );
                }
            }
        },
        ConfigCommand::History { target } => {
            let key = key(&target)?;
            for entry in center.history(&key).await? {
                println!("{}", describe_entry(&entry));
            }
        }
        ConfigCommand::Diff {
            target,
            from,
            to,
            file,
        } => {
            let key = key(&target)?;
            let (from, to) = match (from, to, file) {
                (from, None, Some(file)) => (
                    from.map_or(DiffSide::Current, DiffSide::Version),
                    DiffSide::Content {
                        label: file.display().to_string(),
                        bytes: read_file(&file)?,
                    },
                ),
                (Some(from), to, None) => (
                    DiffSide::Version(from),
                    to.map_or(DiffSide::Current, DiffSide::Version),
                ),
                _ => {
                    return Err(Exit {
                        code: USAGE,
                        message: "diff needs --from V [--to V], or --file F [--from V]".into(),
                    })
                }
            };
            print!("{}", center.diff(&key, from, to).await?);
        }
        ConfigCommand::Rollback {
            target,
            to,
            expect_version,
            authorship,
        } => {
            let key = key(&target)?;
            let options = PushOptions {
                expect_version,
                author: authorship.author(),
                message: authorship.message(),
                retention: None,
            };
            let outcome = center.rollback(&key, to, &options).await?;
            println!("{}", describe_change(&key, &outcome));
        }
        ConfigCommand::Delete {
            target,
            expect_version,
            purge,
            authorship,
        } => {
            let key = key(&target)?;
            let options = DeleteOptions {
                expect_version,
                author: authorship.author(),
                message: authorship.message(),
                purge,
            };
            let outcome = center.delete(&key, &options).await?;
            if purge {
                println!("{key}: deleted with its history");
            } else {
                println!("{key}: deleted as version {}", outcome.version);
            }
        }
        ConfigCommand::Watch {
            target,
            count,
            content,
        } => {
            let key = key(&target)?;
            watch(&center, &key, count, content).await?;
        }
        ConfigCommand::Export { dir, env, app } => {
            let scope = scope(env.as_deref(), app.as_deref())?;
            let written = center.export(&scope, &dir).await?;
            for (key, file, version) in &written {
                println!("{key} v{version} -> {}", file.display());
            }
            println!("exported {} config(s) to {}", written.len(), dir.display());
        }
        ConfigCommand::Import {
            dir,
            env,
            app,
            dry_run,
            authorship,
        } => {
            let scope = scope(env.as_deref(), app.as_deref())?;
            let items = match center.plan_import(&scope, &dir).await? {
                Ok(items) => items,
                Err(refused) => {
                    return Err(Exit {
                        code: REFUSED,
                        message: refused.to_string(),
                    })
                }
            };
            for item in &items {
                let at = match item.action {
                    ImportAction::Create => String::new(),
                    _ => format!(" (at v{})", item.current_version),
                };
                println!("{:9}  {}{at}", item.action.name(), item.key);
            }
            if dry_run {
                println!("dry run: nothing written");
                return Ok(());
            }
            let mut message = authorship.message();
            if message.is_empty() {
                message = format!("import from {}", dir.display());
            }
            let mut failed = 0;
            for (key, outcome) in center
                .apply_import(&items, &authorship.author(), &message)
                .await
            {
                match outcome {
                    Ok(outcome) => println!("{}", describe_change(&key, &outcome)),
                    Err(err) => {
                        failed += 1;
                        eprintln!("arbor config: {err}");
                    }
                }
            }
            if failed > 0 {
                return Err(Exit {
                    code: REFUSED,
                    message: format!("{failed} file(s) were not imported"),
                });
            }
        }
        ConfigCommand::Spring { env, app, state } => {
            let (env, app) = (Env::new(&env)?, App::new(&app)?);
            let summary = center
                .set_spring_projection(&env, &app, state == OnOff::On)
                .await?;
            match (state, summary) {
                (OnOff::On, Some(summary)) => println!(
                    "{env}/{app}: Spring projection on at {} ({} created, {} updated, {} deleted)",
                    summary.context, summary.created, summary.updated, summary.deleted
                ),
                (OnOff::Off, Some(summary)) => println!(
                    "{env}/{app}: Spring projection off; removed {} node(s) below {}",
                    summary.deleted, summary.context
                ),
                (_, None) => println!("{env}/{app}: Spring projection off"),
            }
        }
    }
    Ok(())
}

async fn watch(
    center: &ConfigCenter<ZkCoord>,
    key: &ConfigKey,
    count: Option<u64>,
    content: bool,
) -> Result<(), Exit> {
    use std::io::Write;
    let current = center.current(key).await?;
    let mut known = current.version;
    match &current.document {
        Some(document) => println!("{key}: at version {}", document.version),
        None if known > 0 => println!("{key}: deleted (version {known})"),
        None => println!("{key}: does not exist yet"),
    }
    let mut seen = 0;
    while count.is_none_or(|count| seen < count) {
        let outcome = center.watch(key, known, Duration::from_secs(300)).await?;
        if !outcome.changed {
            continue;
        }
        // Every retained version since the last one printed, so none is skipped when several
        // land between two watch events.
        let mut entries = center.history(key).await.unwrap_or_default();
        entries.retain(|entry| entry.version > known && entry.version <= outcome.current.version);
        entries.reverse();
        for entry in entries {
            if count.is_some_and(|count| seen >= count) {
                break;
            }
            println!("{}", describe_entry(&entry));
            if content {
                if let Ok(document) = center.get(key, Some(entry.version)).await {
                    let mut stdout = std::io::stdout().lock();
                    let _ = stdout.write_all(&document.content);
                }
            }
            seen += 1;
        }
        let _ = std::io::stdout().flush();
        known = outcome.current.version;
    }
    Ok(())
}

fn describe_kind(entry: &EntryInfo) -> String {
    match entry.rollback_of {
        Some(of) => format!("rollback of v{of}"),
        None => entry.kind.name().to_string(),
    }
}

fn describe_entry(entry: &EntryInfo) -> String {
    let message = if entry.message.is_empty() {
        String::new()
    } else {
        format!("  {}", entry.message)
    };
    format!(
        "v{:<5} {:16} {:12} {}  sha256:{}{message}",
        entry.version,
        describe_kind(entry),
        entry.author,
        entry.time,
        &entry.sha256[..entry.sha256.len().min(12)],
    )
}

fn describe_change(key: &ConfigKey, outcome: &ChangeOutcome) -> String {
    let mut line = if outcome.changed {
        format!("{key}: version {}", outcome.version)
    } else {
        format!("{key}: unchanged at version {}", outcome.version)
    };
    if !outcome.pruned.is_empty() {
        line.push_str(&format!(
            " (pruned {} old history entr{})",
            outcome.pruned.len(),
            if outcome.pruned.len() == 1 {
                "y"
            } else {
                "ies"
            }
        ));
    }
    if let Some(projection) = &outcome.projection {
        line.push_str(&format!(
            "; Spring projection {}: {} created, {} updated, {} deleted",
            projection.context, projection.created, projection.updated, projection.deleted
        ));
    }
    line
}
