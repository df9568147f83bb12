//! The zoo.cfg the chart renders is accepted by the server's own configuration parser, with
//! every key known (none ignored), for the default values and with TLS (clients, admin port,
//! members) and tokens.

use arbor_chart_tests::{helm_binary, render};
use arbor_server::config::ClientAuth;
use arbor_server::ServerConfig;

fn parsed(sets: &[&str]) -> ServerConfig {
    let rendered = render("cfg", "ns", sets).unwrap_or_else(|e| panic!("{e}"));
    let text = rendered.get("ConfigMap", "cfg-arbor")["data"]["zoo.cfg"]
        .as_str()
        .expect("zoo.cfg")
        .to_owned();
    ServerConfig::parse_zoo_cfg(&text, "chart zoo.cfg").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn the_rendered_zoo_cfg_parses_with_no_ignored_key() {
    if helm_binary().is_none() {
        eprintln!("SKIPPED: no helm (the chart tests report it)");
        return;
    }
    let config = parsed(&[]);
    assert!(config.ignored_keys.is_empty(), "{:?}", config.ignored_keys);
    assert_eq!(config.servers.len(), 3);
    assert_eq!(
        config.servers[2].host,
        "cfg-arbor-2.cfg-arbor-headless.ns.svc.cluster.local"
    );
    assert_eq!(
        config.servers[0].client.as_ref().map(|c| c.port),
        Some(2181)
    );
    assert!(config.admin.enabled);
    assert_eq!(config.admin.port, 8080);

    let config = parsed(&[
        "tls.enabled=true",
        "tls.existingSecret=s",
        "tls.clientAuth=want",
        "tls.admin=true",
        "tls.quorum=true",
        "apiAuth.existingSecret=t",
        "apiAuth.configCenterKey=cc",
        "config.extra.extendedTypesEnabled=true",
    ]);
    assert!(config.ignored_keys.is_empty(), "{:?}", config.ignored_keys);
    assert_eq!(config.secure_client_port, Some(2281));
    assert_eq!(config.tls.effective_client_auth(), ClientAuth::Want);
    assert!(config.tls.admin_https);
    // Peers use the Secret's files too, through the ssl.* fallback.
    assert!(config.quorum_tls.enabled);
    let peer_files = config
        .quorum_tls
        .files(&config.tls)
        .expect("peer TLS files");
    assert_eq!(peer_files.cert.path, std::path::Path::new("/tls/tls.crt"));
    assert_eq!(peer_files.key.path, std::path::Path::new("/tls/tls.key"));
    assert_eq!(peer_files.trust.path, std::path::Path::new("/tls/ca.crt"));
    assert!(config.quorum_tls.hostname_verification);
    assert_eq!(
        config.admin.tokens_file.as_deref(),
        Some(std::path::Path::new("/auth/tokens"))
    );
    assert_eq!(
        config.config_center_auth,
        Some(arbor_server::config::CredentialSetting::File(
            "/auth/config-center".into()
        ))
    );
    assert!(config.extended_types_enabled);
}
