//! Schemas and views (docs/sql.md, "Views and schemas"): defined once,
//! read on every node, planned when read (so the reader's lens and
//! `as_of` apply), listed where tools look, refused with `0A000` where
//! rows would be stored, kept across restarts and backups.

use std::time::Duration;

use crate::support::cluster::*;
use crate::support::{TestServer, sqlstate, text_rows};

async fn seed(client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source, tier) VALUES \
             ('aspirin', 'max_dose', '4 g', 'fda', 0), ('aspirin', 'max_dose', '3 g', 'blog', 3), \
             ('ibuprofen', 'max_dose', '3.2 g', 'ema', 0);
             CREATE SCHEMA analytics;
             CREATE VIEW analytics.doses AS \
               SELECT subject, object, source FROM authority WHERE predicate = 'max_dose';
             CREATE VIEW analytics.dose_names (drug, dose) AS \
               SELECT subject, object FROM analytics.doses",
        )
        .await
        .unwrap();
}

async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    text_rows(client, sql).await
}

fn row(cells: &[&str]) -> Vec<Option<String>> {
    cells.iter().map(|c| Some(c.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_view_is_its_query_read_through_the_lens_of_the_reader() {
    let server = TestServer::start();
    let client = server.connect().await;
    seed(&client).await;
    let sql = "SELECT drug, dose FROM analytics.dose_names ORDER BY drug";
    assert_eq!(
        rows(&client, sql).await,
        [row(&["aspirin", "4 g"]), row(&["ibuprofen", "3.2 g"])]
    );
    // A claim made later shows at once (nothing is stored); `as_of` read
    // through the view sees the past.
    let before: String = client
        .query_one("SELECT CAST(now() AS TEXT)", &[])
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source, tier) \
             VALUES ('aspirin', 'max_dose', '2 g', 'who', 0)",
        )
        .await
        .unwrap();
    let now = rows(
        &client,
        "SELECT dose FROM analytics.dose_names WHERE drug = 'aspirin'",
    )
    .await;
    assert_eq!(now, [row(&["2 g"])]);
    client
        .batch_execute(&format!("SET stemedb.as_of = '{before}'"))
        .await
        .unwrap();
    let then = rows(
        &client,
        "SELECT dose FROM analytics.dose_names WHERE drug = 'aspirin'",
    )
    .await;
    assert_eq!(then, [row(&["4 g"])]);
    client.batch_execute("RESET stemedb.as_of").await.unwrap();

    // A lookup by subject through two views is a point lookup on the lens
    // underneath (the statement metrics count it as one).
    let points = || {
        let metrics = server.http("/metrics").1;
        metrics
            .lines()
            .filter(|l| l.starts_with("stemedb_statements_total{") && l.contains("kind=\"point\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before_points = points();
    let lookup = client
        .prepare("SELECT dose FROM analytics.dose_names WHERE drug = $1")
        .await
        .unwrap();
    for _ in 0..3 {
        let found = client.query(&lookup, &[&"aspirin"]).await.unwrap();
        assert_eq!(found.len(), 1);
    }
    assert!(points() - before_points >= 3.0, "not point lookups");

    // Listed where psql, dbt and SQLAlchemy look.
    let views = rows(
        &client,
        "SELECT schemaname, viewname, definition FROM pg_views ORDER BY viewname",
    )
    .await;
    assert_eq!(views.len(), 2, "{views:?}");
    assert!(
        views[0][2].as_deref().unwrap().contains("analytics.doses"),
        "{views:?}"
    );
    let info = rows(
        &client,
        "SELECT table_name, is_updatable FROM information_schema.views \
         WHERE table_schema = 'analytics' ORDER BY table_name",
    )
    .await;
    assert_eq!(info, [row(&["dose_names", "NO"]), row(&["doses", "NO"])]);
    let kind = rows(
        &client,
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'analytics' AND c.relname = 'doses'",
    )
    .await;
    assert_eq!(kind, [row(&["v"])]);
    let out = std::process::Command::new("psql")
        .arg(server.conn_str())
        .args([
            "-X",
            "-c",
            "\\d+ analytics.dose_names",
            "-c",
            "\\dv analytics.*",
        ])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("View \"analytics.dose_names\""), "{shown}");
    assert!(shown.contains("View definition:"), "{shown}");
    assert!(shown.contains("FROM analytics.doses"), "{shown}");
    assert!(shown.contains("analytics | doses      | view"), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn what_would_store_rows_is_refused_saying_what_to_do() {
    let server = TestServer::start();
    let client = server.connect().await;
    seed(&client).await;
    let refused = |sql: &'static str| {
        let client = &client;
        async move { client.batch_execute(sql).await.expect_err(sql) }
    };
    let e = refused("INSERT INTO analytics.doses VALUES ('a', 'b', 'c')").await;
    assert_eq!(sqlstate(&e), "0A000");
    let said = crate::support::describe_error(&e);
    assert!(said.contains("a view stores no rows"), "{said}");
    let e = refused("CREATE TABLE t (a INT)").await;
    assert_eq!(sqlstate(&e), "0A000");
    let said = crate::support::describe_error(&e);
    assert!(said.contains("CREATE VIEW"), "{said}");
    let e = refused("CREATE TABLE t AS SELECT * FROM recency").await;
    assert_eq!(sqlstate(&e), "0A000");
    let e = refused("CREATE VIEW recency AS SELECT 1").await;
    assert_eq!(sqlstate(&e), "42809");
    let e = refused("CREATE VIEW nowhere.v AS SELECT 1").await;
    assert_eq!(sqlstate(&e), "3F000");
    let e = refused("CREATE VIEW analytics.doses AS SELECT 1").await;
    assert_eq!(sqlstate(&e), "42P06");
    let e = refused("CREATE VIEW broken AS SELECT nothing FROM nowhere").await;
    assert_eq!(sqlstate(&e), "42P01");
    let e = refused("DROP SCHEMA analytics").await;
    assert_eq!(sqlstate(&e), "2BP01");
    let said = crate::support::describe_error(&e);
    assert!(said.contains("CASCADE"), "{said}");
    // The connection is still usable, and nothing half-done is left.
    assert_eq!(
        rows(&client, "SELECT count(*) FROM analytics.doses").await,
        [row(&["2"])]
    );

    // dbt's view materialization: build beside, rename the old one away,
    // rename the new one into place, drop the old one.
    client
        .batch_execute(
            "CREATE VIEW analytics.doses__dbt_tmp AS SELECT subject FROM recency;
             ALTER TABLE analytics.doses RENAME TO doses__dbt_backup;
             ALTER VIEW analytics.doses__dbt_tmp RENAME TO doses;
             DROP VIEW IF EXISTS analytics.doses__dbt_backup CASCADE",
        )
        .await
        .unwrap();
    let columns = rows(
        &client,
        "SELECT column_name FROM information_schema.columns \
         WHERE table_schema = 'analytics' AND table_name = 'doses'",
    )
    .await;
    assert_eq!(columns, [row(&["subject"])]);
    client
        .batch_execute("ALTER SCHEMA analytics RENAME TO marts; DROP SCHEMA marts CASCADE")
        .await
        .unwrap();
    let e = refused("SELECT * FROM marts.doses").await;
    assert_eq!(sqlstate(&e), "42P01");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_view_made_on_one_node_answers_on_every_node_and_survives_backups() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = ClusterPorts::free();
    let mut nodes = three_nodes(tmp.path(), ports);
    let one = nodes[0].connect().await;
    seed(&one).await;
    let sql = "SELECT drug, dose FROM analytics.dose_names ORDER BY drug";
    let expected = rows(&one, sql).await;
    assert_eq!(expected.len(), 2);
    let three = nodes[2].connect().await;
    let mut seen = None;
    for _ in 0..100 {
        if let Ok(r) = three.simple_query(sql).await {
            seen = Some(r.len());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.is_some(), "node3 never had the view");
    assert_eq!(rows(&three, sql).await, expected);

    // Dropped while node2 is down: node2 no longer shows it once back.
    assert!(nodes[1].terminate().success());
    one.batch_execute("DROP VIEW analytics.dose_names")
        .await
        .unwrap();
    let env = node_env(2, ports, None);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    nodes[1] = nodes[1].restart_with(&env).expect("node2 restarts");
    let two = nodes[1].connect().await;
    let mut gone = false;
    for _ in 0..300 {
        if let Err(e) = two.simple_query(sql).await {
            assert_eq!(sqlstate(&e), "42P01", "{e}");
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "node2 still shows the dropped view: node2 {:?}, node1 {:?}; node2 logged {:?}",
        rows(&two, "SELECT viewname FROM pg_views").await,
        rows(&one, "SELECT viewname FROM pg_views").await,
        nodes[1].log_lines("catalog")
    );
    assert_eq!(
        rows(&two, "SELECT count(*) FROM analytics.doses").await,
        [row(&["2"])]
    );

    // A backup of node1 restored elsewhere has the schema and the view.
    let backups = tmp.path().join("backups");
    let url = format!("file://{}", backups.display());
    let restored = tmp.path().join("restored");
    crate::support::backup_and_restore(&nodes[0].conn_str(), &url, &restored);
    let alone = TestServer::start_in(&restored, &[]).unwrap();
    let client = alone.connect().await;
    let views = rows(&client, "SELECT schemaname, viewname FROM pg_views").await;
    assert_eq!(views, [row(&["analytics", "doses"])]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_granted_create_on_a_schema_defines_views_there_only() {
    let server = TestServer::start_with(&[("STEMEDB_PASSWORD", "boot")]);
    let login = |user: &'static str, password: &'static str| {
        let conn = format!(
            "host={} port={} user={user} password={password} dbname=stemedb",
            server.ip, server.port
        );
        async move { crate::support::connect(&conn).await.unwrap() }
    };
    let admin = login("stemedb", "boot").await;
    admin
        .batch_execute(
            "CREATE SCHEMA analytics; CREATE SCHEMA finance;
             CREATE ROLE modeler LOGIN PASSWORD 'm-pw';
             GRANT pg_read_all_data TO modeler;
             GRANT CREATE ON SCHEMA analytics TO modeler",
        )
        .await
        .unwrap();
    let modeler = login("modeler", "m-pw").await;
    modeler
        .batch_execute(
            "CREATE VIEW analytics.mine AS SELECT subject FROM recency;
             ALTER VIEW analytics.mine RENAME TO ours;
             DROP VIEW analytics.ours",
        )
        .await
        .unwrap();
    for sql in [
        "CREATE VIEW finance.mine AS SELECT subject FROM recency",
        "CREATE VIEW mine AS SELECT subject FROM recency",
        "CREATE SCHEMA sandbox",
        "DROP SCHEMA analytics",
    ] {
        let e = modeler.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&e), "42501", "{sql}: {e:?}");
    }
    admin
        .batch_execute("REVOKE CREATE ON SCHEMA analytics FROM modeler")
        .await
        .unwrap();
    let e = modeler
        .batch_execute("CREATE VIEW analytics.mine AS SELECT subject FROM recency")
        .await
        .expect_err("revoked");
    assert_eq!(sqlstate(&e), "42501");
    let said = crate::support::describe_error(&e);
    assert!(
        said.contains("GRANT CREATE ON SCHEMA analytics TO modeler"),
        "{said}"
    );
}
