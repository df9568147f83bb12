//! Java test programs: the ZooKeeper client + Curator classpath from Debian's packages (through
//! `shared/tools/java-classpath`), compiling sources with `javac`, and running a program with
//! system properties and a time limit ([`JavaProgram`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::HarnessError;
use crate::process::kill_and_reap;
use crate::workspace::shared_tool;

/// The jar every Curator program needs; its absence means `java-classpath install` was not run.
const CURATOR_DISCOVERY_JAR: &str = "/usr/share/java/curator-x-discovery.jar";

/// The classpath tool: `$JAVA_CLASSPATH_TOOL`, else `shared/tools/java-classpath` (beside the
/// checkout, or beside a worktree's parent; see [`shared_tool`]).
pub fn java_classpath_tool() -> PathBuf {
    match std::env::var_os("JAVA_CLASSPATH_TOOL").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => shared_tool("java-classpath"),
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

/// Whether javac, java and the ZooKeeper client jar are installed.
pub fn java_available() -> bool {
    Path::new("/usr/share/java/zookeeper.jar").is_file()
        && ["javac", "java"].iter().all(|tool| {
            Command::new(tool)
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// A compiled Java program.
pub struct JavaProgram {
    classpath: String,
    main: String,
}

/// What a program run printed, and how it ended.
#[derive(Debug)]
pub struct JavaRun {
    /// `None` when it was killed at the time limit.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl JavaProgram {
    /// Compiles `source` (a public class called `main`) in `dir`.
    pub fn compile(dir: &Path, main: &str, source: &str) -> Result<JavaProgram, HarnessError> {
        let src = dir.join(format!("{main}.java"));
        std::fs::write(&src, source).map_err(HarnessError::io("write the Java source"))?;
        let classes = dir.join("classes");
        std::fs::create_dir_all(&classes).map_err(HarnessError::io("create classes dir"))?;
        let classpath = compile_java(&[src], &classes)?;
        Ok(JavaProgram {
            classpath,
            main: main.to_owned(),
        })
    }

    /// Runs the program with `-D` properties and arguments, killing it after `limit`.
    pub fn run(
        &self,
        properties: &[(&str, String)],
        args: &[String],
        limit: Duration,
    ) -> Result<JavaRun, HarnessError> {
        let out_dir = tempfile::tempdir().map_err(HarnessError::io("tempdir"))?;
        let (out, err) = (out_dir.path().join("out"), out_dir.path().join("err"));
        let mut command = Command::new("java");
        command.arg("-cp").arg(&self.classpath);
        for (key, value) in properties {
            command.arg(format!("-D{key}={value}"));
        }
        let mut child = command
            .arg(&self.main)
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).map_err(HarnessError::io("stdout file"))?)
            .stderr(std::fs::File::create(&err).map_err(HarnessError::io("stderr file"))?)
            .spawn()
            .map_err(HarnessError::io("run java"))?;
        let deadline = Instant::now() + limit;
        let code = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if Instant::now() >= deadline => {
                    kill_and_reap(&mut child);
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(HarnessError::io("wait for java")(e)),
            }
        };
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        Ok(JavaRun {
            code,
            stdout: read(&out),
            stderr: read(&err),
        })
    }
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
