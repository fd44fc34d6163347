//! Whole answers of a node, to compare two nodes (a source and its
//! restored copy) table by table.

use tokio_postgres::Client;

pub async fn rows(client: &Client, sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in client.simple_query(sql).await.unwrap() {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            out.push(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL"))
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out
}

/// Every table's answer, as of `instant` if given.
pub async fn as_of(client: &Client, instant: Option<&str>) -> Vec<String> {
    if let Some(instant) = instant {
        let set = format!("SET stemedb.as_of = '{instant}'");
        client.batch_execute(&set).await.unwrap();
    }
    let mut out = Vec::new();
    for sql in [
        "SELECT id, subject, predicate, object FROM assertions ORDER BY id",
        "SELECT assertion_id FROM retractions ORDER BY assertion_id",
        "SELECT subject, predicate, object, claims FROM recency ORDER BY subject, predicate",
        "SELECT subject, predicate, object FROM authority ORDER BY subject, predicate",
    ] {
        out.extend(rows(client, sql).await);
    }
    if instant.is_some() {
        client.batch_execute("RESET stemedb.as_of").await.unwrap();
    }
    out
}
