//! The registry's HTTP API (`/api/v1/services`), as an [`ApiHandler`] the server's admin
//! listener mounts. Documented in docs/api.md, section "Naming".
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/services` | every service with instance and passing counts |
//! | `GET /api/v1/services/<name>?health=&zone=&tag=&meta=k=v&protect=` | the selected instances |
//! | `GET /api/v1/services/<name>?index=N&wait=30s` | long poll: answers once the index exceeds N |
//! | `GET /api/v1/services/<name>/<id>` | one instance |
//! | `PUT /api/v1/services/<name>/<id>` | registers a static (persistent) instance |
//! | `DELETE /api/v1/services/<name>/<id>` | removes a static instance (`?force=true` for a dynamic one) |
//!
//! Request routing and the JSON views are pure functions; only [`NamingApi::answer`] does I/O.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbor_coord::api::{ApiFuture, ApiHandler, ApiRequest, ApiResponse};
use arbor_coord::{CoordError, Coordination};
use serde_json::{json, Value};

use crate::instance::{spring_payload, ServiceInstance, ServiceType, UriSpec, DEFAULT_URI_SPEC};
use crate::query::{parse_duration, InstanceQuery, QueryError};
use crate::registry::{
    NamingError, NodeWarning, QueryResult, RegisteredInstance, Registry, ServiceList,
};

/// The prefix this API owns.
pub const PREFIX: &str = "/api/v1/services";

/// How long a long poll waits when `wait` is not given (Consul's default).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);
/// The longest wait granted (Consul's limit); longer requests are cut to it.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// Query parameters `GET /api/v1/services/<name>` accepts.
const QUERY_PARAMS: &[&str] = &["health", "zone", "tag", "meta", "protect", "index", "wait"];

/// What a request asks for, once routed.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    ListServices,
    Query {
        service: String,
        query: InstanceQuery,
        /// `Some` for a long poll: answer once the index exceeds it.
        after_index: Option<i64>,
        wait: Duration,
    },
    GetInstance {
        service: String,
        id: String,
    },
    Put {
        service: String,
        id: String,
        body: Vec<u8>,
    },
    Delete {
        service: String,
        id: String,
        force: bool,
    },
}

/// Routes a request under [`PREFIX`]; an error is the response to send.
pub fn route(request: &ApiRequest) -> Result<Route, ApiResponse> {
    let Some(segments) = request.segments_under(PREFIX) else {
        return Err(ApiResponse::error(404, "not a naming API path"));
    };
    let method = request.method.as_str();
    let not_allowed = |allowed: &str| {
        ApiResponse::error(405, &format!("{method} is not allowed here; use {allowed}"))
    };
    match (segments.as_slice(), method) {
        ([], "GET") => Ok(Route::ListServices),
        ([], _) => Err(not_allowed("GET")),
        ([service], "GET") => {
            let bad = |err: QueryError| ApiResponse::error(400, &err.to_string());
            if let Some((unknown, _)) = request
                .query
                .iter()
                .find(|(key, _)| !QUERY_PARAMS.contains(&key.as_str()))
            {
                return Err(ApiResponse::error(
                    400,
                    &format!(
                        "unknown query parameter {unknown:?}; accepted: {}",
                        QUERY_PARAMS.join(", ")
                    ),
                ));
            }
            let query = InstanceQuery::from_params(
                request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .map_err(bad)?;
            let after_index = match request.query_param("index") {
                None => None,
                Some(text) => match text.trim().parse::<i64>() {
                    Ok(index) if index >= 0 => Some(index),
                    _ => {
                        return Err(ApiResponse::error(
                            400,
                            &format!("invalid index {text:?}: expected a zxid (a number >= 0)"),
                        ))
                    }
                },
            };
            let wait = match request.query_param("wait") {
                None => DEFAULT_WAIT,
                Some(text) => parse_duration("wait", text).map_err(bad)?.min(MAX_WAIT),
            };
            Ok(Route::Query {
                service: service.to_string(),
                query,
                after_index,
                wait,
            })
        }
        ([_], _) => Err(not_allowed("GET")),
        ([service, id], "GET") => Ok(Route::GetInstance {
            service: service.to_string(),
            id: id.to_string(),
        }),
        ([service, id], "PUT") => Ok(Route::Put {
            service: service.to_string(),
            id: id.to_string(),
            body: request.body.clone(),
        }),
        ([service, id], "DELETE") => {
            let force = match request.query_param("force") {
                None | Some("false") => false,
                Some("true") | Some("") => true,
                Some(other) => {
                    return Err(ApiResponse::error(
                        400,
                        &format!("invalid force {other:?}: expected true or false"),
                    ))
                }
            };
            Ok(Route::Delete {
                service: service.to_string(),
                id: id.to_string(),
                force,
            })
        }
        ([_, _], _) => Err(not_allowed("GET, PUT or DELETE")),
        _ => Err(ApiResponse::error(404, "no such naming API path")),
    }
}

/// The instance a `PUT` stores: the body (Curator `ServiceInstance` JSON) with the path's name
/// and id, STATIC unless the body says PERMANENT, Spring's payload and Curator's default URI
/// spec when the body has none, and the registration time filled in when missing.
pub fn static_instance_from_body(
    service: &str,
    id: &str,
    body: &[u8],
    now_millis: i64,
) -> Result<ServiceInstance, String> {
    let raw: Value = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|err| format!("the body is not JSON: {err}"))?;
    let Value::Object(fields) = &raw else {
        return Err("the body must be a JSON object (a Curator ServiceInstance)".to_string());
    };
    let mut instance =
        ServiceInstance::from_json(raw.to_string().as_bytes()).map_err(|err| err.to_string())?;
    for (field, value, wanted) in [
        ("name", &mut instance.name, service),
        ("id", &mut instance.id, id),
    ] {
        if value.is_empty() {
            *value = wanted.to_string();
        } else if value != wanted {
            return Err(format!(
                "the body's {field} {value:?} differs from the path's {wanted:?}"
            ));
        }
    }
    if !fields.contains_key("serviceType") {
        instance.service_type = ServiceType::Static;
    }
    if instance.service_type.is_dynamic() {
        return Err(format!(
            "PUT stores static (persistent) instances; a {} instance belongs to the session that \
             registers it (Curator, arbor-agent, `arbor naming register`)",
            instance.service_type
        ));
    }
    if !fields.contains_key("payload") {
        instance.payload = Some(spring_payload(service, id));
    }
    if !fields.contains_key("uriSpec") {
        instance.uri_spec = UriSpec::parse(DEFAULT_URI_SPEC).ok();
    }
    if instance.registration_time_utc == 0 {
        instance.registration_time_utc = now_millis;
    }
    instance.validate().map_err(|err| err.to_string())?;
    Ok(instance)
}

/// The JSON view of one instance: the derived fields a client wants, and the node's Curator
/// JSON unchanged under `instance`.
pub fn instance_view(registered: &RegisteredInstance) -> Value {
    let instance = &registered.instance;
    json!({
        "id": instance.id,
        "node": registered.node,
        "address": instance.address,
        "port": instance.port,
        "sslPort": instance.ssl_port,
        "uri": instance.uri(),
        "health": instance.health(),
        "enabled": instance.enabled,
        "passing": instance.is_passing(),
        "weight": instance.weight(),
        "zone": instance.zone(),
        "tags": instance.tags(),
        "metadata": instance.metadata(),
        "serviceType": instance.service_type,
        "registrationTimeUTC": instance.registration_time_utc,
        "ephemeral": registered.is_ephemeral(),
        "mzxid": registered.mzxid,
        "instance": instance,
    })
}

fn warnings_view(warnings: &[NodeWarning]) -> Value {
    Value::Array(
        warnings
            .iter()
            .map(|warning| json!({"path": warning.path, "error": warning.error}))
            .collect(),
    )
}

/// The JSON view of a query's answer.
pub fn query_view(result: &QueryResult) -> Value {
    json!({
        "service": result.service,
        "exists": result.exists,
        "index": result.index,
        "protectionApplied": result.selection.protection_applied,
        "matching": result.selection.matching,
        "passing": result.selection.passing,
        "instances": result.selection.instances.iter().map(instance_view).collect::<Vec<_>>(),
        "warnings": warnings_view(&result.warnings),
    })
}

/// The JSON view of the service list.
pub fn list_view(list: &ServiceList) -> Value {
    json!({
        "services": list.services.iter().map(|service| json!({
            "name": service.name,
            "instances": service.instances,
            "passing": service.passing,
            "index": service.index,
        })).collect::<Vec<_>>(),
        "warnings": warnings_view(&list.warnings),
    })
}

/// The HTTP status for a registry failure.
pub fn error_status(err: &NamingError) -> u16 {
    match err {
        NamingError::Invalid(_) | NamingError::Query(_) => 400,
        NamingError::NotFound { .. } => 404,
        NamingError::Conflict(_) => 409,
        NamingError::Coord { source, .. } => match source {
            CoordError::Unavailable(_) | CoordError::SessionExpired => 503,
            CoordError::NoAuth => 403,
            CoordError::BadArguments(_) => 400,
            _ => 500,
        },
    }
}

fn ok(status: u16, body: Value) -> ApiResponse {
    ApiResponse::json(status, body.to_string().into_bytes())
}

fn failure(err: &NamingError) -> ApiResponse {
    ApiResponse::error(error_status(err), &err.to_string())
}

/// The naming API on a registry.
pub struct NamingApi<C> {
    registry: Registry<C>,
}

impl<C: Coordination> NamingApi<C> {
    pub fn new(registry: Registry<C>) -> NamingApi<C> {
        NamingApi { registry }
    }

    pub fn registry(&self) -> &Registry<C> {
        &self.registry
    }

    /// Answers one request.
    pub async fn answer(&self, request: ApiRequest) -> ApiResponse {
        match route(&request) {
            Ok(route) => self.answer_route(route).await,
            Err(response) => response,
        }
    }

    async fn answer_route(&self, route: Route) -> ApiResponse {
        let registry = &self.registry;
        match route {
            Route::ListServices => match registry.list_services().await {
                Ok(list) => ok(200, list_view(&list)),
                Err(err) => failure(&err),
            },
            Route::Query {
                service,
                query,
                after_index,
                wait,
            } => {
                let result = match after_index {
                    Some(after) => registry.watch(&service, &query, after, wait).await,
                    None => registry.query(&service, &query).await,
                };
                match result {
                    Ok(result) => ok(200, query_view(&result)),
                    Err(err) => failure(&err),
                }
            }
            Route::GetInstance { service, id } => match registry.get(&service, &id).await {
                Ok(Some(found)) => ok(200, instance_view(&found)),
                Ok(None) => failure(&NamingError::NotFound { service, id }),
                Err(err) => failure(&err),
            },
            Route::Put { service, id, body } => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_millis() as i64)
                    .unwrap_or(0);
                let instance = match static_instance_from_body(&service, &id, &body, now) {
                    Ok(instance) => instance,
                    Err(message) => return ApiResponse::error(400, &message),
                };
                let existed = match registry.get(&service, &id).await {
                    Ok(Some(existing)) if existing.is_ephemeral() => {
                        return failure(&NamingError::Conflict(format!(
                            "{service}/{id} is a dynamic instance of a live session; it cannot \
                             be replaced by a static one"
                        )))
                    }
                    Ok(found) => found.is_some(),
                    // An unreadable node is replaced by a good one.
                    Err(NamingError::Invalid(_)) => true,
                    Err(err) => return failure(&err),
                };
                if let Err(err) = registry.register(&instance).await {
                    return failure(&err);
                }
                match registry.get(&service, &id).await {
                    Ok(Some(stored)) => ok(if existed { 200 } else { 201 }, instance_view(&stored)),
                    Ok(None) => failure(&NamingError::Conflict(format!(
                        "{service}/{id} was removed right after it was stored"
                    ))),
                    Err(err) => failure(&err),
                }
            }
            Route::Delete { service, id, force } => {
                match registry.get(&service, &id).await {
                    Ok(None) => return failure(&NamingError::NotFound { service, id }),
                    Ok(Some(existing)) if existing.is_ephemeral() && !force => {
                        return failure(&NamingError::Conflict(format!(
                            "{service}/{id} is a dynamic instance; it goes when its session \
                             ends (and its owner may register it again); use ?force=true to \
                             remove it now"
                        )))
                    }
                    Ok(Some(_)) | Err(NamingError::Invalid(_)) => {}
                    Err(err) => return failure(&err),
                }
                match registry.deregister(&service, &id).await {
                    Ok(true) => ok(
                        200,
                        json!({"service": service, "id": id, "deregistered": true}),
                    ),
                    Ok(false) => failure(&NamingError::NotFound { service, id }),
                    Err(err) => failure(&err),
                }
            }
        }
    }
}

impl<C: Coordination> ApiHandler for NamingApi<C> {
    fn prefix(&self) -> &'static str {
        PREFIX
    }

    fn handle(&self, request: ApiRequest) -> ApiFuture<'_> {
        Box::pin(self.answer(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::HealthStatus;

    fn request(method: &str, path: &str, query: &[(&str, &str)]) -> ApiRequest {
        ApiRequest {
            method: method.to_string(),
            path: path.to_string(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ApiRequest::default()
        }
    }

    #[test]
    fn routes_paths_methods_and_parameters() {
        assert_eq!(
            route(&request("GET", "/api/v1/services", &[])),
            Ok(Route::ListServices)
        );
        match route(&request(
            "GET",
            "/api/v1/services/web",
            &[
                ("zone", "eu"),
                ("tag", "a"),
                ("index", "42"),
                ("wait", "30s"),
            ],
        )) {
            Ok(Route::Query {
                service,
                query,
                after_index,
                wait,
            }) => {
                assert_eq!(service, "web");
                assert_eq!(query.zone.as_deref(), Some("eu"));
                assert_eq!(query.tags, vec!["a"]);
                assert_eq!(after_index, Some(42));
                assert_eq!(wait, Duration::from_secs(30));
            }
            other => panic!("{other:?}"),
        }
        match route(&request("GET", "/api/v1/services/web", &[("wait", "1h")])) {
            Ok(Route::Query {
                wait, after_index, ..
            }) => {
                assert_eq!(wait, MAX_WAIT, "clamped");
                assert_eq!(after_index, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            route(&request(
                "DELETE",
                "/api/v1/services/web/i-1",
                &[("force", "true")]
            )),
            Ok(Route::Delete { force: true, .. })
        ));
        assert!(matches!(
            route(&request("GET", "/api/v1/services/web/i-1", &[])),
            Ok(Route::GetInstance { .. })
        ));
    }

    #[test]
    fn bad_requests_get_clear_errors() {
        let status = |method: &str, path: &str, query: &[(&str, &str)]| {
            route(&request(method, path, query))
                .map(|_| 200)
                .unwrap_or_else(|r| r.status)
        };
        assert_eq!(status("POST", "/api/v1/services", &[]), 405);
        assert_eq!(status("PUT", "/api/v1/services/web", &[]), 405);
        assert_eq!(status("POST", "/api/v1/services/web/i", &[]), 405);
        assert_eq!(status("GET", "/api/v1/services/web/i/extra", &[]), 404);
        assert_eq!(
            status("GET", "/api/v1/services/web", &[("index", "-3")]),
            400
        );
        assert_eq!(
            status("GET", "/api/v1/services/web", &[("index", "x")]),
            400
        );
        assert_eq!(
            status("GET", "/api/v1/services/web", &[("wait", "soon")]),
            400
        );
        assert_eq!(
            status("GET", "/api/v1/services/web", &[("health", "meh")]),
            400
        );
        assert_eq!(
            status("GET", "/api/v1/services/web", &[("protect", "2")]),
            400
        );
        assert_eq!(
            status("DELETE", "/api/v1/services/web/i", &[("force", "maybe")]),
            400
        );
        let unknown = route(&request("GET", "/api/v1/services/web", &[("tags", "a")])).unwrap_err();
        assert_eq!(unknown.status, 400);
        assert!(String::from_utf8_lossy(&unknown.body).contains("\\\"tags\\\""));
    }

    #[test]
    fn put_bodies_become_static_spring_readable_instances() {
        let stored =
            static_instance_from_body("web", "w-1", br#"{"address":"10.0.0.5","port":8080}"#, 1234)
                .unwrap();
        assert_eq!(stored.name, "web");
        assert_eq!(stored.id, "w-1");
        assert_eq!(stored.service_type, ServiceType::Static);
        assert_eq!(stored.registration_time_utc, 1234);
        assert_eq!(stored.uri().as_deref(), Some("http://10.0.0.5:8080"));
        assert_eq!(stored.health(), HealthStatus::Up);
        assert_eq!(
            stored.payload.as_ref().unwrap()["@class"],
            crate::instance::SPRING_PAYLOAD_CLASS
        );

        let permanent = static_instance_from_body(
            "web",
            "w-1",
            br#"{"name":"web","serviceType":"PERMANENT","uriSpec":null,"payload":{"metadata":{"zone":"eu"}}}"#,
            1,
        )
        .unwrap();
        assert_eq!(permanent.service_type, ServiceType::Permanent);
        assert_eq!(permanent.uri_spec, None);
        assert_eq!(permanent.zone().as_deref(), Some("eu"));

        for (body, expected) in [
            (&br#"{"serviceType":"DYNAMIC"}"#[..], "static (persistent)"),
            (b"[1]", "JSON object"),
            (b"{oops", "not JSON"),
            (br#"{"id":"other"}"#, "differs"),
            (br#"{"port":70000}"#, "1..=65535"),
            (br#"{"port":"80"}"#, "not a Curator ServiceInstance"),
        ] {
            let err = static_instance_from_body("web", "w-1", body, 1).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        assert!(static_instance_from_body("web", "w-1", b"", 1).is_ok());
    }

    #[test]
    fn statuses_for_failures() {
        assert_eq!(
            error_status(&NamingError::NotFound {
                service: "a".into(),
                id: "b".into()
            }),
            404
        );
        assert_eq!(error_status(&NamingError::Conflict("x".into())), 409);
        assert_eq!(
            error_status(&NamingError::Coord {
                path: "/".into(),
                source: CoordError::Unavailable("down".into())
            }),
            503
        );
    }
}
