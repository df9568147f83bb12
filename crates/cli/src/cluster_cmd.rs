//! `arbor cluster ...`: ensemble status and membership changes (issue: quorum).

/// Arguments of `arbor cluster`.
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {}

/// Runs `arbor cluster`; returns the process exit code.
pub async fn run(_args: ClusterArgs) -> anyhow::Result<u8> {
    anyhow::bail!("arbor cluster is not built yet")
}
