//! Test helpers shared by every crate's integration tests: free loopback ports, raw four-letter
//! words, a minimal HTTP/1.1 client ([`http_get`]), a real Prometheus ([`Prometheus`]), a
//! spawned `arbor server` process ([`ArborServer`]) or ensemble ([`ArborEnsemble`]), a real
//! Apache ZooKeeper 3.8 started through `shared/tools/zk-reference` ([`ZkReference`]), and Java
//! test programs compiled against Debian's ZooKeeper client and Curator ([`compile_java`]).
//! [`pki`] makes test certificate authorities and certificates.
//!
//! Helpers whose name starts with `try_` return [`HarnessError`]; the others panic with a
//! readable message (and the server log's tail), which is what a test wants.

mod arbor;
mod ensemble;
mod error;
mod four_letter;
mod http;
mod java;
pub mod linearizability;
pub mod netns;
pub mod pki;
mod ports;
mod process;
mod prometheus;
mod workspace;
mod zk_reference;
mod zk_tree;

pub use arbor::{render_zoo_cfg, render_zoo_cfg_on, ArborOptions, ArborServer, Placement};
pub use ensemble::{ArborEnsemble, EnsembleOptions, MemberPlacement};
pub use error::HarnessError;
pub use four_letter::{send_four_letter, wait_for_imok};
pub use http::{api_call, http_get, http_request, until_success, HttpRequestSpec, HttpResponse};
pub use java::{
    compile_java, java_available, java_classpath, java_classpath_tool, JavaProgram, JavaRun,
};
pub use ports::free_port;
pub use prometheus::{exposition_value, render_scrape_config, Prometheus, Sample};
pub use workspace::{arbor_bin, shared_tool, workspace_root};
pub use zk_reference::ZkReference;
pub use zk_tree::{NodeView, TreeView};
