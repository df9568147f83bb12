//! Which part of the admin listener answers a path.

/// What a request path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/commands`
    CommandList,
    /// `/commands/<name>`
    Command(&'a str),
    Healthz,
    Readyz,
    Metrics,
    /// `/api/...`, for the mounted module APIs.
    Api,
    NotFound,
}

/// Routes a decoded path. A trailing slash is ignored (`/commands/` is the list).
pub fn route(path: &str) -> Route<'_> {
    let trimmed = match path.strip_suffix('/') {
        Some(t) if !t.is_empty() => t,
        _ => path,
    };
    match trimmed {
        "/commands" => Route::CommandList,
        "/healthz" => Route::Healthz,
        "/readyz" => Route::Readyz,
        "/metrics" => Route::Metrics,
        "/api" => Route::Api,
        _ => {
            if let Some(name) = trimmed.strip_prefix("/commands/") {
                if !name.is_empty() && !name.contains('/') {
                    return Route::Command(name);
                }
                return Route::NotFound;
            }
            if trimmed.starts_with("/api/") {
                return Route::Api;
            }
            Route::NotFound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(route("/commands"), Route::CommandList);
        assert_eq!(route("/commands/"), Route::CommandList);
        assert_eq!(route("/commands/mntr"), Route::Command("mntr"));
        assert_eq!(route("/commands/mntr/"), Route::Command("mntr"));
        assert_eq!(route("/commands/a/b"), Route::NotFound);
        assert_eq!(route("/healthz"), Route::Healthz);
        assert_eq!(route("/readyz"), Route::Readyz);
        assert_eq!(route("/metrics"), Route::Metrics);
        assert_eq!(route("/api/v1/config/prod"), Route::Api);
        assert_eq!(route("/apix"), Route::NotFound);
        assert_eq!(route("/"), Route::NotFound);
        assert_eq!(route(""), Route::NotFound);
    }
}
