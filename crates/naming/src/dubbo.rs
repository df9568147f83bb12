//! A read-only view of a Dubbo registry on the same ensemble: Dubbo providers register
//! `/dubbo/<interface>/providers/<URL-encoded provider URL>`, e.g.
//! `dubbo%3A%2F%2F10.0.0.1%3A20880%2Fcom.example.Greeter%3Fapplication%3Ddemo%26version%3D1.0.0`.
//! Parsing is pure; [`list_providers`] reads the tree.

use std::collections::BTreeMap;

use arbor_coord::Coordination;

use crate::registry::{NamingError, NodeWarning};

/// Dubbo's default registry root.
pub const DEFAULT_ROOT: &str = "/dubbo";

/// Parameters worth showing in a one-line summary, in this order.
pub const KEY_PARAMS: &[&str] = &[
    "application",
    "version",
    "group",
    "side",
    "weight",
    "methods",
];

/// One provider URL, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DubboProvider {
    /// The decoded URL.
    pub url: String,
    pub protocol: String,
    pub host: String,
    pub port: Option<u16>,
    /// The URL's path (normally the interface name).
    pub path: String,
    pub params: BTreeMap<String, String>,
}

impl DubboProvider {
    /// `host:port` (just the host without a port).
    pub fn endpoint(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// `key=value` for the [`KEY_PARAMS`] present, space-separated.
    pub fn key_params(&self) -> String {
        KEY_PARAMS
            .iter()
            .filter_map(|key| Some(format!("{key}={}", self.params.get(*key)?)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One interface and its providers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DubboInterface {
    pub name: String,
    pub providers: Vec<DubboProvider>,
}

/// Every interface under the root.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DubboListing {
    /// Sorted by name; providers sorted by URL.
    pub interfaces: Vec<DubboInterface>,
    /// Provider nodes that are not URLs.
    pub warnings: Vec<NodeWarning>,
}

/// Decodes `application/x-www-form-urlencoded` text as Java's `URLDecoder` (which Dubbo uses):
/// `%XX` escapes (UTF-8) and `+` for a space. `None` for a broken escape or invalid UTF-8.
pub fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = bytes.get(index + 1..index + 3)?;
                let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                decoded.push(value);
                index += 3;
            }
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// Parses one provider node name (URL-encoded) into its parts.
pub fn parse_provider(node_name: &str) -> Result<DubboProvider, String> {
    let url = url_decode(node_name).ok_or_else(|| "broken URL encoding".to_string())?;
    let (protocol, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("not a provider URL: {url}"))?;
    if protocol.is_empty() {
        return Err(format!("no protocol in {url}"));
    }
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = location.split_once('/').unwrap_or((location, ""));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("bad port {port:?} in {url}"))?;
            (host, Some(port))
        }
        _ => (authority, None),
    };
    let params = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => (pair.to_string(), String::new()),
        })
        .collect();
    Ok(DubboProvider {
        protocol: protocol.to_string(),
        host: host.to_string(),
        port,
        path: path.to_string(),
        params,
        url: url.clone(),
    })
}

/// Reads every `<root>/<interface>/providers` on `coord`.
pub async fn list_providers<C: Coordination>(
    coord: &C,
    root: &str,
) -> Result<DubboListing, NamingError> {
    let coord_error = |path: &str, source| NamingError::Coord {
        path: path.to_string(),
        source,
    };
    let root = root.trim_end_matches('/');
    let mut listing = DubboListing::default();
    let Some(mut interfaces) = coord
        .children(if root.is_empty() { "/" } else { root })
        .await
        .map_err(|err| coord_error(root, err))?
    else {
        return Ok(listing);
    };
    interfaces.sort();
    for name in interfaces {
        let providers_path = format!("{root}/{name}/providers");
        let nodes = coord
            .children(&providers_path)
            .await
            .map_err(|err| coord_error(&providers_path, err))?
            .unwrap_or_default();
        let mut providers = Vec::new();
        for node in nodes {
            match parse_provider(&node) {
                Ok(provider) => providers.push(provider),
                Err(error) => listing.warnings.push(NodeWarning {
                    path: format!("{providers_path}/{node}"),
                    error,
                }),
            }
        }
        providers.sort_by(|a, b| a.url.cmp(&b.url));
        listing.interfaces.push(DubboInterface { name, providers });
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider node name as Dubbo 2.7 writes it.
    const NODE: &str = "dubbo%3A%2F%2F10.0.0.1%3A20880%2Fcom.example.Greeter%3Fanyhost%3Dtrue%26application%3Ddemo-provider%26dubbo%3D2.0.2%26interface%3Dcom.example.Greeter%26methods%3DsayHello%2CsayBye%26pid%3D4242%26side%3Dprovider%26timestamp%3D1600000000000%26version%3D1.0.0";

    #[test]
    fn decodes_a_dubbo_provider_url() {
        let provider = parse_provider(NODE).unwrap();
        assert_eq!(provider.protocol, "dubbo");
        assert_eq!(provider.endpoint(), "10.0.0.1:20880");
        assert_eq!(provider.path, "com.example.Greeter");
        assert_eq!(provider.params["methods"], "sayHello,sayBye");
        assert_eq!(provider.params["version"], "1.0.0");
        assert!(provider
            .url
            .starts_with("dubbo://10.0.0.1:20880/com.example.Greeter?anyhost=true"));
        assert_eq!(
            provider.key_params(),
            "application=demo-provider version=1.0.0 side=provider methods=sayHello,sayBye"
        );
    }

    #[test]
    fn decoding_edge_cases() {
        assert_eq!(url_decode("a+b%20c%C3%A9").as_deref(), Some("a b cé"));
        assert_eq!(url_decode("%2"), None);
        assert_eq!(url_decode("%zz"), None);
        assert_eq!(url_decode("%ff"), None, "invalid UTF-8");
        let ipv6 = parse_provider("tri%3A%2F%2F%5B%3A%3A1%5D%3A50051%2Fsvc").unwrap();
        assert_eq!(ipv6.host, "[::1]");
        assert_eq!(ipv6.port, Some(50051));
        let bare = parse_provider("rest%3A%2F%2Fhost").unwrap();
        assert_eq!((bare.host.as_str(), bare.port), ("host", None));
        assert!(bare.params.is_empty());
        for bad in [
            "not-a-url",
            "%3A%2F%2Fhost",
            "dubbo%3A%2F%2Fh%3A99999%2Fx",
            "%E0",
        ] {
            assert!(parse_provider(bad).is_err(), "{bad}");
        }
    }
}
