//! `arbor shell`: a zkCli.sh-like shell for any ZooKeeper-compatible server.
//!
//! With a command on the command line it runs that one command (one-shot mode) and exits with
//! its status; otherwise it reads commands from standard input, one per line (interactive mode),
//! and prints watch events as they arrive.
//!
//! The parts: [`words`] splits a line, [`command`] parses it, [`exec`] runs it against the
//! session, [`format`] and [`acl`] hold zkCli's text formats. This file only does the I/O.

mod acl;
mod command;
mod exec;
mod format;
mod watches;
mod words;

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;
use zookeeper_client::{Client, SessionState, StateWatcher, WatchedEvent};

use self::command::{parse_command, Command};
use self::exec::{Executor, Reply};
use self::format::{format_event, prompt};
use self::words::split_words;

/// Arguments of `arbor shell`.
#[derive(clap::Args, Debug, Clone)]
pub struct ShellArgs {
    /// Comma-separated host:port list (default 127.0.0.1:2181)
    #[arg(long, short = 's', default_value = "127.0.0.1:2181")]
    pub server: String,
    /// Session timeout in milliseconds
    #[arg(long, default_value_t = 30000)]
    pub timeout_ms: u64,
    /// A command to run once (one-shot mode); without it: interactive
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}

/// Runs the shell on the process's standard streams and returns its exit code.
///
/// The prompt is shown only when standard input is a terminal, so piped scripts get clean output.
pub async fn run(args: ShellArgs) -> anyhow::Result<i32> {
    let stdin = std::io::stdin();
    let show_prompt = stdin.is_terminal();
    let input = std::io::BufReader::new(stdin);
    run_session(
        args,
        input,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
        show_prompt,
    )
    .await
}

/// Runs the shell with the given streams (always showing the prompt in interactive mode) and
/// returns its exit code: in one-shot mode the command's (0 success, 1 failure, 127 unknown
/// command), in interactive mode 0.
///
/// Command output goes to `out`; error messages, as with zkCli, to `err`.
pub async fn run_with<R>(
    args: ShellArgs,
    input: R,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<i32>
where
    R: BufRead + Send + 'static,
{
    run_session(args, input, out, err, true).await
}

async fn run_session<R>(
    args: ShellArgs,
    input: R,
    out: &mut impl Write,
    err: &mut impl Write,
    show_prompt: bool,
) -> anyhow::Result<i32>
where
    R: BufRead + Send + 'static,
{
    let interactive = args.command.is_empty();
    if interactive {
        writeln!(out, "Connecting to {}", args.server)?;
    }
    let client = Client::connector()
        .with_session_timeout(Duration::from_millis(args.timeout_ms))
        .connect(&args.server)
        .await
        .with_context(|| format!("cannot connect to {}", args.server))?;
    let mut state = client.state_watcher();
    let mut executor = Executor::new(client);
    let exit_code = if interactive {
        write_events(
            out,
            &[WatchedEvent::new_session(SessionState::SyncConnected)],
        )?;
        let mut session = Interactive {
            server: &args.server,
            executor: &mut executor,
            state: &mut state,
            show_prompt,
        };
        session.run(input, out, err).await?;
        0
    } else {
        let reply = match parse_command(&args.command) {
            Ok(Command::Quit) => Reply::default(),
            Ok(command) => executor.execute(command).await,
            Err(error) => Reply::parse_error(&error),
        };
        write_reply(out, err, &reply)?;
        reply.exit_code
    };
    close(executor, state).await;
    Ok(exit_code)
}

/// The interactive loop's state.
struct Interactive<'a> {
    server: &'a str,
    executor: &'a mut Executor,
    state: &'a mut StateWatcher,
    show_prompt: bool,
}

impl Interactive<'_> {
    async fn run<R>(
        &mut self,
        input: R,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> anyhow::Result<()>
    where
        R: BufRead + Send + 'static,
    {
        let mut lines = spawn_line_reader(input);
        let mut command_count: u64 = 0;
        loop {
            if self.show_prompt {
                write!(
                    out,
                    "{}",
                    prompt(self.server, self.state.peek_state(), command_count)
                )?;
                out.flush()?;
            }
            // Print events while waiting for the next line; events come first so that those
            // already delivered are shown before the next command runs.
            let line = loop {
                tokio::select! {
                    biased;
                    events = self.executor.watches().next_batch() => write_events(out, &events)?,
                    state = self.state.changed() => write_events(out, &[WatchedEvent::new_session(state)])?,
                    line = lines.recv() => break line,
                }
            };
            let Some(line) = line else { return Ok(()) };
            let words = match split_words(&line.context("cannot read standard input")?) {
                Ok(words) if words.is_empty() => continue,
                Ok(words) => words,
                Err(error) => {
                    writeln!(err, "{error}")?;
                    continue;
                }
            };
            command_count += 1;
            let reply = match parse_command(&words) {
                Ok(Command::Quit) => return Ok(()),
                Ok(command) => self.executor.execute(command).await,
                Err(error) => Reply::parse_error(&error),
            };
            write_reply(out, err, &reply)?;
            write_events(out, &self.executor.watches().ready())?;
        }
    }
}

/// Reads `input` line by line on its own thread, so the shell can print watch events while the
/// user has not typed anything. The thread ends at end of input (or when the shell is gone).
fn spawn_line_reader<R>(input: R) -> mpsc::UnboundedReceiver<std::io::Result<String>>
where
    R: BufRead + Send + 'static,
{
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in input.lines() {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn write_reply(out: &mut impl Write, err: &mut impl Write, reply: &Reply) -> std::io::Result<()> {
    out.write_all(reply.out.as_bytes())?;
    out.flush()?;
    err.write_all(reply.err.as_bytes())?;
    err.flush()
}

fn write_events(out: &mut impl Write, events: &[WatchedEvent]) -> std::io::Result<()> {
    for event in events {
        out.write_all(format_event(event).as_bytes())?;
    }
    out.flush()
}

/// Closes the session, so its ephemeral nodes go now rather than at session expiry.
///
/// Dropping the last client handle makes the library send the close request from its own task;
/// waiting for the terminal state keeps the runtime alive until that has happened.
async fn close(executor: Executor, mut state: StateWatcher) {
    drop(executor);
    let closed = async { while !state.changed().await.is_terminated() {} };
    // A server that does not answer must not keep the shell from exiting.
    let _ = tokio::time::timeout(Duration::from_secs(5), closed).await;
}
