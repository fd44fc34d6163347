//! dbt end to end (dbt-postgres 1.9, installed by `make test`): the
//! project in tests/dbt — view models over `recency`, `authority` and
//! `conflicts` and a model on models, source and model tests — through
//! `dbt debug`, `dbt run`, `dbt test`, `dbt docs generate` (the catalog
//! lists every source and model with its columns) and a second `dbt run`
//! (views replaced in place); on a single node, and on node1 of a
//! three-node cluster while node3 serves the same views.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::TestServer;
use crate::support::cluster::*;

async fn seed(client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source, tier) VALUES \
             ('aspirin', 'max_dose', '4 g', 'fda', 0), ('aspirin', 'max_dose', '3 g', 'blog', 3), \
             ('ibuprofen', 'max_dose', '3.2 g', 'ema', 0), \
             ('ibuprofen', 'max_dose', '2.4 g', 'label', 1)",
        )
        .await
        .unwrap();
}

/// The project copied into `dir` (dbt writes its target and logs there)
/// with a profile for the node at `ip`:`port`.
fn project(dir: &Path, ip: &str, port: u16) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dbt");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&source)
        .arg(dir.join("project"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        dir.join("profiles.yml"),
        format!(
            "stemedb:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      \
             host: {ip}\n      port: {port}\n      user: stemedb\n      password: \"\"\n      \
             dbname: stemedb\n      schema: analytics\n      threads: 1\n"
        ),
    )
    .unwrap();
}

fn dbt(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("dbt")
        .args(args)
        .arg("--profiles-dir")
        .arg(dir)
        .current_dir(dir.join("project"))
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DBT_VERSION_CHECK", "false")
        .env("DBT_USE_COLORS", "false")
        .output()
        .expect("dbt (make test installs dbt-postgres)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "dbt {args:?} failed:\n{text}");
    text
}

/// Every dbt step of the acceptance, against the project in `dir`.
fn the_whole_round(dir: &Path) {
    assert!(dbt(dir, &["debug"]).contains("All checks passed"));
    let run = dbt(dir, &["run"]);
    assert!(run.contains("PASS=4 WARN=0 ERROR=0"), "{run}");
    let test = dbt(dir, &["test"]);
    assert!(test.contains("PASS=12 WARN=0 ERROR=0"), "{test}");
    dbt(dir, &["docs", "generate"]);
    let catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("project/target/catalog.json")).unwrap())
            .unwrap();
    let columns = |kind: &str, name: &str| -> Vec<String> {
        let entry = &catalog[kind][name];
        entry["columns"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} is not in the catalog: {catalog}"))
            .keys()
            .cloned()
            .collect()
    };
    for (model, column) in [
        ("current_doses", "max_dose"),
        ("trusted_doses", "tier"),
        ("disputed_doses", "distinct_objects"),
        ("dose_disagreements", "they_differ"),
    ] {
        let cols = columns("nodes", &format!("model.stemedb_claims.{model}"));
        assert!(cols.contains(&column.to_string()), "{model}: {cols:?}");
    }
    for source in ["assertions", "recency", "authority", "conflicts"] {
        let cols = columns(
            "sources",
            &format!("source.stemedb_claims.stemedb.{source}"),
        );
        assert!(cols.contains(&"subject".to_string()), "{source}: {cols:?}");
    }
    // Again: every view replaced in place.
    let again = dbt(dir, &["run"]);
    assert!(again.contains("PASS=4 WARN=0 ERROR=0"), "{again}");
}

const DISAGREEMENTS: &str =
    "SELECT drug, newest, most_trusted FROM analytics_marts.dose_disagreements ORDER BY drug";

#[tokio::test(flavor = "multi_thread")]
async fn dbt_builds_tests_and_documents_view_models_on_a_node() {
    let server = TestServer::start();
    let client = server.connect().await;
    seed(&client).await;
    let tmp = tempfile::tempdir().unwrap();
    project(tmp.path(), &server.ip, server.port);
    tokio::task::block_in_place(|| the_whole_round(tmp.path()));
    let rows = crate::support::text_rows(&client, DISAGREEMENTS).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dbt_on_one_node_of_a_cluster_while_another_serves_the_views() {
    let tmp = tempfile::tempdir().unwrap();
    let nodes = three_nodes(&tmp.path().join("nodes"), ClusterPorts::free());
    let one = nodes[0].connect().await;
    seed(&one).await;
    project(tmp.path(), &nodes[0].ip, nodes[0].port);
    tokio::task::block_in_place(|| the_whole_round(tmp.path()));
    let expected = crate::support::text_rows(&one, DISAGREEMENTS).await;
    assert_eq!(expected.len(), 2, "{expected:?}");
    let three = nodes[2].connect().await;
    let mut answered = Vec::new();
    for _ in 0..100 {
        if let Ok(rows) = three.simple_query(DISAGREEMENTS).await
            && rows.len() > 1
        {
            answered = crate::support::text_rows(&three, DISAGREEMENTS).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answered, expected);
}
