//! The monitoring examples: they parse, promtool accepts them, they only use documented metric
//! names, and the Kubernetes scrape config selects the chart's headless Service.

use std::process::Command;

use arbor_chart_tests::{dashboard_queries, helm_binary, metric_names, monitoring_example, render};
use arbor_test_support::workspace_root;

fn read(name: &str) -> String {
    let path = monitoring_example(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn documented() -> String {
    std::fs::read_to_string(workspace_root().join("docs/metrics.md")).expect("docs/metrics.md")
}

fn assert_documented(source: &str, exprs: &[String]) {
    let docs = documented();
    let mut used = 0;
    for expr in exprs {
        for name in metric_names(expr, &docs) {
            used += 1;
            assert!(
                docs.contains(&format!("`{name}`")),
                "{source}: {name} (in {expr:?}) is not in docs/metrics.md"
            );
        }
    }
    assert!(used > 0, "{source} uses no arbor_ metric");
}

#[test]
fn metric_names_are_found_with_histogram_suffixes_removed() {
    let docs = "`arbor_fsync_time_seconds` `arbor_znode_count`";
    assert_eq!(
        metric_names(
            "rate(arbor_fsync_time_seconds_bucket[5m]) + arbor_znode_count + xarbor_no",
            docs
        ),
        vec!["arbor_fsync_time_seconds", "arbor_znode_count"]
    );
    // A suffix that is part of an undocumented name stays.
    assert_eq!(
        metric_names("arbor_thing_count", docs),
        vec!["arbor_thing_count"]
    );
}

#[test]
fn the_dashboard_uses_documented_metrics() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("grafana-dashboard.json")).expect("dashboard JSON");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 15, "{queries:?}");
    assert_documented("grafana-dashboard.json", &queries);
    let ids: Vec<i64> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(ids, unique, "panel ids must be unique");
}

#[test]
fn alerts_and_scrape_configs_parse_and_use_documented_metrics() {
    let alerts: serde_yaml::Value = serde_yaml::from_str(&read("alerts.yml")).expect("alerts.yml");
    let exprs: Vec<String> = alerts["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r["expr"].as_str().unwrap().to_owned())
        .collect();
    assert_documented("alerts.yml", &exprs);
    for name in ["prometheus.yml", "prometheus-kubernetes.yml"] {
        let config: serde_yaml::Value = serde_yaml::from_str(&read(name)).expect(name);
        let job = &config["scrape_configs"][0];
        assert_eq!(job["metrics_path"].as_str(), Some("/metrics"), "{name}");
        assert_eq!(
            config["rule_files"][0].as_str(),
            Some("alerts.yml"),
            "{name}"
        );
    }
}

#[test]
fn promtool_accepts_the_config_and_rules() {
    let promtool = std::path::Path::new("/usr/bin/promtool");
    if !promtool.is_file() {
        if std::env::var("SKIP_INSTALL").as_deref() == Ok("1") {
            eprintln!(
                "SKIPPED promtool_accepts_the_config_and_rules: no promtool and SKIP_INSTALL=1"
            );
            return;
        }
        panic!("no /usr/bin/promtool: install Debian's prometheus package (scripts/test.sh does)");
    }
    // prometheus-kubernetes.yml is not checked: Debian's build has no Kubernetes discovery.
    for args in [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "alerts.yml"],
    ] {
        let output = Command::new(promtool)
            .args(args)
            .current_dir(monitoring_example(""))
            .output()
            .expect("run promtool");
        assert!(
            output.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_kubernetes_scrape_config_selects_the_charts_headless_service() {
    if helm_binary().is_none() {
        eprintln!("SKIPPED: no helm (the chart tests report it)");
        return;
    }
    let config: serde_yaml::Value =
        serde_yaml::from_str(&read("prometheus-kubernetes.yml")).unwrap();
    let relabel = &config["scrape_configs"][0]["relabel_configs"];
    let keep = relabel
        .as_sequence()
        .unwrap()
        .iter()
        .find(|r| r["regex"].as_str() == Some("headless"))
        .expect("a keep rule on the headless label");
    let meta = keep["source_labels"][0].as_str().unwrap();
    let rendered = render("mon", "default", &[]).unwrap_or_else(|e| panic!("{e}"));
    let labels = rendered.get("Service", "mon-arbor-headless")["metadata"]["labels"]
        .as_mapping()
        .unwrap();
    // Prometheus turns a label `a.b/c` into `__meta_kubernetes_service_label_a_b_c`.
    let matching: Vec<&str> = labels
        .iter()
        .filter(|(_, v)| v.as_str() == Some("headless"))
        .map(|(k, _)| k.as_str().unwrap())
        .filter(|k| {
            let sanitized: String = k
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            meta == format!("__meta_kubernetes_service_label_{sanitized}")
        })
        .collect();
    assert_eq!(matching.len(), 1, "{meta} matches no label of {labels:?}");
    assert!(rendered.get("Service", "mon-arbor")["metadata"]["labels"]
        .get(matching[0])
        .is_none());
}
