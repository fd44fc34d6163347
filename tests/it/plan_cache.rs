//! The session plan cache: a simple-protocol query is planned once per
//! shape (its literals lifted into parameters) and must answer exactly as
//! the statement as written — the extended protocol plans the literal text,
//! so every condition below is run both ways and compared.

use crate::support::TestServer;

/// `count(*)` through the simple protocol, or the error's SQLSTATE.
async fn simple_count(client: &tokio_postgres::Client, sql: &str) -> Result<i64, String> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| crate::support::sqlstate(&e))?;
    let row = messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .expect("a row");
    Ok(row.get(0).unwrap().parse().unwrap())
}

/// `count(*)` through the extended protocol (the literal text planned).
async fn extended_count(client: &tokio_postgres::Client, sql: &str) -> Result<i64, String> {
    let row = client
        .query_one(sql, &[])
        .await
        .map_err(|e| crate::support::sqlstate(&e))?;
    Ok(row.get(0))
}

fn metric(port: u16, outcome: &str) -> f64 {
    let (_, text) = crate::support::http_get(port, "/metrics");
    let key = format!("stemedb_plan_cache_total{{outcome=\"{outcome}\"}}");
    *crate::support::metric_samples(&text)
        .get(&key)
        .unwrap_or_else(|| panic!("{key} not exported"))
}

#[tokio::test]
async fn lifted_plans_answer_as_the_statement_as_written() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source, tier, confidence) VALUES \
             ('s1', 'p', 'a', 'x', 1, 0.9), ('s1', 'p', 'b', 'y', 2, 0.4), \
             ('s1', 'q', 'c', 'x', 1, 0.5), ('s2', 'p', 'd', 'x', 3, 0.7), \
             ('s2', 'q', '1', 'y', 2, 0.2)",
        )
        .await
        .unwrap();

    let conditions = [
        "subject = 's1'",
        "subject = 's2'",
        "'s2' = subject",
        "subject <> 's1'",
        "subject IN ('s1', 's2', 'nope')",
        "subject IN ('s2')",
        "tier = 1",
        "tier = 1.5",
        "tier > 1",
        "tier = '2'",
        "tier = 'x'",
        "tier = 100000",
        "confidence >= 0.5",
        "confidence < 1",
        "asserted_at > '2000-01-01'",
        "asserted_at < '2000-01-01 00:00:00+00'",
        "object = 1",
        "subject = 's1' AND predicate = 'q'",
    ];
    for table in ["assertions", "recency"] {
        for condition in conditions {
            let sql = format!("SELECT count(*) FROM {table} WHERE {condition}");
            let written = extended_count(&client, &sql).await;
            // The first run plans the shape, the second reuses it.
            for run in 0..2 {
                let lifted = simple_count(&client, &sql).await;
                assert_eq!(lifted, written, "{sql} (simple run {run})");
            }
        }
    }
    // One shape, other values: the kept plan is bound to each.
    let mut counts = vec![];
    for s in ["s1", "s2", "s3"] {
        let sql = format!("SELECT count(*) FROM recency WHERE subject = '{s}'");
        counts.push(simple_count(&client, &sql).await.unwrap());
    }
    assert_eq!(counts, vec![2, 2, 0]);
    assert!(metric(server.http_port, "hit") >= 40.0);
    assert!(metric(server.http_port, "miss") >= 18.0);

    // The connection is fine after statements that failed either way.
    assert_eq!(
        simple_count(
            &client,
            "SELECT count(*) FROM assertions WHERE subject = 's1'"
        )
        .await,
        Ok(3)
    );
}
