//! Equality filters on subject / predicate are applied by the index scan
//! itself: the physical plan keeps no FilterExec for them, while a filter
//! on another column still needs one.

use crate::support::TestServer;

async fn physical_plan(client: &tokio_postgres::Client, query: &str) -> String {
    let rows = client
        .simple_query(&format!("EXPLAIN {query}"))
        .await
        .unwrap();
    rows.iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some(format!("{} {}", r.get(0)?, r.get(1)?))
            }
            _ => None,
        })
        .filter(|line| line.starts_with("physical_plan"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn subject_and_predicate_filters_become_index_scans() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source) VALUES ('a', 'p', 'x', 's'), ('b', 'q', 'y', 's')",
        )
        .await
        .unwrap();
    for query in [
        "SELECT * FROM assertions WHERE subject = 'a'",
        "SELECT * FROM assertions WHERE subject = 'a' AND predicate = 'p'",
        "SELECT * FROM assertions WHERE predicate = 'p'",
        "SELECT * FROM recency WHERE subject = 'a'",
        "SELECT * FROM authority WHERE subject = 'a' AND predicate = 'p'",
        "SELECT * FROM conflicts WHERE predicate = 'p'",
    ] {
        let plan = physical_plan(&client, query).await;
        assert!(plan.contains("StreamingTableExec"), "{query}:\n{plan}");
        assert!(
            !plan.contains("FilterExec"),
            "{query} was not pushed down:\n{plan}"
        );
    }
    let plan = physical_plan(&client, "SELECT * FROM assertions WHERE object = 'x'").await;
    assert!(plan.contains("FilterExec"), "{plan}");

    // And the pushed-down scans return exactly the matching rows.
    let n: i64 = client
        .query_one("SELECT count(*) FROM assertions WHERE predicate = 'q'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}
