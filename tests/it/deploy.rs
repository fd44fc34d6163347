//! Every file in deploy/ checked by its own tool (installed by `make
//! test`): systemd-analyze, stemedb config check, promtool (config, rules,
//! rule unit tests), nginx -t, haproxy -c; Envoy (no Debian package) by
//! parsing its YAML. And a live node exports every metric an alert rule or
//! a dashboard panel names. (pgbouncer's file runs for real in
//! tests/it/clients.rs.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::TestServer;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

/// Runs a checker; it must succeed and say nothing on stderr about a
/// problem (systemd-analyze only warns about unknown keys).
fn check(program: &str, args: &[&str], dir: &Path) -> Output {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} (make test installs it): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{stdout}\n{stderr}"
    );
    output
}

#[test]
fn systemd_units_verify() {
    // systemd-analyze checks that ExecStart's binary exists: point it at
    // this build, change nothing else. Timers are checked with their
    // services next to them.
    let tmp = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for entry in std::fs::read_dir(deploy("systemd")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".service") || name.ends_with(".timer")) {
            continue;
        }
        let unit = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/bin/stemedb", &crate::support::BINARY);
        std::fs::write(tmp.path().join(&name), unit).unwrap();
        units.push(name);
    }
    units.sort();
    // The timers' jobs never start a node that was stopped on purpose.
    for job in ["stemedb-archive.service", "stemedb-backup.service"] {
        let unit = std::fs::read_to_string(deploy(&format!("systemd/{job}"))).unwrap();
        assert!(
            !unit.contains("Requires=stemedb.service"),
            "{job} starts the node"
        );
        assert!(
            unit.contains("ExecCondition=/bin/systemctl is-active --quiet stemedb.service"),
            "{job} runs while the node is stopped"
        );
    }
    assert_eq!(
        units,
        [
            "stemedb-archive.service",
            "stemedb-archive.timer",
            "stemedb-backup-verify.service",
            "stemedb-backup-verify.timer",
            "stemedb-backup.service",
            "stemedb-backup.timer",
            "stemedb.service"
        ]
    );
    let mut args = vec!["verify"];
    args.extend(units.iter().map(String::as_str));
    let out = check("systemd-analyze", &args, tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("stemedb"),
        "systemd-analyze warns:\n{stderr}"
    );
}

#[test]
fn example_configuration_is_valid() {
    // As packaged (/etc/stemedb/stemedb.toml) it serves loopback only, so it
    // is valid with nothing else set.
    let out = Command::new(&*crate::support::BINARY)
        .args(["config", "check"])
        .arg(deploy("systemd/stemedb.toml"))
        .env_remove("STEMEDB_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("log_format = \"json\""), "{stdout}");
    // Moved off loopback it needs the password systemd reads from
    // stemedb.env, and says so; with it, it is valid and the password is
    // not shown.
    let check = |password: Option<&str>| {
        let mut cmd = Command::new(&*crate::support::BINARY);
        cmd.args(["config", "check"])
            .arg(deploy("systemd/stemedb.toml"))
            .env("STEMEDB_LISTEN", "10.0.0.11:18180")
            .env_remove("STEMEDB_PASSWORD");
        if let Some(p) = password {
            cmd.env("STEMEDB_PASSWORD", p);
        }
        cmd.output().unwrap()
    };
    let out = check(None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
    let out = check(Some("from-stemedb.env"));
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("from-stemedb.env"));
}

#[test]
fn prometheus_config_rules_and_rule_tests_pass() {
    let dir = deploy("prometheus");
    // promtool checks the scrape token's file exists: a copy of the config
    // points at one made here.
    let tmp = tempfile::tempdir().unwrap();
    let token = tmp.path().join("stemedb.token");
    std::fs::write(&token, "a-token\n").unwrap();
    let config = std::fs::read_to_string(dir.join("prometheus.yml")).unwrap();
    assert!(config.contains("credentials_file: /etc/prometheus/stemedb.token"));
    assert!(config.contains("alertmanagers:"), "alerts reach no one");
    let config = config.replace("/etc/prometheus/stemedb.token", token.to_str().unwrap());
    std::fs::write(tmp.path().join("prometheus.yml"), config).unwrap();
    std::fs::copy(dir.join("alerts.yml"), tmp.path().join("alerts.yml")).unwrap();
    check(
        "promtool",
        &["check", "config", "prometheus.yml"],
        tmp.path(),
    );
    check("promtool", &["check", "rules", "alerts.yml"], &dir);
    let out = check("promtool", &["test", "rules", "alerts_test.yml"], &dir);
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));
}

#[test]
fn proxies_accept_their_configs() {
    let nginx = deploy("nginx/nginx.conf");
    check(
        "nginx",
        &["-t", "-c", nginx.to_str().unwrap()],
        &deploy("nginx"),
    );
    check("haproxy", &["-c", "-f", "haproxy.cfg"], &deploy("haproxy"));
}

/// The Envoy config as JSON (PyYAML, installed by `make test`).
fn envoy_config() -> serde_json::Value {
    let out = check(
        "python3",
        &[
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
            deploy("envoy/envoy.yaml").to_str().unwrap(),
        ],
        &deploy("envoy"),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn envoy_proxies_to_three_nodes_health_checked_on_ready() {
    let config = envoy_config();
    let resources = &config["static_resources"];
    let listener = &resources["listeners"][0];
    let proxy = &listener["filter_chains"][0]["filters"][0];
    assert_eq!(proxy["name"], "envoy.filters.network.tcp_proxy");
    let cluster_name = proxy["typed_config"]["cluster"].as_str().unwrap();
    let cluster = resources["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == cluster_name)
        .expect("the listener's cluster is defined");
    assert_eq!(
        cluster["health_checks"][0]["http_health_check"]["path"],
        "/ready"
    );
    let endpoints: Vec<(String, u64, u64)> =
        cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let e = &e["endpoint"];
                (
                    e["address"]["socket_address"]["address"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    e["address"]["socket_address"]["port_value"]
                        .as_u64()
                        .unwrap(),
                    e["health_check_config"]["port_value"].as_u64().unwrap(),
                )
            })
            .collect();
    assert_eq!(
        endpoints,
        ["127.0.0.1", "127.0.0.2", "127.0.0.3"].map(|a| (a.to_string(), 18180, 18181))
    );
}

/// `stemedb_*` names in PromQL expressions.
fn metric_names(exprs: &[String]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for expr in exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("stemedb_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.insert(name);
        }
    }
    names
}

/// Only a cluster has peers to lag behind or send to (the cluster tests
/// read them: tests/it/anti_entropy.rs); a single node exports every other
/// name.
const CLUSTER_ONLY: &[&str] = &[
    "stemedb_replication_lag_seconds",
    "stemedb_replication_bytes_total",
];

#[test]
fn every_metric_in_alerts_and_dashboard_is_exported() {
    let alerts = std::fs::read_to_string(deploy("prometheus/alerts.yml")).unwrap();
    let mut exprs: Vec<String> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:").map(str::to_string))
        .collect();
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/stemedb.json")).unwrap())
            .expect("the dashboard is JSON");
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    let named = metric_names(&exprs);
    assert!(named.len() >= 15, "{named:?}");

    let server = TestServer::start();
    let (status, text) = crate::support::http_get(server.http_port, "/metrics");
    assert_eq!(status, 200);
    let exported: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| !exported.contains(n.as_str()) && !CLUSTER_ONLY.contains(&n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "named in deploy/ but not exported: {missing:?}"
    );
}
