//! `arbor config ...`: the config center's command line (issue: config center).

/// Arguments of `arbor config`.
#[derive(clap::Args, Debug)]
pub struct ConfigArgs {}

/// Runs `arbor config`; returns the process exit code (0 ok, 1 refused, 2 usage, 3 unreachable).
pub async fn run(_args: ConfigArgs) -> anyhow::Result<u8> {
    anyhow::bail!("arbor config is not built yet")
}
