//! Renders the Helm chart in `charts/arbor` with a real `helm` binary and gives the tests the
//! rendered objects as YAML values; also reads the monitoring examples (`examples/monitoring`)
//! whose metric names the tests check against docs/metrics.md.
//!
//! A Rust crate rather than a script: the suite's main runner (cargo nextest) runs it, YAML is
//! parsed with the workspace's serde_yaml, and a missing Helm is reported like every other
//! missing tool (installed by `scripts/test.sh` via `shared/tools/install-helm`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize as _;
use serde_yaml::Value;

/// Why the chart could not be linted or rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("no helm binary (set HELM_BIN, or run shared/tools/install-helm)")]
    NoHelm,
    #[error("running {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} failed:\n{output}")]
    Failed { command: String, output: String },
    #[error("rendered YAML does not parse: {0}")]
    Yaml(#[from] serde_yaml::Error),
}

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    arbor_test_support::workspace_root().join("charts/arbor")
}

/// The helm binary: `$HELM_BIN`, `helm` on the PATH, or `/usr/local/bin/helm`.
pub fn helm_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HELM_BIN").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("helm"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let fallback = Path::new("/usr/local/bin/helm");
        fallback.is_file().then(|| fallback.to_path_buf())
    })
}

fn helm(args: &[&str]) -> Result<String, ChartError> {
    let binary = helm_binary().ok_or(ChartError::NoHelm)?;
    let command = format!("helm {}", args.join(" "));
    let output = Command::new(&binary)
        .args(args)
        .output()
        .map_err(|source| ChartError::Spawn {
            command: command.clone(),
            source,
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        return Err(ChartError::Failed {
            command,
            output: text,
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `helm lint --strict` with `--set` values; returns its output.
pub fn lint(sets: &[&str]) -> Result<String, ChartError> {
    let chart = chart_dir();
    let mut args = vec!["lint", "--strict", chart.to_str().unwrap_or_default()];
    for set in sets {
        args.extend(["--set", set]);
    }
    helm(&args)
}

/// The objects `helm template` renders for release `release` in `namespace` with `--set`
/// values (`key=value`, as on the command line).
pub fn render(release: &str, namespace: &str, sets: &[&str]) -> Result<Rendered, ChartError> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        release,
        chart.to_str().unwrap_or_default(),
        "--namespace",
        namespace,
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    let text = helm(&args)?;
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = Value::deserialize(document)?;
        if !value.is_null() {
            objects.push(value);
        }
    }
    Ok(Rendered { objects })
}

/// The rendered objects of one `helm template`.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub objects: Vec<Value>,
}

impl Rendered {
    /// Every object of `kind`.
    pub fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|o| o["kind"].as_str() == Some(kind))
            .collect()
    }

    /// The object of `kind` called `name`; panics listing what was rendered otherwise.
    pub fn get(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| {
                o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name)
            })
            .unwrap_or_else(|| panic!("no {kind} {name:?} among {:?}", self.summary()))
    }

    /// `kind/name` of every object.
    pub fn summary(&self) -> Vec<String> {
        self.objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or("?"),
                    o["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }
}

/// `examples/monitoring/<name>`.
pub fn monitoring_example(name: &str) -> PathBuf {
    arbor_test_support::workspace_root()
        .join("examples/monitoring")
        .join(name)
}

/// The PromQL expressions of a Grafana dashboard's panels.
pub fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .filter_map(|target| target["expr"].as_str().map(str::to_owned))
        .collect()
}

/// The `arbor_*` metric names an expression uses, with histogram suffixes (`_bucket`, `_sum`,
/// `_count`) removed when `documented` knows the base name.
pub fn metric_names(expr: &str, documented: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(found) = expr[i..].find("arbor_") {
        let start = i + found;
        let starts_word =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(expr.len(), |n| start + n);
        if starts_word {
            let name = &expr[start..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| documented.contains(&format!("`{base}`")))
                .unwrap_or(name);
            names.push(base.to_owned());
        }
        i = end;
    }
    names
}
