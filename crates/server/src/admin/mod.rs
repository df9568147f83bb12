//! The admin HTTP listener (`admin.serverAddress:admin.serverPort`, ZooKeeper's AdminServer):
//! `/commands` (ZooKeeper's admin commands as JSON), `/healthz`, `/readyz`, `/metrics`
//! (Prometheus text), and `/api/v1/...` routed to the mounted module APIs. A second listener on
//! `metricsProvider.httpPort`, when set, serves `/metrics` only.
//!
//! The listeners start before the quorum replays its log, so `/healthz` answers (and `/readyz`
//! says "starting") while a large log is being replayed; the server [`Admin::attach`]es itself
//! once it serves.
//!
//! Access: with `admin.tokensFile`, `/commands` and `/api/...` need a bearer token whose role
//! covers the request ([`access`]); every write attempt is appended to the audit log
//! ([`audit`]). `/healthz`, `/readyz` and `/metrics` stay open.
//!
//! Layout: [`http`] is the hyper glue (sockets, body limit); everything else is
//! framework-free: [`routes`] picks the handler, [`commands`] is the command table, [`health`]
//! decides readiness, [`percent`] decodes paths and queries, [`tokens_file`] keeps the tokens
//! current.

pub mod access;
pub mod audit;
pub mod commands;
pub mod health;
pub mod http;
pub mod percent;
pub mod routes;
pub mod tokens_file;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use arbor_coord::api::{self, ApiHandler, ApiRequest, ApiResponse};
use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::ServerConfig;
use crate::report::gather;
use crate::server::{Shared, StartError};
use routes::Route;

/// Largest request body accepted (module API pushes); larger ones get 413.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The Prometheus text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The admin port: everything.
    Admin,
    /// `metricsProvider.httpPort`: `/metrics` only.
    MetricsOnly,
}

/// One HTTP request as the listener read it, before routing (path and query still encoded).
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    pub body: Vec<u8>,
    /// The client's address.
    pub remote: Option<SocketAddr>,
}

/// The state behind the admin listeners.
pub struct Admin {
    shared: OnceLock<Arc<Shared>>,
    api: RwLock<Vec<Arc<dyn ApiHandler>>>,
    /// Set by `expect_apis` until the first `mount`: module APIs are on their way (their
    /// session to this server is connecting), so `/api/` answers 503, not 404, meanwhile.
    api_expected: AtomicBool,
    /// `None`: the listener is open (no `admin.tokensFile`).
    tokens: Option<tokens_file::TokensFile>,
    audit: audit::AuditLog,
}

/// The running listeners.
pub struct AdminListeners {
    pub admin_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    pub tasks: Vec<JoinHandle<()>>,
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Listen { addr, source })?;
    Ok((listener, local))
}

impl Admin {
    /// Binds the admin port (unless `admin.enableServer=false`) and the metrics port (when
    /// `metricsProvider.httpPort` is set) and starts serving them.
    /// With `tls`, the admin port serves HTTPS only (`admin.forceHttps`); the metrics-only
    /// port stays plain HTTP.
    pub async fn start(
        config: &ServerConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<(Arc<Admin>, AdminListeners), StartError> {
        let tokens = match &config.admin.tokens_file {
            Some(path) => {
                Some(tokens_file::TokensFile::load(path).map_err(StartError::AdminAccess)?)
            }
            None => None,
        };
        let audit_path = config.audit_log_path();
        let audit = audit::AuditLog::open(&audit_path).map_err(|e| {
            StartError::AdminAccess(format!(
                "cannot open the audit log {}: {e}",
                audit_path.display()
            ))
        })?;
        match &tokens {
            Some(t) => tracing::info!(
                "HTTP API access: tokens from {} ({} tokens)",
                t.path().display(),
                t.current().len()
            ),
            None if config.admin.enabled => tracing::warn!(
                "HTTP API access: open (no admin.tokensFile); anyone who reaches the admin port \
                 can write"
            ),
            None => {}
        }
        let admin = Arc::new(Admin {
            shared: OnceLock::new(),
            api: RwLock::new(Vec::new()),
            api_expected: AtomicBool::new(false),
            tokens,
            audit,
        });
        let mut listeners = AdminListeners {
            admin_addr: None,
            metrics_addr: None,
            tasks: Vec::new(),
        };
        let mut wanted = Vec::new();
        if config.admin.enabled {
            wanted.push((config.admin_socket_addr(), Surface::Admin));
        }
        if let Some(addr) = config.metrics_socket_addr() {
            wanted.push((addr, Surface::MetricsOnly));
        }
        for (addr, surface) in wanted {
            let (listener, local) = match bind(addr).await {
                Ok(bound) => bound,
                Err(e) => {
                    listeners.tasks.iter().for_each(JoinHandle::abort);
                    return Err(e);
                }
            };
            match surface {
                Surface::Admin => listeners.admin_addr = Some(local),
                Surface::MetricsOnly => listeners.metrics_addr = Some(local),
            }
            let tls = match surface {
                Surface::Admin => tls.clone(),
                Surface::MetricsOnly => None,
            };
            let scheme = if tls.is_some() { "HTTPS" } else { "HTTP" };
            tracing::info!("serving {surface:?} {scheme} on {local}");
            listeners.tasks.push(tokio::spawn(http::serve(
                listener,
                admin.clone(),
                surface,
                tls,
            )));
        }
        Ok((admin, listeners))
    }

    /// From now on, requests are answered from `shared` (before: 503 "starting").
    pub fn attach(&self, shared: Arc<Shared>) {
        let _ = self.shared.set(shared);
    }

    /// Declares that module APIs will be mounted: until the first `mount`, requests under
    /// `/api/` get a 503 "starting" (retry) rather than a 404 (no such API).
    pub fn expect_apis(&self) {
        self.api_expected.store(true, Ordering::Release);
    }

    /// Adds module APIs; a handler replaces one already mounted at the same prefix.
    pub fn mount(&self, handlers: Vec<Arc<dyn ApiHandler>>) {
        let mut api = self.api.write();
        self.api_expected.store(false, Ordering::Release);
        for handler in handlers {
            api.retain(|h| h.prefix() != handler.prefix());
            tracing::info!("mounted HTTP API {}", handler.prefix());
            api.push(handler);
        }
    }

    fn shared(&self) -> Result<&Arc<Shared>, ApiResponse> {
        self.shared
            .get()
            .ok_or_else(|| ApiResponse::error(503, "the server is starting"))
    }

    /// Answers one request.
    pub async fn handle(&self, request: HttpRequest, surface: Surface) -> ApiResponse {
        let path = match percent::decode_path(&request.path) {
            Ok(path) => path,
            Err(e) => return ApiResponse::error(400, &format!("request path: {e}")),
        };
        let route = routes::route(&path);
        if surface == Surface::MetricsOnly && route != Route::Metrics {
            return ApiResponse::error(404, &format!("no such resource: {path} (try /metrics)"));
        }
        let read_only = matches!(request.method.as_str(), "GET" | "HEAD");
        // What the request needs, and whether it is a write to audit: module API requests by
        // their method, commands by whether they change state (any method runs a command).
        let (needed, is_write) = match route {
            Route::Api => (access::needed_role(&request.method), !read_only),
            Route::CommandList => (Some(access::Role::Read), false),
            Route::Command(name) => {
                let changes_state = commands::find(name).is_some_and(|c| c.changes_state);
                let role = if changes_state {
                    access::Role::Admin
                } else {
                    access::Role::Read
                };
                (Some(role), changes_state)
            }
            Route::Healthz | Route::Readyz | Route::Metrics | Route::NotFound => (None, false),
        };
        let tokens = self.tokens.as_ref().map(|t| t.current());
        let principal =
            match access::authorize(tokens.as_deref(), request.authorization.as_deref(), needed) {
                Ok(principal) => principal,
                Err(refusal) => {
                    let response = ApiResponse::error(refusal.status(), &refusal.message());
                    if is_write {
                        let who = match &refusal {
                            access::Refusal::Forbidden { principal, .. } => {
                                Some(principal.name.as_str())
                            }
                            access::Refusal::Unauthenticated(_) => None,
                        };
                        self.audit(&request, &path, who, response.status);
                    }
                    return response;
                }
            };
        let principal_name = principal.map(|p| p.name);
        if !is_write {
            return self
                .answer(request, route, &path, principal_name, read_only)
                .await;
        }
        // Writes are rare and bounded (2 MiB): the copy keeps what is audited after the answer.
        let audited = request.clone();
        let response = self
            .answer(request, route, &path, principal_name.clone(), read_only)
            .await;
        self.audit(&audited, &path, principal_name.as_deref(), response.status);
        response
    }

    fn audit(&self, request: &HttpRequest, path: &str, principal: Option<&str>, status: u16) {
        self.audit.record(&audit::AuditEntry {
            time_ms: crate::server::now_ms(),
            principal,
            remote: request.remote.map(|r| r.to_string()),
            method: &request.method,
            path,
            query: &request.query,
            body: &request.body,
            status,
        });
    }

    async fn answer(
        &self,
        request: HttpRequest,
        route: Route<'_>,
        path: &str,
        principal: Option<String>,
        read_only: bool,
    ) -> ApiResponse {
        match route {
            Route::Healthz if read_only => json(200, &serde_json::json!({ "status": "ok" })),
            Route::Readyz if read_only => self.readyz(),
            Route::Metrics if read_only => self.metrics().await,
            Route::CommandList if read_only => json(200, &commands::list()),
            Route::Command(name) if read_only || request.method == "POST" => self.command(name),
            Route::Api => self.api(request, path.to_owned(), principal).await,
            Route::NotFound => ApiResponse::error(404, &format!("no such resource: {path}")),
            _ => ApiResponse::error(
                405,
                &format!("method {} is not allowed on {path}", request.method),
            ),
        }
    }

    fn readyz(&self) -> ApiResponse {
        let Ok(shared) = self.shared() else {
            let starting = health::Readiness::NotReady("the server is starting".into());
            return json(503, &starting.body(None));
        };
        let status = shared.quorum.metrics();
        let readiness = health::readiness(&status);
        json(readiness.status_code(), &readiness.body(Some(&status)))
    }

    async fn metrics(&self) -> ApiResponse {
        let shared = match self.shared() {
            Ok(shared) => shared,
            Err(response) => return response,
        };
        shared.metrics.run_scrape_hooks().await;
        let monitor = gather::monitor(shared);
        match shared.metrics.render(&monitor, &shared.quorum.metrics()) {
            Ok(text) => ApiResponse {
                status: 200,
                content_type: METRICS_CONTENT_TYPE,
                body: text.into_bytes(),
            },
            Err(e) => ApiResponse::error(500, &format!("cannot encode metrics: {e}")),
        }
    }

    fn command(&self, name: &str) -> ApiResponse {
        let Some(command) = commands::find(name) else {
            return json(404, &commands::unknown(name));
        };
        match self.shared().map(|shared| command.run(shared)) {
            Ok(Ok(body)) => json(200, &body),
            Ok(Err(not_serving)) => json(503, &not_serving),
            Err(response) => response,
        }
    }

    async fn api(
        &self,
        request: HttpRequest,
        path: String,
        principal: Option<String>,
    ) -> ApiResponse {
        let query = match percent::decode_query(&request.query) {
            Ok(query) => query,
            Err(e) => return ApiResponse::error(400, &format!("query string: {e}")),
        };
        // A copy of the (short) list, so no lock is held while a handler runs (long polls).
        let handlers = self.api.read().clone();
        let Some(handler) = api::route(&handlers, &path) else {
            if self.api_expected.load(Ordering::Acquire) {
                return ApiResponse::error(
                    503,
                    "the module APIs are starting (their session to this server is \
                     connecting); retry shortly",
                );
            }
            return ApiResponse::error(404, &format!("no API is mounted at {path}"));
        };
        let api_request = ApiRequest {
            method: request.method,
            path,
            query,
            body: request.body,
            principal,
        };
        handler.handle(api_request).await
    }
}

/// A pretty-printed JSON response (humans read these with curl).
fn json(status: u16, value: &serde_json::Value) -> ApiResponse {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => ApiResponse::json(status, body),
        Err(e) => ApiResponse::error(500, &format!("cannot encode JSON: {e}")),
    }
}
