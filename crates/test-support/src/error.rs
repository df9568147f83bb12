//! Why a helper could not start or talk to a server.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{} not found (build it first, or set {env_var})", path.display())]
    MissingBinary {
        path: PathBuf,
        env_var: &'static str,
    },

    #[error("{what} did not answer `ruok` with `imok` within {seconds} s; log tail:\n{log_tail}")]
    NotReady {
        what: String,
        seconds: u64,
        log_tail: String,
    },

    #[error("{what} exited during startup ({status}); log tail:\n{log_tail}")]
    ExitedEarly {
        what: String,
        status: String,
        log_tail: String,
    },

    #[error("{what}: {detail}")]
    BadResponse { what: String, detail: String },

    #[error("{what} failed ({status}):\n{output}")]
    CommandFailed {
        what: String,
        status: String,
        output: String,
    },
}

impl HarnessError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
        let what = what.into();
        move |source| HarnessError::Io { what, source }
    }
}
