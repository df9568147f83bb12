//! `arbor naming ...`: the service registry's command line (issue: naming service).

/// Arguments of `arbor naming`.
#[derive(clap::Args, Debug)]
pub struct NamingArgs {}

/// Runs `arbor naming`; returns the process exit code.
pub async fn run(_args: NamingArgs) -> anyhow::Result<u8> {
    anyhow::bail!("arbor naming is not built yet")
}
