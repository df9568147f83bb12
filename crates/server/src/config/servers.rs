//! `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientAddr:]clientPort]`.

/// One ensemble member as written in a `server.N` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// The `N` of `server.N` (the member's myid).
    pub id: u64,
    /// Host name or IP address (IPv6 without the brackets).
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub role: PeerRole,
    /// The optional client endpoint after `;` (ZooKeeper 3.5+ dynamic-config form).
    pub client: Option<ClientEndpoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    Participant,
    Observer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEndpoint {
    /// `None` when only a port was given (ZooKeeper then listens on all addresses).
    pub address: Option<String>,
    pub port: u16,
}

/// Parses the id out of a `server.N` key; `None` when the suffix is not a number.
pub(super) fn parse_server_id(suffix: &str) -> Option<u64> {
    suffix.parse().ok()
}

/// Parses the value of a `server.N` line. The error is a human-readable reason.
pub(crate) fn parse_server_value(id: u64, value: &str) -> Result<ServerEntry, String> {
    if value.contains('|') {
        return Err("multiple addresses per server (`|`) are not supported".into());
    }
    let (peer_part, client_part) = match value.split_once(';') {
        Some((peer, client)) => (peer.trim(), Some(client.trim())),
        None => (value.trim(), None),
    };
    let (host, rest) = split_host(peer_part)?;
    let fields: Vec<&str> = rest.split(':').collect();
    let (quorum, election, role) = match fields.as_slice() {
        [q, e] => (*q, *e, PeerRole::Participant),
        [q, e, r] => (*q, *e, parse_role(r)?),
        _ => {
            return Err(format!(
                "expected host:quorumPort:electionPort[:participant|:observer], got {value:?}"
            ))
        }
    };
    let client = client_part.map(parse_client_endpoint).transpose()?;
    Ok(ServerEntry {
        id,
        host,
        quorum_port: parse_port(quorum, "quorum port")?,
        election_port: parse_port(election, "election port")?,
        role,
        client,
    })
}

/// Splits `host:rest` where host may be a bracketed IPv6 address.
fn split_host(text: &str) -> Result<(String, &str), String> {
    if let Some(after_bracket) = text.strip_prefix('[') {
        let (host, rest) = after_bracket
            .split_once(']')
            .ok_or_else(|| format!("unclosed `[` in {text:?}"))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| format!("expected `:` after `[{host}]`"))?;
        return Ok((host.to_string(), rest));
    }
    match text.split_once(':') {
        Some((host, rest)) if !host.is_empty() => Ok((host.to_string(), rest)),
        _ => Err(format!(
            "expected host:quorumPort:electionPort, got {text:?}"
        )),
    }
}

fn parse_role(text: &str) -> Result<PeerRole, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "participant" => Ok(PeerRole::Participant),
        "observer" => Ok(PeerRole::Observer),
        other => Err(format!(
            "expected `participant` or `observer`, got {other:?}"
        )),
    }
}

fn parse_client_endpoint(text: &str) -> Result<ClientEndpoint, String> {
    if let Some(after_bracket) = text.strip_prefix('[') {
        let (address, rest) = after_bracket
            .split_once("]:")
            .ok_or_else(|| format!("expected [address]:port, got {text:?}"))?;
        return Ok(ClientEndpoint {
            address: Some(address.to_string()),
            port: parse_port(rest, "client port")?,
        });
    }
    match text.rsplit_once(':') {
        Some((address, port)) => Ok(ClientEndpoint {
            address: Some(address.to_string()),
            port: parse_port(port, "client port")?,
        }),
        None => Ok(ClientEndpoint {
            address: None,
            port: parse_port(text, "client port")?,
        }),
    }
}

fn parse_port(text: &str, what: &str) -> Result<u16, String> {
    let text = text.trim();
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("{what}: expected a port 1-65535, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_participant() {
        let entry = parse_server_value(1, "zk1.example:2888:3888").expect("valid");
        assert_eq!(
            entry,
            ServerEntry {
                id: 1,
                host: "zk1.example".into(),
                quorum_port: 2888,
                election_port: 3888,
                role: PeerRole::Participant,
                client: None,
            }
        );
    }

    #[test]
    fn observer_with_client_address() {
        let entry = parse_server_value(3, "127.0.0.3:2890:3890:observer;0.0.0.0:2183").unwrap();
        assert_eq!(entry.role, PeerRole::Observer);
        assert_eq!(
            entry.client,
            Some(ClientEndpoint {
                address: Some("0.0.0.0".into()),
                port: 2183
            })
        );
    }

    #[test]
    fn client_port_only_and_explicit_participant() {
        let entry = parse_server_value(2, "h:1:2:participant;2182").unwrap();
        assert_eq!(entry.role, PeerRole::Participant);
        assert_eq!(
            entry.client,
            Some(ClientEndpoint {
                address: None,
                port: 2182
            })
        );
    }

    #[test]
    fn ipv6_hosts_in_brackets() {
        let entry = parse_server_value(4, "[::1]:2888:3888;[::1]:2181").unwrap();
        assert_eq!(entry.host, "::1");
        assert_eq!(entry.client.unwrap().address.as_deref(), Some("::1"));
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "host",
            "host:2888",
            "host:2888:3888:leader",
            "host:0:3888",
            "host:-1:3888",
            "host:2888:70000",
            ":2888:3888",
            "[::1:2888:3888",
            "h:1:2;notaport",
            "a:1:2|b:1:2",
        ] {
            assert!(parse_server_value(1, bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn server_ids_are_numbers() {
        assert_eq!(parse_server_id("12"), Some(12));
        assert_eq!(parse_server_id("x"), None);
        assert_eq!(parse_server_id("-1"), None);
    }
}
