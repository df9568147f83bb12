//! `arbor-bench`: the benchmark on its own, the same as `arbor bench`.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "arbor-bench",
    version,
    about = "Benchmark a ZooKeeper-compatible server"
)]
struct Cli {
    #[command(flatten)]
    bench: arbor_bench::BenchCli,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("arbor-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(arbor_bench::main(cli.bench)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arbor-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
