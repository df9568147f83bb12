//! A framework-free HTTP exchange for the modules' JSON APIs.
//!
//! The config center and naming crates answer [`ApiRequest`]s with [`ApiResponse`]s and know
//! nothing of hyper; the server's admin HTTP listener parses requests, routes `/api/v1/...` to
//! the module that owns the prefix, and writes the response back.
//!
//! A module exposes itself as an [`ApiHandler`]: a path prefix it owns and an async `handle`.
//! The listener picks the handler with the longest matching prefix; modules never see requests
//! outside their prefix.

use std::future::Future;
use std::pin::Pin;

/// The future an [`ApiHandler`] returns (boxed so handlers can live in one list).
pub type ApiFuture<'a> = Pin<Box<dyn Future<Output = ApiResponse> + Send + 'a>>;

/// One module's HTTP API, mounted by the server's admin listener under [`ApiHandler::prefix`].
pub trait ApiHandler: Send + Sync + 'static {
    /// The path prefix this module owns, e.g. `/api/v1/config` (no trailing slash). A request
    /// matches when its path equals the prefix or continues it with `/`.
    fn prefix(&self) -> &'static str;

    /// Answers one request. Long polls (`?watch=`, `?wait=`) may take as long as they ask for;
    /// the listener imposes no timeout of its own beyond the client's connection.
    fn handle(&self, request: ApiRequest) -> ApiFuture<'_>;
}

/// The handler in `handlers` that owns `path` (longest prefix wins), if any.
pub fn route<'h>(
    handlers: &'h [std::sync::Arc<dyn ApiHandler>],
    path: &str,
) -> Option<&'h dyn ApiHandler> {
    handlers
        .iter()
        .filter(|handler| {
            let prefix = handler.prefix();
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|handler| handler.prefix().len())
        .map(|handler| handler.as_ref())
}

/// One HTTP request, already read in full.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiRequest {
    /// Upper-case method: GET, PUT, POST, DELETE.
    pub method: String,
    /// The path, percent-decoded, starting with `/api/v1/`.
    pub path: String,
    /// Query parameters in order, percent-decoded.
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Who is asking, when the listener authenticated the caller (token name); `None` otherwise.
    pub principal: Option<String>,
}

impl ApiRequest {
    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The path below `prefix` split into segments, or `None` if the path is not under it.
    pub fn segments_under(&self, prefix: &str) -> Option<Vec<&str>> {
        let rest = self.path.strip_prefix(prefix)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        Some(
            rest.split('/')
                .filter(|segment| !segment.is_empty())
                .collect(),
        )
    }
}

/// One HTTP response with a JSON (or plain text) body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// A JSON body from already-serialized bytes.
    pub fn json(status: u16, body: Vec<u8>) -> ApiResponse {
        ApiResponse {
            status,
            content_type: "application/json",
            body,
        }
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> ApiResponse {
        let escaped: String = message
            .chars()
            .flat_map(|c| match c {
                '"' => vec!['\\', '"'],
                '\\' => vec!['\\', '\\'],
                '\n' => vec!['\\', 'n'],
                c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32).chars().collect(),
                c => vec![c],
            })
            .collect();
        ApiResponse::json(status, format!("{{\"error\":\"{escaped}\"}}").into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_under_prefix_only_match_whole_segments() {
        let request = ApiRequest {
            path: "/api/v1/config/prod/web".into(),
            ..Default::default()
        };
        assert_eq!(
            request.segments_under("/api/v1/config"),
            Some(vec!["prod", "web"])
        );
        assert_eq!(request.segments_under("/api/v1/conf"), None);
        assert_eq!(request.segments_under("/api/v1/services"), None);
    }

    struct Fixed(&'static str);

    impl ApiHandler for Fixed {
        fn prefix(&self) -> &'static str {
            self.0
        }

        fn handle(&self, _request: ApiRequest) -> ApiFuture<'_> {
            Box::pin(async move { ApiResponse::json(200, self.0.as_bytes().to_vec()) })
        }
    }

    #[test]
    fn route_picks_the_longest_whole_segment_prefix() {
        let handlers: Vec<std::sync::Arc<dyn ApiHandler>> = vec![
            std::sync::Arc::new(Fixed("/api/v1")),
            std::sync::Arc::new(Fixed("/api/v1/config")),
            std::sync::Arc::new(Fixed("/api/v1/services")),
        ];
        let owner = |path: &str| route(&handlers, path).map(|h| h.prefix());
        assert_eq!(owner("/api/v1/config/prod/web"), Some("/api/v1/config"));
        assert_eq!(owner("/api/v1/config"), Some("/api/v1/config"));
        assert_eq!(owner("/api/v1/configs"), Some("/api/v1"));
        assert_eq!(owner("/api/v1/services/web"), Some("/api/v1/services"));
        assert_eq!(owner("/metrics"), None);
    }

    #[test]
    fn error_bodies_are_valid_json_strings() {
        let response = ApiResponse::error(400, "bad \"name\"\n\u{1}");
        assert_eq!(
            response.body,
            br#"{"error":"bad \"name\"\n\u0001"}"#.to_vec()
        );
        assert_eq!(response.status, 400);
    }
}
