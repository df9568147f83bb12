//! The config center's HTTP API (JSON), as an [`ApiHandler`] under `/api/v1/config`.
//!
//! ```text
//! GET    /api/v1/config                                 envs
//! GET    /api/v1/config/<env>                           apps
//! GET    /api/v1/config/<env>/<app>                     configs (with versions) and settings
//! PUT    /api/v1/config/<env>/<app>                     settings: {"spring_projection": bool}
//! GET    /api/v1/config/<env>/<app>/<name>              current document
//!            ?version=V                                 a retained version
//!            ?watch=V[&timeout=30s]                     long poll: answers once the version
//!                                                       differs from V, or at the timeout
//!            ?raw=true                                  the bytes alone (text/plain)
//! PUT    /api/v1/config/<env>/<app>/<name>              push (body = content)
//!            ?expect_version=V&message=M&retention=N&author=A
//! DELETE /api/v1/config/<env>/<app>/<name>              ?expect_version=V&message=M&purge=true
//! GET    /api/v1/config/<env>/<app>/<name>/history      entries, newest first
//! POST   /api/v1/config/<env>/<app>/<name>/rollback     ?to=V&expect_version=&message=
//! GET    /api/v1/config/<env>/<app>/<name>/diff         ?from=V&to=V (to defaults to live)
//! POST   /api/v1/config/<env>/<app>/<name>/diff         body = content: live (or ?from=) -> body
//! ```
//!
//! The author of a change is the authenticated principal when the listener has one, else the
//! `author` parameter, else `http`.
//!
//! Every push (`PUT .../<name>`) the API answers is reported to its [`PushObserver`], if it has
//! one: accepted, or refused with a [`RejectReason`] (the server turns these into metrics).

use std::sync::Arc;
use std::time::Duration;

use arbor_coord::api::{ApiFuture, ApiHandler, ApiRequest, ApiResponse};
use arbor_coord::Coordination;
use serde_json::{json, Value};

use crate::center::{
    ChangeOutcome, ConfigCenter, ConfigDocument, Current, DeleteOptions, DiffSide, PushOptions,
};
use crate::error::{ConfigError, ErrorKind};
use crate::history::AppSettings;
use crate::layout::{App, ConfigKey, Env, Version};

/// The URL prefix the API owns.
pub const PREFIX: &str = "/api/v1/config";
/// A long poll's wait when `timeout` is not given.
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait a long poll may ask for.
pub const MAX_WATCH_TIMEOUT: Duration = Duration::from_secs(600);
/// The author of API changes without a principal or `author` parameter.
pub const DEFAULT_AUTHOR: &str = "http";

/// Why the API refused a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The env, app or config name is not valid.
    InvalidName,
    /// A query parameter is not valid (`expect_version`, `retention`).
    InvalidRequest,
    /// The content is not UTF-8 text, contains NUL, or does not parse in its format.
    InvalidFormat,
    /// The document, or the request the change needs, is over its limit (413).
    TooLarge,
    /// The expected version was not the current one, or other writers kept winning (409).
    Conflict,
    /// The app's Spring projection cannot hold the document.
    Projection,
    /// Anything else: the ensemble unreachable, the session not authorized, unreadable data.
    Error,
}

impl RejectReason {
    pub const ALL: [RejectReason; 7] = [
        RejectReason::InvalidName,
        RejectReason::InvalidRequest,
        RejectReason::InvalidFormat,
        RejectReason::TooLarge,
        RejectReason::Conflict,
        RejectReason::Projection,
        RejectReason::Error,
    ];

    /// The name metrics use (`reason` label).
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::InvalidName => "invalid_name",
            RejectReason::InvalidRequest => "invalid_request",
            RejectReason::InvalidFormat => "invalid_format",
            RejectReason::TooLarge => "too_large",
            RejectReason::Conflict => "conflict",
            RejectReason::Projection => "projection",
            RejectReason::Error => "error",
        }
    }

    fn of(err: &ConfigError) -> RejectReason {
        match err {
            ConfigError::Name(_) => RejectReason::InvalidName,
            ConfigError::Content {
                source: crate::format::ContentError::TooLarge { .. },
                ..
            }
            | ConfigError::RequestTooLarge { .. } => RejectReason::TooLarge,
            ConfigError::Content { .. } => RejectReason::InvalidFormat,
            ConfigError::Conflict { .. } | ConfigError::Contention { .. } => RejectReason::Conflict,
            ConfigError::Projection { .. } => RejectReason::Projection,
            _ => RejectReason::Error,
        }
    }
}

/// Told the outcome of every push the API answers (e.g. to count them).
pub trait PushObserver: Send + Sync + 'static {
    /// The push was accepted (a no-op push of the current content included).
    fn accepted(&self, outcome: &ChangeOutcome);
    /// The push was refused or failed; nothing was written.
    fn rejected(&self, reason: RejectReason);
}

/// The HTTP API on a config center.
pub struct ConfigApi<C> {
    center: Arc<ConfigCenter<C>>,
    observer: Option<Arc<dyn PushObserver>>,
}

impl<C: Coordination> ConfigApi<C> {
    pub fn new(center: Arc<ConfigCenter<C>>) -> ConfigApi<C> {
        ConfigApi {
            center,
            observer: None,
        }
    }

    /// The API on a config center with default limits on `coord`.
    pub fn on(coord: C) -> ConfigApi<C> {
        ConfigApi::new(Arc::new(ConfigCenter::new(coord)))
    }

    /// Reports every push's outcome to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn PushObserver>) -> ConfigApi<C> {
        self.observer = Some(observer);
        self
    }
}

impl<C: Coordination> ApiHandler for ConfigApi<C> {
    fn prefix(&self) -> &'static str {
        PREFIX
    }

    fn handle(&self, request: ApiRequest) -> ApiFuture<'_> {
        Box::pin(async move {
            match self.route(&request).await {
                Ok(response) => response,
                Err(failure) => failure.into_response(),
            }
        })
    }
}

/// A request that failed: an HTTP status and a message.
struct Failure {
    status: u16,
    message: String,
}

impl Failure {
    fn bad_request(message: impl Into<String>) -> Failure {
        Failure {
            status: 400,
            message: message.into(),
        }
    }

    fn into_response(self) -> ApiResponse {
        ApiResponse::error(self.status, &self.message)
    }
}

impl From<ConfigError> for Failure {
    fn from(err: ConfigError) -> Failure {
        let status = match (&err, err.kind()) {
            (
                ConfigError::Content {
                    source: crate::format::ContentError::TooLarge { .. },
                    ..
                },
                _,
            ) => 413,
            (ConfigError::RequestTooLarge { .. }, _) => 413,
            (_, ErrorKind::Invalid) => 400,
            (_, ErrorKind::NotFound) => 404,
            (_, ErrorKind::Conflict) => 409,
            (_, ErrorKind::Unavailable) => 503,
            (_, ErrorKind::Failed) => 500,
        };
        let mut message = err.to_string();
        if matches!(err, ConfigError::Coord(arbor_coord::CoordError::NoAuth)) {
            // The caller's token was good: it is the server's own session that may not write.
            message.push_str(
                " (the server's config-center session may not write here: check that \
                 configCenter.auth names the credential that owns the config center's nodes)",
            );
        }
        Failure { status, message }
    }
}

impl From<crate::layout::NameError> for Failure {
    fn from(err: crate::layout::NameError) -> Failure {
        Failure::bad_request(err.to_string())
    }
}

fn ok(body: Value) -> Result<ApiResponse, Failure> {
    Ok(ApiResponse::json(200, body.to_string().into_bytes()))
}

fn method_not_allowed(method: &str, allowed: &str) -> Result<ApiResponse, Failure> {
    Err(Failure {
        status: 405,
        message: format!("method {method} not allowed here (allowed: {allowed})"),
    })
}

fn version_param(request: &ApiRequest, name: &str) -> Result<Option<Version>, Failure> {
    request
        .query_param(name)
        .map(|value| {
            value.parse::<Version>().map_err(|_| {
                Failure::bad_request(format!(
                    "query parameter {name}={value:?} is not a version number"
                ))
            })
        })
        .transpose()
}

fn bool_param(request: &ApiRequest, name: &str) -> Result<bool, Failure> {
    match request.query_param(name) {
        None => Ok(false),
        Some("" | "true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(Failure::bad_request(format!(
            "query parameter {name}={other:?} is not a boolean"
        ))),
    }
}

/// The path below [`PREFIX`] split at `/`. Empty segments are kept, so an empty env or app
/// (`prod//application.yml`) is refused by the name checks instead of being read as a shorter
/// path (there: the settings of an app called `application.yml`); one trailing slash is allowed.
fn segments(path: &str) -> Vec<&str> {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Vec::new();
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    match rest.strip_prefix('/') {
        Some(rest) => rest.split('/').collect(),
        None => Vec::new(),
    }
}

/// `30s`, `500ms`, `2m`, or plain seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        "m" => Some(Duration::from_secs(number.checked_mul(60)?)),
        _ => None,
    }
}

fn author(request: &ApiRequest) -> String {
    request
        .principal
        .clone()
        .or_else(|| request.query_param("author").map(str::to_string))
        .filter(|author| !author.is_empty())
        .unwrap_or_else(|| DEFAULT_AUTHOR.to_string())
}

fn document_json(document: &ConfigDocument) -> Value {
    let entry = document.entry.as_ref();
    json!({
        "env": document.key.env.as_str(),
        "app": document.key.app.as_str(),
        "name": document.key.name.as_str(),
        "format": document.key.format().name(),
        "version": document.version,
        "sha256": document.sha256,
        "kind": entry.map(|e| e.kind.name()),
        "rollback_of": entry.and_then(|e| e.rollback_of),
        "author": entry.map(|e| e.author.as_str()),
        "message": entry.map(|e| e.message.as_str()),
        "time": entry.map(|e| e.time.as_str()),
        "modified_outside": document.modified_outside,
        "content": String::from_utf8_lossy(&document.content),
    })
}

fn current_json(key: &ConfigKey, current: &Current, changed: bool) -> Value {
    let mut body = match &current.document {
        Some(document) => document_json(document),
        None => json!({
            "env": key.env.as_str(),
            "app": key.app.as_str(),
            "name": key.name.as_str(),
            "format": key.format().name(),
            "version": current.version,
        }),
    };
    body["exists"] = json!(current.document.is_some());
    body["changed"] = json!(changed);
    body
}

impl<C: Coordination> ConfigApi<C> {
    async fn route(&self, request: &ApiRequest) -> Result<ApiResponse, Failure> {
        let segments = segments(&request.path);
        let method = request.method.as_str();
        match segments.as_slice() {
            [] => match method {
                "GET" => {
                    let envs = self.center.list_envs().await?;
                    let envs: Vec<&str> = envs.iter().map(Env::as_str).collect();
                    ok(json!({ "envs": envs }))
                }
                _ => method_not_allowed(method, "GET"),
            },
            [env] => match method {
                "GET" => {
                    let env = Env::new(env)?;
                    let apps = self.center.list_apps(&env).await?;
                    let apps: Vec<&str> = apps.iter().map(App::as_str).collect();
                    ok(json!({ "env": env.as_str(), "apps": apps }))
                }
                _ => method_not_allowed(method, "GET"),
            },
            [env, app] => {
                let (env, app) = (Env::new(env)?, App::new(app)?);
                match method {
                    "GET" => {
                        let configs = self.center.list_configs(&env, &app).await?;
                        let settings = self.center.app_settings(&env, &app).await?;
                        ok(json!({
                            "env": env.as_str(),
                            "app": app.as_str(),
                            "settings": settings,
                            "configs": configs,
                        }))
                    }
                    "PUT" => {
                        let settings: AppSettings =
                            serde_json::from_slice(&request.body).map_err(|err| {
                                Failure::bad_request(format!(
                                    "settings body is not valid JSON settings: {err}"
                                ))
                            })?;
                        let projection = self
                            .center
                            .set_spring_projection(&env, &app, settings.spring_projection)
                            .await?;
                        ok(json!({ "settings": settings, "projection": projection }))
                    }
                    _ => method_not_allowed(method, "GET, PUT"),
                }
            }
            [env, app, name] if method == "PUT" => {
                let pushed = self.push(env, app, name, request).await;
                if let Some(observer) = &self.observer {
                    match &pushed {
                        Ok(outcome) => observer.accepted(outcome),
                        Err((reason, _)) => observer.rejected(*reason),
                    }
                }
                match pushed {
                    Ok(outcome) => ok(json!(outcome)),
                    Err((_, failure)) => Err(failure),
                }
            }
            [env, app, name] => {
                let key = ConfigKey::parse(env, app, name)?;
                match method {
                    "GET" => self.get(&key, request).await,
                    "DELETE" => {
                        let options = DeleteOptions {
                            expect_version: version_param(request, "expect_version")?,
                            author: author(request),
                            message: request.query_param("message").unwrap_or("").to_string(),
                            purge: bool_param(request, "purge")?,
                        };
                        let outcome = self.center.delete(&key, &options).await?;
                        ok(json!(outcome))
                    }
                    _ => method_not_allowed(method, "GET, PUT, DELETE"),
                }
            }
            [env, app, name, action] => {
                let key = ConfigKey::parse(env, app, name)?;
                match (*action, method) {
                    ("history", "GET") => {
                        let history = self.center.history(&key).await?;
                        ok(json!({ "history": history }))
                    }
                    ("rollback", "POST") => {
                        let to = version_param(request, "to")?
                            .ok_or_else(|| Failure::bad_request("rollback needs ?to=<version>"))?;
                        let options = PushOptions {
                            expect_version: version_param(request, "expect_version")?,
                            author: author(request),
                            message: request.query_param("message").unwrap_or("").to_string(),
                            retention: None,
                        };
                        let outcome = self.center.rollback(&key, to, &options).await?;
                        ok(json!(outcome))
                    }
                    ("diff", "GET" | "POST") => {
                        let side = |version: Option<Version>| match version {
                            Some(version) => DiffSide::Version(version),
                            None => DiffSide::Current,
                        };
                        let (from, to) = if method == "POST" {
                            (
                                side(version_param(request, "from")?),
                                DiffSide::Content {
                                    label: "request body".to_string(),
                                    bytes: request.body.clone(),
                                },
                            )
                        } else {
                            let from = version_param(request, "from")?.ok_or_else(|| {
                                Failure::bad_request("diff needs ?from=<version>")
                            })?;
                            (DiffSide::Version(from), side(version_param(request, "to")?))
                        };
                        let diff = self.center.diff(&key, from, to).await?;
                        ok(json!({ "identical": diff.is_empty(), "diff": diff }))
                    }
                    ("history" | "rollback" | "diff", _) => method_not_allowed(
                        method,
                        match *action {
                            "history" => "GET",
                            "rollback" => "POST",
                            _ => "GET, POST",
                        },
                    ),
                    _ => Err(Failure {
                        status: 404,
                        message: format!("no such resource {:?}", request.path),
                    }),
                }
            }
            _ => Err(Failure {
                status: 404,
                message: format!("no such resource {:?}", request.path),
            }),
        }
    }

    /// `PUT .../<env>/<app>/<name>`: the change, or why it was refused.
    async fn push(
        &self,
        env: &str,
        app: &str,
        name: &str,
        request: &ApiRequest,
    ) -> Result<ChangeOutcome, (RejectReason, Failure)> {
        let invalid_request = |failure| (RejectReason::InvalidRequest, failure);
        let key = ConfigKey::parse(env, app, name)
            .map_err(|err| (RejectReason::InvalidName, Failure::from(err)))?;
        let retention = request
            .query_param("retention")
            .map(|value| {
                value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        Failure::bad_request(format!(
                            "retention={value:?} is not a count of at least 1"
                        ))
                    })
            })
            .transpose()
            .map_err(invalid_request)?;
        let options = PushOptions {
            expect_version: version_param(request, "expect_version").map_err(invalid_request)?,
            author: author(request),
            message: request.query_param("message").unwrap_or("").to_string(),
            retention,
        };
        self.center
            .push(&key, &request.body, &options)
            .await
            .map_err(|err| (RejectReason::of(&err), Failure::from(err)))
    }

    async fn get(&self, key: &ConfigKey, request: &ApiRequest) -> Result<ApiResponse, Failure> {
        if let Some(known) = version_param(request, "watch")? {
            let timeout = match request.query_param("timeout") {
                None => DEFAULT_WATCH_TIMEOUT,
                Some(text) => parse_duration(text).ok_or_else(|| {
                    Failure::bad_request(format!(
                        "timeout={text:?} is not a duration (e.g. 30s, 500ms, 2m)"
                    ))
                })?,
            }
            .min(MAX_WATCH_TIMEOUT);
            let outcome = self.center.watch(key, known, timeout).await?;
            return ok(current_json(key, &outcome.current, outcome.changed));
        }
        let document = self
            .center
            .get(key, version_param(request, "version")?)
            .await?;
        if bool_param(request, "raw")? {
            return Ok(ApiResponse {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body: document.content,
            });
        }
        ok(document_json(&document))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_segments_are_kept_but_a_trailing_slash_is_not_a_segment() {
        assert_eq!(segments("/api/v1/config"), Vec::<&str>::new());
        assert_eq!(segments("/api/v1/config/"), Vec::<&str>::new());
        assert_eq!(segments("/api/v1/config/prod/web/"), ["prod", "web"]);
        assert_eq!(
            segments("/api/v1/config/prod//a.yml"),
            ["prod", "", "a.yml"]
        );
        assert_eq!(segments("/api/v1/config//web/a.yml"), ["", "web", "a.yml"]);
        assert_eq!(segments("/api/v1/config//"), [""]);
    }

    #[test]
    fn durations_parse_in_consul_style() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        for bad in ["", "s", "1h", "-1s", "1.5s", "ms"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn refused_pushes_are_classified_by_what_went_wrong() {
        use crate::format::ContentError;
        use arbor_coord::CoordError;
        let content = |source| ConfigError::Content {
            key: "k".into(),
            source,
        };
        let cases = [
            (
                content(ContentError::TooLarge { size: 2, limit: 1 }),
                RejectReason::TooLarge,
            ),
            (
                content(ContentError::NotUtf8 { line: 1, column: 1 }),
                RejectReason::InvalidFormat,
            ),
            (
                ConfigError::RequestTooLarge {
                    key: "k".into(),
                    size: 2,
                    limit: 1,
                    projected: true,
                },
                RejectReason::TooLarge,
            ),
            (
                ConfigError::Contention {
                    key: "k".into(),
                    attempts: 9,
                },
                RejectReason::Conflict,
            ),
            (
                ConfigError::Projection {
                    key: "k".into(),
                    source: crate::projection::ProjectionError::Unparsable("x".into()),
                },
                RejectReason::Projection,
            ),
            (ConfigError::Coord(CoordError::NoAuth), RejectReason::Error),
            (
                ConfigError::Coord(CoordError::Unavailable("down".into())),
                RejectReason::Error,
            ),
        ];
        for (err, reason) in cases {
            assert_eq!(RejectReason::of(&err), reason, "{err}");
        }
        let labels: std::collections::BTreeSet<&str> =
            RejectReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), RejectReason::ALL.len());
    }

    #[test]
    fn the_principal_is_the_author_when_there_is_one() {
        let mut request = ApiRequest {
            query: vec![("author".into(), "claimed".into())],
            ..Default::default()
        };
        assert_eq!(author(&request), "claimed");
        request.principal = Some("token-ops".into());
        assert_eq!(author(&request), "token-ops");
        assert_eq!(author(&ApiRequest::default()), DEFAULT_AUTHOR);
    }
}
