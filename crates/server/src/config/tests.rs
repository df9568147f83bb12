//! Tests for the key interpreter, shared by both formats.

use super::*;

fn zoo(text: &str) -> ServerConfig {
    ServerConfig::parse_zoo_cfg(text, "zoo.cfg").unwrap_or_else(|e| panic!("{e}"))
}

fn zoo_err(text: &str) -> String {
    match ServerConfig::parse_zoo_cfg(text, "zoo.cfg") {
        Ok(config) => panic!("accepted {text:?} as {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn yaml(text: &str) -> ServerConfig {
    ServerConfig::parse_yaml(text, "arbor.yaml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn defaults_match_zookeeper_and_arbor_choices() {
    let c = ServerConfig::default();
    assert_eq!(c.tick_time_ms, 2000);
    assert_eq!(c.init_limit, 10);
    assert_eq!(c.sync_limit, 5);
    assert_eq!(c.data_dir, PathBuf::from("./arbor-data"));
    assert_eq!(c.data_log_dir, c.data_dir);
    assert_eq!(c.client_port, 2181);
    assert_eq!(c.client_socket_addr().to_string(), "0.0.0.0:2181");
    assert_eq!(c.secure_client_port, None);
    assert_eq!(c.max_client_cnxns, 60);
    assert_eq!(c.min_session_timeout_ms, 4000);
    assert_eq!(c.max_session_timeout_ms, 40000);
    assert!(c.admin.enabled);
    assert_eq!(c.admin_socket_addr().to_string(), "0.0.0.0:8080");
    assert_eq!(c.autopurge.snap_retain_count, 3);
    assert_eq!(c.autopurge.purge_interval_hours, 0);
    assert_eq!(c.snap_count, 100_000);
    assert!(c.force_sync);
    assert_eq!(c.jute_max_buffer, 1_048_575);
    assert_eq!(c.global_outstanding_limit, 1000);
    assert!(!c.extended_types_enabled);
    assert_eq!(c.container_check_interval_ms, 60_000);
    assert_eq!(c.super_digest, None);
    assert!(c.servers.is_empty());
    assert_eq!(c.metrics_http_port, None);
    assert!(c.standalone_enabled);
    assert!(!c.reconfig_enabled);
    assert!(c.is_standalone());
    assert!(c.ignored_keys.is_empty() && c.warnings.is_empty());
}

#[test]
fn empty_inputs_give_the_defaults() {
    assert_eq!(zoo(""), ServerConfig::default());
    assert_eq!(zoo("# nothing\n\n"), ServerConfig::default());
    assert_eq!(yaml(""), ServerConfig::default());
}

#[test]
fn every_key_is_read_from_zoo_cfg() {
    let c = zoo("tickTime=1000\n\
         initLimit=7\n\
         syncLimit=3\n\
         dataDir=/var/lib/arbor\n\
         dataLogDir=/var/log/arbor\n\
         clientPort=3181\n\
         clientPortAddress=127.0.0.1\n\
         secureClientPort=3281\n\
         ssl.certFile=/etc/arbor/tls/server.crt\n\
         ssl.keyFile=/etc/arbor/tls/server.key\n\
         ssl.trustFile=/etc/arbor/tls/ca.crt\n\
         ssl.clientAuth=WANT\n\
         admin.forceHttps=true\n\
         X509AuthenticationProvider.superUser=CN=root,O=Example\n\
         maxClientCnxns=0\n\
         minSessionTimeout=1500\n\
         maxSessionTimeout=90000\n\
         4lw.commands.whitelist=ruok, stat ,mntr\n\
         admin.enableServer=false\n\
         admin.serverAddress=127.0.0.2\n\
         admin.serverPort=9090\n\
         autopurge.snapRetainCount=10\n\
         autopurge.purgeInterval=24\n\
         snapCount=5000\n\
         forceSync=no\n\
         jute.maxbuffer=4194304\n\
         globalOutstandingLimit=500\n\
         extendedTypesEnabled=true\n\
         znode.container.checkIntervalMs=1000\n\
         DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n\
         metricsProvider.httpPort=7000\n\
         metricsProvider.httpHost=127.0.0.3\n\
         admin.tokensFile=/etc/arbor/tokens\n\
         admin.auditLog=/var/log/arbor/audit.log\n\
         standaloneEnabled=false\n\
         reconfigEnabled=true\n");
    assert_eq!(c.tick_time_ms, 1000);
    assert_eq!(c.init_limit, 7);
    assert_eq!(c.sync_limit, 3);
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/arbor"));
    assert_eq!(c.data_log_dir, PathBuf::from("/var/log/arbor"));
    assert_eq!(c.client_socket_addr().to_string(), "127.0.0.1:3181");
    assert_eq!(c.secure_client_port, Some(3281));
    assert_eq!(
        c.tls,
        TlsConfig {
            cert_file: Some(PathBuf::from("/etc/arbor/tls/server.crt")),
            key_file: Some(PathBuf::from("/etc/arbor/tls/server.key")),
            trust_file: Some(PathBuf::from("/etc/arbor/tls/ca.crt")),
            client_auth: Some(ClientAuth::Want),
            admin_https: true,
            x509_super_user: Some("CN=root,O=Example".into()),
        }
    );
    assert_eq!(c.max_client_cnxns, 0);
    assert_eq!(c.min_session_timeout_ms, 1500);
    assert_eq!(c.max_session_timeout_ms, 90000);
    assert_eq!(
        c.four_letter_words,
        FourLetterWords::Only(["mntr", "ruok", "stat"].map(String::from).into())
    );
    assert!(!c.admin.enabled);
    assert_eq!(c.admin_socket_addr().to_string(), "127.0.0.2:9090");
    assert_eq!(
        c.admin.tokens_file,
        Some(PathBuf::from("/etc/arbor/tokens"))
    );
    assert_eq!(
        c.audit_log_path(),
        PathBuf::from("/var/log/arbor/audit.log")
    );
    assert_eq!(c.autopurge.snap_retain_count, 10);
    assert_eq!(c.autopurge.purge_interval_hours, 24);
    assert_eq!(c.snap_count, 5000);
    assert!(!c.force_sync);
    assert_eq!(c.jute_max_buffer, 4_194_304);
    assert_eq!(c.global_outstanding_limit, 500);
    assert!(c.extended_types_enabled);
    assert_eq!(c.container_check_interval_ms, 1000);
    assert_eq!(
        c.super_digest.as_deref(),
        Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
    );
    assert_eq!(c.metrics_http_port, Some(7000));
    assert_eq!(
        c.metrics_socket_addr().map(|a| a.to_string()).as_deref(),
        Some("127.0.0.3:7000")
    );
    assert!(!c.standalone_enabled);
    assert!(c.reconfig_enabled);
    assert!(c.ignored_keys.is_empty(), "{:?}", c.ignored_keys);
}

#[test]
fn yaml_flat_and_nested_spellings_are_equivalent_to_zoo_cfg() {
    let from_zoo = zoo("tickTime=3000\n\
         clientPort=2191\n\
         autopurge.snapRetainCount=4\n\
         autopurge.purgeInterval=1\n\
         admin.serverPort=8181\n\
         4lw.commands.whitelist=ruok,srvr\n\
         server.1=127.0.0.1:2888:3888\n\
         server.2=127.0.0.2:2888:3888:observer;2182\n");
    let nested = yaml(
        "tickTime: 3000\n\
         clientPort: 2191\n\
         autopurge:\n  snapRetainCount: 4\n  purgeInterval: 1\n\
         admin:\n  serverPort: 8181\n\
         4lw.commands.whitelist: [ruok, srvr]\n\
         server:\n  1: 127.0.0.1:2888:3888\n  2: \"127.0.0.2:2888:3888:observer;2182\"\n",
    );
    let flat = yaml(
        "tickTime: 3000\n\
         clientPort: 2191\n\
         autopurge.snapRetainCount: 4\n\
         autopurge.purgeInterval: 1\n\
         admin.serverPort: 8181\n\
         4lw.commands.whitelist: ruok,srvr\n\
         server.1: 127.0.0.1:2888:3888\n\
         server.2: \"127.0.0.2:2888:3888:observer;2182\"\n",
    );
    assert_eq!(from_zoo, nested);
    assert_eq!(from_zoo, flat);
    assert_eq!(from_zoo.tick_time_ms, 3000);
    assert_eq!(from_zoo.servers.len(), 2);
}

#[test]
fn yaml_booleans_may_be_native_or_strings() {
    let c = yaml("forceSync: false\nextendedTypesEnabled: \"yes\"\nadmin: {enableServer: no}\n");
    assert!(!c.force_sync);
    assert!(c.extended_types_enabled);
    assert!(!c.admin.enabled);
}

#[test]
fn session_timeouts_derive_from_tick_time() {
    let c = zoo("tickTime=500\n");
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (1000, 10000)
    );
    // ZooKeeper's -1 also means "derive".
    let c = zoo("tickTime=500\nminSessionTimeout=-1\nmaxSessionTimeout=-1\n");
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (1000, 10000)
    );
}

#[test]
fn negotiated_session_timeout_is_clamped() {
    let c = zoo("minSessionTimeout=4000\nmaxSessionTimeout=40000\n");
    assert_eq!(c.negotiate_session_timeout(100), 4000);
    assert_eq!(c.negotiate_session_timeout(10000), 10000);
    assert_eq!(c.negotiate_session_timeout(i32::MAX), 40000);
    assert_eq!(c.negotiate_session_timeout(-5), 4000);
}

#[test]
fn min_session_timeout_above_max_is_refused() {
    let err = zoo_err("minSessionTimeout=50000\nmaxSessionTimeout=10000\n");
    assert_eq!(
        err,
        "zoo.cfg: minSessionTimeout (50000 ms) must not be larger than maxSessionTimeout (10000 ms)"
    );
    // The derived maximum (20 ticks) counts too.
    let err = zoo_err("tickTime=1000\nminSessionTimeout=30000\n");
    assert!(err.contains("must not be larger"), "{err}");
}

#[test]
fn session_timeout_beyond_i32_is_refused() {
    let err = zoo_err("maxSessionTimeout=3000000000\n");
    assert!(err.contains("32-bit"), "{err}");
}

#[test]
fn data_log_dir_defaults_to_data_dir_wherever_it_is_set() {
    assert_eq!(zoo("dataDir=/d\n").data_log_dir, PathBuf::from("/d"));
    let c = zoo("dataLogDir=/l\ndataDir=/d\n");
    assert_eq!(
        (c.data_dir, c.data_log_dir),
        (PathBuf::from("/d"), PathBuf::from("/l"))
    );
}

#[test]
fn later_duplicate_keys_win() {
    assert_eq!(zoo("clientPort=1\nclientPort=2\n").client_port, 2);
}

#[test]
fn four_letter_words_default_is_srvr_only() {
    let c = ServerConfig::default();
    assert!(c.four_letter_word_allowed("srvr"));
    assert!(!c.four_letter_word_allowed("ruok"));
    assert!(!c.four_letter_word_allowed("mntr"));
}

#[test]
fn four_letter_words_star_allows_all() {
    let c = zoo("4lw.commands.whitelist=*\n");
    assert_eq!(c.four_letter_words, FourLetterWords::All);
    for word in KNOWN_FOUR_LETTER_WORDS {
        assert!(c.four_letter_word_allowed(word), "{word}");
    }
    assert_eq!(
        zoo("4lw.commands.whitelist=ruok, *\n").four_letter_words,
        FourLetterWords::All
    );
}

#[test]
fn four_letter_words_list_allows_exactly_those_plus_srvr() {
    let c = zoo("4lw.commands.whitelist=ruok,stat\n");
    assert!(c.four_letter_word_allowed("ruok"));
    assert!(c.four_letter_word_allowed("stat"));
    assert!(c.four_letter_word_allowed("srvr"));
    assert!(!c.four_letter_word_allowed("mntr"));
    assert!(!c.four_letter_word_allowed("RUOK"));
    // An empty list leaves only srvr.
    let c = zoo("4lw.commands.whitelist=\n");
    assert!(c.four_letter_word_allowed("srvr"));
    assert!(!c.four_letter_word_allowed("ruok"));
}

#[test]
fn zookeeper_prefix_is_optional_for_system_property_keys() {
    let c = zoo(
        "zookeeper.DigestAuthenticationProvider.superDigest=super:abc=\n\
         zookeeper.extendedTypesEnabled=true\n\
         zookeeper.4lw.commands.whitelist=*\n\
         zookeeper.snapCount=42\n",
    );
    assert_eq!(c.super_digest.as_deref(), Some("super:abc="));
    assert!(c.extended_types_enabled);
    assert_eq!(c.four_letter_words, FourLetterWords::All);
    assert_eq!(c.snap_count, 42);
}

#[test]
fn super_digest_must_be_user_colon_digest() {
    for bad in ["nocolon", ":digest", "user:"] {
        let err = zoo_err(&format!("DigestAuthenticationProvider.superDigest={bad}\n"));
        assert!(
            err.starts_with(
                "zoo.cfg:1: DigestAuthenticationProvider.superDigest: expected user:base64digest"
            ),
            "{err}"
        );
    }
}

#[test]
fn unknown_keys_are_listed_once_in_order_and_never_fatal() {
    let c = zoo(
        "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
         ssl.keyStore.location=/x.jks\n\
         clientPort=2222\n\
         serverCnxnFactory=again\n",
    );
    assert_eq!(c.client_port, 2222);
    assert_eq!(
        c.ignored_keys,
        vec![
            "serverCnxnFactory".to_string(),
            "ssl.keyStore.location".to_string()
        ]
    );
    let c = yaml("ssl:\n  quorum:\n    keyStore: x\n");
    assert_eq!(c.ignored_keys, vec!["ssl.quorum.keyStore".to_string()]);
}

#[test]
fn integer_errors_name_file_line_and_key() {
    assert_eq!(
        zoo_err("clientPort=2181\n\n# c\nfoo=bar\ninitLimit=5\nsyncLimit=2\ntickTime=abc\n"),
        "zoo.cfg:7: tickTime: expected an integer, got \"abc\""
    );
    assert_eq!(
        zoo_err("tickTime=0\n"),
        "zoo.cfg:1: tickTime: must be at least 1, got 0"
    );
    assert_eq!(
        zoo_err("maxClientCnxns=-3\n"),
        "zoo.cfg:1: maxClientCnxns: must be at least 0, got -3"
    );
    assert_eq!(
        zoo_err("initLimit=99999999999\n"),
        "zoo.cfg:1: initLimit: 99999999999 is too large"
    );
    for key in [
        "initLimit",
        "syncLimit",
        "jute.maxbuffer",
        "globalOutstandingLimit",
        "znode.container.checkIntervalMs",
        "snapCount",
        "autopurge.purgeInterval",
        "autopurge.snapRetainCount",
        "minSessionTimeout",
        "maxSessionTimeout",
    ] {
        let err = zoo_err(&format!("{key}=1.5\n"));
        assert_eq!(
            err,
            format!("zoo.cfg:1: {key}: expected an integer, got \"1.5\"")
        );
    }
}

#[test]
fn port_errors_are_refused_for_every_port_key() {
    for key in [
        "clientPort",
        "secureClientPort",
        "admin.serverPort",
        "metricsProvider.httpPort",
    ] {
        for bad in ["-1", "0", "65536", "http"] {
            let err = zoo_err(&format!("{key}={bad}\n"));
            assert_eq!(
                err,
                format!("zoo.cfg:1: {key}: expected a port number 1-65535, got \"{bad}\"")
            );
        }
    }
}

#[test]
fn boolean_errors_are_refused_for_every_boolean_key() {
    for key in [
        "forceSync",
        "admin.enableServer",
        "extendedTypesEnabled",
        "standaloneEnabled",
        "reconfigEnabled",
    ] {
        let err = zoo_err(&format!("{key}=maybe\n"));
        assert_eq!(
            err,
            format!("zoo.cfg:1: {key}: expected true/false or yes/no, got \"maybe\"")
        );
    }
    assert!(zoo("forceSync=YES\n").force_sync);
}

#[test]
fn addresses_must_be_ip_addresses() {
    assert_eq!(
        zoo("clientPortAddress=localhost\n").client_port_address,
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
    assert_eq!(
        zoo("clientPortAddress=::1\nadmin.serverAddress=[::1]\n")
            .admin_socket_addr()
            .to_string(),
        "[::1]:8080"
    );
    assert_eq!(
        zoo_err("admin.serverAddress=not an ip\n"),
        "zoo.cfg:1: admin.serverAddress: expected an IP address, got \"not an ip\""
    );
    assert!(zoo_err("clientPortAddress=999.1.1.1\n").contains("clientPortAddress"));
}

#[test]
fn empty_data_dir_is_refused() {
    assert_eq!(
        zoo_err("dataDir=\n"),
        "zoo.cfg:1: dataDir: expected a directory path, got nothing"
    );
    assert!(zoo_err("dataLogDir=\n").contains("dataLogDir"));
}

#[test]
fn small_snap_counts_are_raised_with_a_warning_like_zookeeper() {
    let c = zoo("autopurge.snapRetainCount=1\nsnapCount=1\n");
    assert_eq!(c.autopurge.snap_retain_count, 3);
    assert_eq!(c.snap_count, 2);
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings[0].starts_with("zoo.cfg:1: autopurge.snapRetainCount"));
}

#[test]
fn admin_and_client_port_clash_is_refused() {
    let err = zoo_err("clientPort=8080\n");
    assert_eq!(
        err,
        "zoo.cfg: admin.serverPort and clientPort are both 8080"
    );
    // Not a clash when the admin server is off.
    assert_eq!(
        zoo("clientPort=8080\nadmin.enableServer=false\n").client_port,
        8080
    );
}

#[test]
fn server_lines_are_sorted_by_id_and_decide_standalone() {
    let c =
        zoo("server.3=h3:2890:3890:observer\nserver.1=h1:2888:3888;2181\nserver.2=h2:2889:3889\n");
    let ids: Vec<u64> = c.servers.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(c.servers[2].role, PeerRole::Observer);
    assert_eq!(c.servers[0].client.as_ref().map(|e| e.port), Some(2181));
    assert!(!c.is_standalone());

    assert!(zoo("server.1=h1:2888:3888\n").is_standalone());
    assert!(!zoo("server.1=h1:2888:3888\nstandaloneEnabled=false\n").is_standalone());
}

#[test]
fn bad_server_lines_name_the_line_and_key() {
    assert_eq!(
        zoo_err("tickTime=2000\nserver.x=h:1:2\n"),
        "zoo.cfg:2: server.x: expected server.<number>"
    );
    let err = zoo_err("server.1=h:2888\n");
    assert!(
        err.starts_with("zoo.cfg:1: server.1: expected host:quorumPort:electionPort"),
        "{err}"
    );
    let err = zoo_err("server.1=h:2888:3888:leader\n");
    assert!(
        err.contains("expected `participant` or `observer`"),
        "{err}"
    );
}

#[test]
fn yaml_errors_name_the_file_and_key() {
    let err = ServerConfig::parse_yaml("tickTime: abc\n", "arbor.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "arbor.yaml: tickTime: expected an integer, got \"abc\""
    );
    let err = ServerConfig::parse_yaml("autopurge:\n  purgeInterval: -2\n", "a.yml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "a.yml: autopurge.purgeInterval: must be at least 0, got -2"
    );
}

#[test]
fn syntax_errors_surface_from_parse_zoo_cfg() {
    assert_eq!(
        zoo_err("tickTime=2000\nthis is not a setting\n"),
        "zoo.cfg:2: expected `key=value`, got \"this is not a setting\""
    );
}

mod load {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        path
    }

    #[test]
    fn chooses_format_by_extension_then_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = write(&dir, "zoo.cfg", "clientPort=3001\n");
        let yml = write(&dir, "arbor.yml", "clientPort: 3002\n");
        let yaml_ext = write(&dir, "arbor.yaml", "# yaml\nclientPort: 3003\n");
        let sniffed_yaml = write(&dir, "arbor.conf", "clientPort: 3004\n");
        let sniffed_cfg = write(&dir, "arbor.conf2", "clientPort=3005\n");
        let ports: Vec<u16> = [cfg, yml, yaml_ext, sniffed_yaml, sniffed_cfg]
            .iter()
            .map(|p| ServerConfig::load(p).expect("loads").client_port)
            .collect();
        assert_eq!(ports, vec![3001, 3002, 3003, 3004, 3005]);
    }

    #[test]
    fn errors_carry_the_file_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, "zoo.cfg", "tickTime=2000\ntickTime=abc\n");
        let err = ServerConfig::load(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: tickTime: expected an integer, got \"abc\"",
                path.display()
            )
        );
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("absent.cfg");
        let err = ServerConfig::load(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
        assert!(err.to_string().contains("absent.cfg"), "{err}");
    }
}

#[test]
fn tls_settings_must_fit_together() {
    for (text, expected) in [
        (
            "secureClientPort=2281\n",
            "secureClientPort and admin.forceHttps need ssl.certFile and ssl.keyFile",
        ),
        (
            "admin.forceHttps=true\nssl.certFile=/c\n",
            "need ssl.certFile and ssl.keyFile",
        ),
        (
            "secureClientPort=2281\nssl.certFile=/c\nssl.keyFile=/k\nssl.clientAuth=need\n",
            "needs ssl.trustFile",
        ),
        (
            "clientPort=2281\nsecureClientPort=2281\nssl.certFile=/c\nssl.keyFile=/k\n",
            "secureClientPort and clientPort are both 2281",
        ),
    ] {
        let err = zoo_err(text);
        assert!(err.contains(expected), "{text:?}: {err}");
    }
    assert!(zoo_err("ssl.clientAuth=sometimes\n").contains("expected none, want or need"));
    // A trust file alone means client certificates are required, as in ZooKeeper.
    let c = ServerConfig::parse_zoo_cfg(
        "secureClientPort=2281\nssl.certFile=/c\nssl.keyFile=/k\nssl.trustFile=/t\n",
        "zoo.cfg",
    )
    .unwrap();
    assert_eq!(c.tls.effective_client_auth(), ClientAuth::Need);
    assert_eq!(
        ServerConfig::default().tls.effective_client_auth(),
        ClientAuth::None
    );
}

#[test]
fn quorum_tls_keys_are_read_from_zoo_cfg_and_yaml() {
    let c = zoo("sslQuorum=true\n\
         ssl.quorum.certFile=/etc/arbor/peer.pem\n\
         ssl.quorum.keyFile=/etc/arbor/peer.key\n\
         ssl.quorum.trustFile=/etc/arbor/peer-ca.pem\n\
         ssl.quorum.hostnameVerification=false\n\
         ssl.quorum.clientAuth=need\n");
    let expected = QuorumTlsConfig {
        enabled: true,
        cert_file: Some(PathBuf::from("/etc/arbor/peer.pem")),
        key_file: Some(PathBuf::from("/etc/arbor/peer.key")),
        trust_file: Some(PathBuf::from("/etc/arbor/peer-ca.pem")),
        hostname_verification: false,
    };
    assert_eq!(c.quorum_tls, expected);
    assert!(c.ignored_keys.is_empty(), "{:?}", c.ignored_keys);
    let nested = yaml(
        "sslQuorum: true\n\
         ssl:\n  quorum:\n    certFile: /etc/arbor/peer.pem\n    keyFile: /etc/arbor/peer.key\n\
         \x20   trustFile: /etc/arbor/peer-ca.pem\n    hostnameVerification: false\n",
    );
    assert_eq!(nested.quorum_tls, expected);
    let flat = yaml(
        "zookeeper.sslQuorum: \"yes\"\n\
         ssl.quorum.certFile: /etc/arbor/peer.pem\n\
         ssl.quorum.keyFile: /etc/arbor/peer.key\n\
         ssl.quorum.trustFile: /etc/arbor/peer-ca.pem\n\
         ssl.quorum.hostnameVerification: false\n",
    );
    assert_eq!(flat.quorum_tls, expected);

    let defaults = ServerConfig::default().quorum_tls;
    assert!(!defaults.enabled);
    assert!(defaults.hostname_verification, "ZooKeeper's default");
}

#[test]
fn quorum_tls_files_fall_back_to_the_client_port_files() {
    let c = zoo("sslQuorum=true\n\
         ssl.certFile=/c.pem\n\
         ssl.keyFile=/c.key\n\
         ssl.trustFile=/ca.pem\n\
         ssl.quorum.certFile=/peer.pem\n");
    let files = c.quorum_tls.files(&c.tls).unwrap();
    let pem = |key, path: &str| PemFile {
        key,
        path: PathBuf::from(path),
    };
    assert_eq!(
        files,
        QuorumTlsFiles {
            cert: pem("ssl.quorum.certFile", "/peer.pem"),
            key: pem("ssl.keyFile", "/c.key"),
            trust: pem("ssl.trustFile", "/ca.pem"),
        }
    );
    // The client port's policy is its own: a trust file for peers asks nothing of clients
    // when it is given under ssl.quorum only.
    let c = zoo("sslQuorum=true\n\
         ssl.quorum.certFile=/p.pem\nssl.quorum.keyFile=/p.key\nssl.quorum.trustFile=/ca.pem\n");
    assert_eq!(c.tls.effective_client_auth(), ClientAuth::None);
}

#[test]
fn quorum_tls_without_certificate_key_or_trust_is_refused_naming_the_key() {
    for (text, key) in [
        ("sslQuorum=true\n", "ssl.quorum.certFile (or ssl.certFile)"),
        (
            "sslQuorum=true\nssl.certFile=/c\n",
            "ssl.quorum.keyFile (or ssl.keyFile)",
        ),
        (
            "sslQuorum=true\nssl.quorum.certFile=/c\nssl.quorum.keyFile=/k\n",
            "ssl.quorum.trustFile (or ssl.trustFile)",
        ),
    ] {
        let err = zoo_err(text);
        assert!(
            err.contains(&format!("sslQuorum=true needs {key}")),
            "{text:?}: {err}"
        );
        let err = ServerConfig::parse_yaml(&text.replace('=', ": "), "arbor.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("arbor.yaml: sslQuorum=true needs"), "{err}");
    }
    // Files named but sslQuorum off: nothing is required.
    let c = zoo("ssl.quorum.certFile=/c\n");
    assert!(!c.quorum_tls.enabled);
}

#[test]
fn quorum_tls_values_are_checked() {
    for (text, expected) in [
        (
            "sslQuorum=maybe\n",
            "zoo.cfg:1: sslQuorum: expected true/false",
        ),
        (
            "ssl.quorum.hostnameVerification=sometimes\n",
            "zoo.cfg:1: ssl.quorum.hostnameVerification: expected true/false",
        ),
        ("ssl.quorum.certFile=\n", "zoo.cfg:1: ssl.quorum.certFile:"),
        (
            "ssl.quorum.clientAuth=none\n",
            "peers always require each other's certificates",
        ),
        (
            "ssl.quorum.clientAuth=want\n",
            "peers always require each other's certificates",
        ),
        (
            "ssl.quorum.clientAuth=often\n",
            "expected none, want or need",
        ),
    ] {
        let err = zoo_err(text);
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}

#[test]
fn config_center_credentials_inline_or_from_a_file_never_echo_the_password() {
    let c = zoo("configCenter.auth=digest:deployer:pa:ss\n");
    let credential = c.config_center_credential().unwrap().unwrap();
    assert_eq!(credential.user(), "deployer");
    assert_eq!(credential.auth_bytes(), b"deployer:pa:ss");
    assert!(!format!("{c:?}").contains("pa:ss"));
    assert_eq!(
        ServerConfig::default().config_center_credential().unwrap(),
        None
    );

    for bad in ["deployer:pw", "digest:nopassword", "sasl:u:p", "digest::pw"] {
        let err = zoo_err(&format!("configCenter.auth={bad}\n"));
        assert!(
            err.starts_with("zoo.cfg:1: configCenter.auth: expected digest:<user>:<password>"),
            "{err}"
        );
        assert!(!err.contains(bad), "{err}");
    }
    let err = zoo_err("configCenter.auth=digest:a:b\nconfigCenter.authFile=/x\n");
    assert!(err.contains("exclusive"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cc-auth");
    std::fs::write(&file, "digest:deployer:s3cret\n").unwrap();
    let c = yaml(&format!("configCenter:\n  authFile: {}\n", file.display()));
    let credential = c.config_center_credential().unwrap().unwrap();
    assert_eq!(credential.auth_bytes(), b"deployer:s3cret");
    std::fs::write(&file, "deployer-s3cret\n").unwrap();
    let err = c.config_center_credential().unwrap_err().to_string();
    assert!(err.contains("configCenter.authFile"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn tokens_without_a_config_center_credential_are_warned_about() {
    let c = zoo("admin.tokensFile=/etc/arbor/tokens\n");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("configCenter.auth is not")),
        "{:?}",
        c.warnings
    );
    let c = zoo("admin.tokensFile=/etc/arbor/tokens\nconfigCenter.auth=digest:a:b\n");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}
