//! Java test programs: the ZooKeeper client + Curator classpath from Debian's packages (through
//! `shared/tools/java-classpath`) and compiling sources with `javac`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::HarnessError;
use crate::workspace::workspace_root;

/// The jar every Curator program needs; its absence means `java-classpath install` was not run.
const CURATOR_DISCOVERY_JAR: &str = "/usr/share/java/curator-x-discovery.jar";

/// The classpath tool: `$JAVA_CLASSPATH_TOOL`, else `<workspace>/../shared/tools/java-classpath`.
pub fn java_classpath_tool() -> PathBuf {
    match std::env::var_os("JAVA_CLASSPATH_TOOL").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => workspace_root().join("../shared/tools/java-classpath"),
    }
}

/// The classpath of the ZooKeeper Java client, Curator (framework, recipes, discovery) and their
/// dependencies. Fails when the tool or the Debian packages are missing.
pub fn java_classpath() -> Result<String, HarnessError> {
    let tool = java_classpath_tool();
    if !tool.is_file() {
        return Err(HarnessError::MissingBinary {
            path: tool,
            env_var: "JAVA_CLASSPATH_TOOL",
        });
    }
    if !Path::new(CURATOR_DISCOVERY_JAR).is_file() {
        return Err(HarnessError::MissingBinary {
            path: PathBuf::from(CURATOR_DISCOVERY_JAR),
            env_var: "JAVA_CLASSPATH_TOOL (run `java-classpath install`)",
        });
    }
    let output = Command::new(&tool)
        .output()
        .map_err(HarnessError::io(format!("run {}", tool.display())))?;
    if !output.status.success() {
        return Err(HarnessError::CommandFailed {
            what: tool.display().to_string(),
            status: output.status.to_string(),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Compiles `sources` with `javac` against [`java_classpath`] into `classes`; returns the
/// classpath to run them with (`<deps>:<classes>`).
pub fn compile_java(sources: &[PathBuf], classes: &Path) -> Result<String, HarnessError> {
    let deps = java_classpath()?;
    // -path: the Debian zookeeper.jar's manifest names a jline.jar that need not be installed.
    let output = Command::new("javac")
        .arg("-Xlint:all,-path")
        .arg("-d")
        .arg(classes)
        .arg("-cp")
        .arg(&deps)
        .args(sources)
        .output()
        .map_err(HarnessError::io("run javac (is a JDK installed?)"))?;
    if !output.status.success() {
        return Err(HarnessError::CommandFailed {
            what: "javac".to_string(),
            status: output.status.to_string(),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(format!("{deps}:{}", classes.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tool_sits_next_to_the_workspace() {
        if std::env::var_os("JAVA_CLASSPATH_TOOL").is_none() {
            assert!(java_classpath_tool().ends_with("shared/tools/java-classpath"));
        }
    }
}
