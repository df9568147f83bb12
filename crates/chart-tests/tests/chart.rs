//! `helm lint` and `helm template` of charts/arbor, with assertions on the rendered objects for
//! default and non-default values.

use std::collections::BTreeMap;

use arbor_chart_tests::{helm_binary, lint, render, ChartError, Rendered};
use serde_yaml::Value;

/// False (with a message) when Helm is missing and installs were skipped on purpose; a missing
/// Helm is a failure otherwise.
fn helm_available(test: &str) -> bool {
    if helm_binary().is_some() {
        return true;
    }
    if std::env::var("SKIP_INSTALL").as_deref() == Ok("1") {
        eprintln!("SKIPPED {test}: no helm and SKIP_INSTALL=1 (scripts/test.sh installs it)");
        return false;
    }
    panic!("no helm binary: run /work/shared/tools/install-helm (scripts/test.sh does) or set HELM_BIN");
}

fn zoo_cfg(rendered: &Rendered, configmap: &str) -> BTreeMap<String, String> {
    rendered.get("ConfigMap", configmap)["data"]["zoo.cfg"]
        .as_str()
        .expect("zoo.cfg")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["containers"]
        .as_sequence()
        .and_then(|cs| cs.iter().find(|c| c["name"].as_str() == Some(name)))
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn port(container: &Value, name: &str) -> i64 {
    container["ports"]
        .as_sequence()
        .and_then(|ps| ps.iter().find(|p| p["name"].as_str() == Some(name)))
        .and_then(|p| p["containerPort"].as_i64())
        .unwrap_or_else(|| panic!("no port {name}"))
}

fn service_ports(service: &Value) -> BTreeMap<String, i64> {
    service["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| (s(&p["name"]).to_owned(), p["port"].as_i64().unwrap()))
        .collect()
}

#[test]
fn lint_is_clean_for_default_and_full_values() {
    if !helm_available("lint_is_clean_for_default_and_full_values") {
        return;
    }
    lint(&[]).unwrap_or_else(|e| panic!("{e}"));
    lint(&[
        "replicas=5",
        "tls.enabled=true",
        "tls.existingSecret=arbor-tls",
        "tls.admin=true",
        "tls.clientAuth=need",
        "tls.quorum=true",
        "metrics.serviceMonitor.enabled=true",
        "agent.enabled=true",
        "apiAuth.existingSecret=arbor-tokens",
        "persistence.enabled=false",
    ])
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn default_values_render_a_three_member_ensemble() {
    if !helm_available("default_values_render_a_three_member_ensemble") {
        return;
    }
    let r = render("prod", "coord", &[]).unwrap_or_else(|e| panic!("{e}"));
    let mut kinds: Vec<String> = r.summary();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap/prod-arbor",
            "PodDisruptionBudget/prod-arbor",
            "Service/prod-arbor",
            "Service/prod-arbor-headless",
            "StatefulSet/prod-arbor",
        ]
    );

    let sts = r.get("StatefulSet", "prod-arbor");
    let spec = &sts["spec"];
    assert_eq!(spec["replicas"].as_i64(), Some(3));
    assert_eq!(s(&spec["serviceName"]), "prod-arbor-headless");
    assert_eq!(s(&spec["podManagementPolicy"]), "Parallel");
    let selector = &spec["selector"]["matchLabels"];
    let pod_labels = &spec["template"]["metadata"]["labels"];
    for (k, v) in selector.as_mapping().unwrap() {
        assert_eq!(&pod_labels[k], v, "pod labels must match the selector");
    }
    let pod = &spec["template"]["spec"];

    // myid from the ordinal, before the server starts.
    let init = &pod["initContainers"][0];
    assert_eq!(s(&init["name"]), "myid");
    let script = s(&init["command"][2]);
    assert!(
        script.contains("${HOSTNAME##*-}") && script.contains("/data/myid"),
        "{script}"
    );

    let arbor = container(pod, "arbor");
    assert_eq!(s(&arbor["image"]), "arbor:0.1.0");
    assert_eq!(
        arbor["args"],
        serde_yaml::from_str::<Value>("[server, --config, /conf/zoo.cfg]").unwrap()
    );
    assert_eq!(port(arbor, "client"), 2181);
    assert_eq!(port(arbor, "quorum"), 2888);
    assert_eq!(port(arbor, "election"), 3888);
    assert_eq!(port(arbor, "admin"), 8080);
    assert_eq!(s(&arbor["livenessProbe"]["httpGet"]["path"]), "/healthz");
    assert_eq!(s(&arbor["livenessProbe"]["httpGet"]["port"]), "admin");
    assert_eq!(s(&arbor["livenessProbe"]["httpGet"]["scheme"]), "HTTP");
    assert_eq!(s(&arbor["readinessProbe"]["httpGet"]["path"]), "/readyz");
    assert_eq!(s(&arbor["resources"]["requests"]["memory"]), "512Mi");
    assert_eq!(s(&arbor["resources"]["limits"]["memory"]), "2Gi");

    // Soft anti-affinity over nodes, on the pods' own labels.
    let preferred =
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(preferred["weight"].as_i64(), Some(100));
    assert_eq!(
        s(&preferred["podAffinityTerm"]["topologyKey"]),
        "kubernetes.io/hostname"
    );
    assert_eq!(
        &preferred["podAffinityTerm"]["labelSelector"]["matchLabels"],
        selector
    );
    assert!(
        pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            .is_null()
    );

    // One PVC per member.
    let claim = &spec["volumeClaimTemplates"][0];
    assert_eq!(s(&claim["metadata"]["name"]), "data");
    assert_eq!(
        s(&claim["spec"]["resources"]["requests"]["storage"]),
        "10Gi"
    );
    assert!(claim["spec"]["storageClassName"].is_null());

    // zoo.cfg: values, the admin port, and one server.N line per member (headless names).
    let cfg = zoo_cfg(&r, "prod-arbor");
    assert_eq!(cfg["tickTime"], "2000");
    assert_eq!(cfg["initLimit"], "10");
    assert_eq!(cfg["syncLimit"], "5");
    assert_eq!(cfg["dataDir"], "/data");
    assert_eq!(cfg["clientPort"], "2181");
    assert_eq!(cfg["admin.serverPort"], "8080");
    for i in 1..=3 {
        assert_eq!(
            cfg[&format!("server.{i}")],
            format!(
                "prod-arbor-{}.prod-arbor-headless.coord.svc.cluster.local:2888:3888;2181",
                i - 1
            )
        );
    }
    assert!(!cfg.contains_key("server.4"));
    assert!(!cfg.contains_key("secureClientPort"));
    assert!(!cfg.contains_key("sslQuorum"));
    assert!(!cfg.contains_key("admin.tokensFile"));
    // A config change rolls the pods.
    assert!(spec["template"]["metadata"]["annotations"]["checksum/config"].is_string());

    // Services: headless for the members (resolvable before ready), ClusterIP for clients.
    let headless = r.get("Service", "prod-arbor-headless");
    assert_eq!(s(&headless["spec"]["clusterIP"]), "None");
    assert_eq!(
        headless["spec"]["publishNotReadyAddresses"].as_bool(),
        Some(true)
    );
    assert_eq!(
        service_ports(headless),
        BTreeMap::from([
            ("client".into(), 2181),
            ("quorum".into(), 2888),
            ("election".into(), 3888),
            ("admin".into(), 8080),
        ])
    );
    let client = r.get("Service", "prod-arbor");
    assert_eq!(s(&client["spec"]["type"]), "ClusterIP");
    assert_eq!(
        service_ports(client),
        BTreeMap::from([("client".into(), 2181), ("admin".into(), 8080)])
    );
    assert_eq!(&client["spec"]["selector"], selector);

    let pdb = r.get("PodDisruptionBudget", "prod-arbor");
    assert_eq!(pdb["spec"]["maxUnavailable"].as_i64(), Some(1));
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
}

#[test]
fn non_default_values_change_the_rendered_objects() {
    if !helm_available("non_default_values_change_the_rendered_objects") {
        return;
    }
    let r = render(
        "edge",
        "infra",
        &[
            "replicas=5",
            "config.tickTime=3000",
            "config.maxSessionTimeout=60000",
            "config.extra.extendedTypesEnabled=true",
            "persistence.size=50Gi",
            "persistence.storageClass=fast-ssd",
            "resources.limits.memory=8Gi",
            "resources.requests.cpu=2",
            "antiAffinity=hard",
            "tls.enabled=true",
            "tls.existingSecret=arbor-tls",
            "tls.clientAuth=need",
            "tls.admin=true",
            "tls.quorum=true",
            "apiAuth.existingSecret=arbor-tokens",
            "apiAuth.configCenterKey=config-center-credential",
            "metrics.serviceMonitor.enabled=true",
            "metrics.serviceMonitor.interval=15s",
            "agent.enabled=true",
            "agent.hostPaths[0]=/etc/myapp",
            "podDisruptionBudget.maxUnavailable=2",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let sts = r.get("StatefulSet", "edge-arbor");
    assert_eq!(sts["spec"]["replicas"].as_i64(), Some(5));
    let pod = &sts["spec"]["template"]["spec"];
    let arbor = container(pod, "arbor");
    assert_eq!(s(&arbor["resources"]["limits"]["memory"]), "8Gi");
    assert_eq!(arbor["resources"]["requests"]["cpu"].as_i64(), Some(2));
    assert_eq!(port(arbor, "secure-client"), 2281);
    // HTTPS admin port: the probes follow.
    assert_eq!(s(&arbor["livenessProbe"]["httpGet"]["scheme"]), "HTTPS");
    assert_eq!(s(&arbor["readinessProbe"]["httpGet"]["scheme"]), "HTTPS");
    let required =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(s(&required["topologyKey"]), "kubernetes.io/hostname");
    assert!(
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            .is_null()
    );
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(
        s(&claim["spec"]["resources"]["requests"]["storage"]),
        "50Gi"
    );
    assert_eq!(s(&claim["spec"]["storageClassName"]), "fast-ssd");
    // The TLS and token Secrets are mounted where zoo.cfg points.
    let volumes = pod["volumes"].as_sequence().unwrap();
    let secret_of = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .map(|v| s(&v["secret"]["secretName"]).to_owned())
    };
    assert_eq!(secret_of("tls").as_deref(), Some("arbor-tls"));
    assert_eq!(secret_of("api-tokens").as_deref(), Some("arbor-tokens"));
    let token_items = volumes
        .iter()
        .find(|v| v["name"].as_str() == Some("api-tokens"))
        .map(|v| v["secret"]["items"].as_sequence().unwrap().clone())
        .unwrap();
    let item_paths: Vec<(&str, &str)> = token_items
        .iter()
        .map(|i| (s(&i["key"]), s(&i["path"])))
        .collect();
    assert_eq!(
        item_paths,
        [
            ("tokens", "tokens"),
            ("config-center-credential", "config-center")
        ]
    );

    let cfg = zoo_cfg(&r, "edge-arbor");
    assert_eq!(cfg["tickTime"], "3000");
    assert_eq!(cfg["maxSessionTimeout"], "60000");
    assert_eq!(cfg["extendedTypesEnabled"], "true");
    assert_eq!(cfg["secureClientPort"], "2281");
    assert_eq!(cfg["ssl.certFile"], "/tls/tls.crt");
    assert_eq!(cfg["ssl.keyFile"], "/tls/tls.key");
    assert_eq!(cfg["ssl.trustFile"], "/tls/ca.crt");
    assert_eq!(cfg["ssl.clientAuth"], "need");
    assert_eq!(cfg["admin.forceHttps"], "true");
    // The members talk TLS with the same files (ssl.quorum.* fall back to ssl.*).
    assert_eq!(cfg["sslQuorum"], "true");
    assert_eq!(cfg["admin.tokensFile"], "/auth/tokens");
    assert_eq!(cfg["configCenter.authFile"], "/auth/config-center");
    assert_eq!(
        cfg["server.5"],
        "edge-arbor-4.edge-arbor-headless.infra.svc.cluster.local:2888:3888;2181"
    );
    assert!(!cfg.contains_key("server.6"));

    let client = r.get("Service", "edge-arbor");
    assert_eq!(service_ports(client)["secure-client"], 2281);
    assert_eq!(
        r.get("PodDisruptionBudget", "edge-arbor")["spec"]["maxUnavailable"].as_i64(),
        Some(2)
    );

    // The ServiceMonitor scrapes each member once (headless Service), over HTTPS.
    let monitor = r.get("ServiceMonitor", "edge-arbor");
    assert_eq!(s(&monitor["apiVersion"]), "monitoring.coreos.com/v1");
    assert_eq!(
        s(&monitor["spec"]["selector"]["matchLabels"]["arbor.io/service"]),
        "headless"
    );
    assert_eq!(
        s(&r.get("Service", "edge-arbor-headless")["metadata"]["labels"]["arbor.io/service"]),
        "headless"
    );
    assert!(r.get("Service", "edge-arbor")["metadata"]["labels"]["arbor.io/service"].is_null());
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(s(&endpoint["port"]), "admin");
    assert_eq!(s(&endpoint["path"]), "/metrics");
    assert_eq!(s(&endpoint["interval"]), "15s");
    assert_eq!(s(&endpoint["scheme"]), "https");

    // The agent: a DaemonSet reading its config from a ConfigMap that points at the ensemble.
    let agent = r.get("DaemonSet", "edge-arbor-agent");
    let agent_pod = &agent["spec"]["template"]["spec"];
    let agent_container = container(agent_pod, "agent");
    assert_eq!(s(&agent_container["image"]), "arbor-agent:0.1.0");
    assert_eq!(
        agent_container["args"],
        serde_yaml::from_str::<Value>("[--config, /etc/arbor/agent.yaml]").unwrap()
    );
    let agent_volumes = agent_pod["volumes"].as_sequence().unwrap();
    assert!(agent_volumes
        .iter()
        .any(|v| v["configMap"]["name"].as_str() == Some("edge-arbor-agent")));
    assert!(agent_volumes
        .iter()
        .any(|v| v["hostPath"]["path"].as_str() == Some("/etc/myapp")));
    let agent_config: Value = serde_yaml::from_str(s(
        &r.get("ConfigMap", "edge-arbor-agent")["data"]["agent.yaml"]
    ))
    .unwrap();
    assert_eq!(
        s(&agent_config["servers"]),
        "edge-arbor.infra.svc.cluster.local:2181"
    );
    assert_eq!(s(&agent_config["cache_dir"]), "/var/cache/arbor-agent");
    assert_eq!(
        &agent["spec"]["selector"]["matchLabels"],
        &agent["spec"]["template"]["metadata"]["labels"]
    );
}

#[test]
fn single_member_and_ephemeral_storage() {
    if !helm_available("single_member_and_ephemeral_storage") {
        return;
    }
    let r = render(
        "dev",
        "default",
        &[
            "replicas=1",
            "persistence.enabled=false",
            "podDisruptionBudget.enabled=false",
            "antiAffinity=none",
            "agent.config.servers=zk.example:2181",
            "agent.enabled=true",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cfg = zoo_cfg(&r, "dev-arbor");
    assert!(
        !cfg.keys().any(|k| k.starts_with("server.")),
        "one member runs standalone: {cfg:?}"
    );
    let sts = r.get("StatefulSet", "dev-arbor");
    assert!(sts["spec"]["volumeClaimTemplates"].is_null());
    let data = sts["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str() == Some("data"))
        .expect("data volume");
    assert!(data["emptyDir"].is_mapping());
    assert!(sts["spec"]["template"]["spec"]["affinity"].is_null());
    assert!(r.of_kind("PodDisruptionBudget").is_empty());
    // A servers value given for the agent wins over the default.
    let agent_config: Value = serde_yaml::from_str(s(
        &r.get("ConfigMap", "dev-arbor-agent")["data"]["agent.yaml"]
    ))
    .unwrap();
    assert_eq!(s(&agent_config["servers"]), "zk.example:2181");
}

#[test]
fn invalid_values_fail_with_a_clear_message() {
    if !helm_available("invalid_values_fail_with_a_clear_message") {
        return;
    }
    for (sets, expected) in [
        (vec!["replicas=0"], "replicas must be at least 1"),
        (
            vec!["tls.enabled=true"],
            "tls.enabled needs tls.existingSecret",
        ),
        (vec!["tls.admin=true"], "tls.admin needs tls.enabled"),
        (vec!["tls.quorum=true"], "tls.quorum needs tls.enabled"),
        (
            vec![
                "tls.enabled=true",
                "tls.existingSecret=x",
                "tls.clientAuth=sometimes",
            ],
            "tls.clientAuth must be none, want or need",
        ),
        (
            vec!["antiAffinity=strict"],
            "antiAffinity must be soft, hard or none",
        ),
    ] {
        match render("bad", "default", &sets) {
            Err(ChartError::Failed { output, .. }) => {
                assert!(output.contains(expected), "{sets:?}: {output}")
            }
            other => panic!("{sets:?} rendered: {other:?}"),
        }
    }
}
