//! `arbor-agent --config /etc/arbor/agent.yaml`: see the crate docs and README.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "arbor-agent",
    version,
    about = "Registers this host's services in Arbor and keeps config files in step with its config center"
)]
struct Args {
    /// The agent configuration; `*.yaml` files in `conf.d/` beside it are added.
    #[arg(long, short, default_value = "/etc/arbor/agent.yaml")]
    config: PathBuf,
    /// Validate the configuration (agent.yaml and conf.d) and exit.
    #[arg(long)]
    check: bool,
    /// Log lines as human-readable text or as one JSON object per line.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARBOR_AGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    if args.check {
        return match arbor_agent::config::load(&args.config) {
            Ok(config) => {
                println!(
                    "{}: ok ({} services, {} files)",
                    args.config.display(),
                    config.services.len(),
                    config.files.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("arbor-agent: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(arbor_agent::agent::run(&args.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("arbor-agent: {err:#}");
            ExitCode::FAILURE
        }
    }
}
