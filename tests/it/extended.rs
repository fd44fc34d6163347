//! The extended query protocol as a driver uses it (tokio-postgres:
//! Parse/Describe/Bind/Execute, binary results): inferred and declared
//! parameter types, prepared statement reuse, RETURNING, errors that leave
//! the connection usable, cancel requests and the connection limit.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::TestServer;
use tokio_postgres::types::Type;

#[tokio::test]
async fn parameters_types_and_binary_results() {
    let server = TestServer::start();
    let client = server.connect().await;

    // Untyped parameters get the column types, as PostgreSQL infers them.
    let insert = client
        .prepare(
            "INSERT INTO assertions (subject, predicate, object, source, tier, confidence, observed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, tier",
        )
        .await
        .unwrap();
    assert_eq!(
        insert.params(),
        &[
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT2,
            Type::FLOAT8,
            Type::TIMESTAMPTZ
        ]
    );
    let observed = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    // One prepared statement, executed several times.
    let mut ids = Vec::new();
    for (object, tier, confidence) in [("a", 0i16, 0.9f64), ("b", 3, 0.5), ("c", 4, 1.0)] {
        let row = client
            .query_one(
                &insert,
                &[&"s", &"p", &object, &"src", &tier, &confidence, &observed],
            )
            .await
            .unwrap();
        let id: String = row.get(0);
        assert_eq!(id.len(), 64);
        assert_eq!(row.get::<_, i16>(1), tier);
        ids.push(id);
    }

    // Binary results carry real types.
    let row = client
        .query_one(
            "SELECT object, tier, confidence, contested, claims, observed_at FROM authority WHERE subject = $1",
            &[&"s"],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "a");
    assert_eq!(row.get::<_, i16>(1), 0);
    assert_eq!(row.get::<_, f64>(2), 0.9);
    assert!(row.get::<_, bool>(3));
    assert_eq!(row.get::<_, i64>(4), 3);
    assert_eq!(row.get::<_, SystemTime>(5), observed);

    // Declared parameter types.
    let typed = client
        .prepare_typed(
            "SELECT count(*) FROM assertions WHERE tier >= $1",
            &[Type::INT8],
        )
        .await
        .unwrap();
    let n: i64 = client.query_one(&typed, &[&3i64]).await.unwrap().get(0);
    assert_eq!(n, 2);

    // NULL parameters.
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM assertions WHERE subject = $1",
            &[&None::<String>],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // Errors keep their SQLSTATE and the connection stays usable.
    let err = client
        .execute(
            "INSERT INTO assertions (subject, predicate, object, source, tier) VALUES ($1, 'p', 'o', 's', $2)",
            &[&"x", &9i16],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23514"));
    let err = client
        .prepare("SELECT nope FROM assertions")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42703"));
    let n: i64 = client
        .query_one("SELECT count(*) FROM assertions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);

    // Retract through a parameter.
    client
        .execute(
            "INSERT INTO retractions (assertion_id, reason) VALUES ($1, $2)",
            &[&ids[0], &"wrong"],
        )
        .await
        .unwrap();
    let row = client
        .query_one("SELECT object FROM authority WHERE subject = 's'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "b");
}

#[tokio::test]
async fn cancel_request_interrupts_a_running_query() {
    let server = TestServer::start();
    let client = server.connect().await;
    let cancel = client.cancel_token();
    let started = Instant::now();
    let query = tokio::spawn(async move {
        client
            .simple_query("SELECT count(*) FROM generate_series(1, 20000000000) a")
            .await
    });
    // Keep asking until the query has ended (the first request may arrive
    // before the query starts).
    while !query.is_finished() && started.elapsed() < Duration::from_secs(60) {
        cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = query.await.unwrap().unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
}

#[tokio::test]
async fn connections_beyond_the_limit_get_53300() {
    let server = TestServer::start_with(&[("STEMEDB_MAX_CONNECTIONS", "2")]);
    let a = server.connect().await;
    let _b = server.connect().await;
    let err = crate::support::connect(&server.conn_str())
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("53300"), "{err}");
    drop(a);
    // The slot frees once the server sees the first connection close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match crate::support::connect(&server.conn_str()).await {
            Ok(c) => {
                c.simple_query("SELECT 1").await.unwrap();
                break;
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("slot never freed: {e}"),
        }
    }
}

/// A prepared query is optimised once; its parameters still select by
/// index (one subject, a list of subjects) and `now()` is still read per
/// execution, not frozen when the statement was prepared.
#[tokio::test]
async fn prepared_queries_rebind_parameters_and_read_the_clock_each_time() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source) VALUES \
             ('k1', 'p', 'a', 's'), ('k2', 'p', 'b', 's'), ('k3', 'p', 'c', 's')",
        )
        .await
        .unwrap();
    let one = client
        .prepare("SELECT object FROM recency WHERE subject = $1::text")
        .await
        .unwrap();
    for (subject, object) in [("k1", "a"), ("k3", "c")] {
        let rows = client.query(&one, &[&subject]).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<_, String>(0), object);
    }
    let none: Option<&str> = None;
    assert!(client.query(&one, &[&none]).await.unwrap().is_empty());
    let many = client
        .prepare("SELECT object FROM recency WHERE subject = ANY($1) ORDER BY object")
        .await
        .unwrap();
    let rows = client
        .query(&many, &[&vec!["k2", "k3", "missing"]])
        .await
        .unwrap();
    let objects: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(objects, ["b", "c"]);

    let clock = client
        .prepare("SELECT CAST(now() AS TEXT), $1::text")
        .await
        .unwrap();
    let first: String = client.query_one(&clock, &[&"x"]).await.unwrap().get(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let next: String = client.query_one(&clock, &[&"x"]).await.unwrap().get(0);
        if next != first {
            break;
        }
        assert!(Instant::now() < deadline, "now() stayed {first}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn prepared_insert_select_rebinds_its_parameters() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source, observed_at) VALUES \
             ('a', 'p', 'old', 's', '2024-01-01'), ('a', 'p', 'new', 's', '2024-02-01'), \
             ('b', 'p', 'only', 's', '2024-01-01')",
        )
        .await
        .unwrap();
    // Kept optimised once, bound per execution: each run retracts the
    // winner of its own subject.
    let retract = client
        .prepare(
            "INSERT INTO retractions (assertion_id, reason) \
             SELECT assertion_id, $2 FROM recency WHERE subject = $1 AND predicate = 'p'",
        )
        .await
        .unwrap();
    let copy = client
        .prepare(
            "INSERT INTO assertions (subject, predicate, object, source) \
             SELECT subject, 'copied', object, $2 FROM recency WHERE subject = $1",
        )
        .await
        .unwrap();
    let winner = |s: &'static str| {
        let client = &client;
        async move {
            let rows = client
                .query(
                    "SELECT object FROM recency WHERE subject = $1 AND predicate = 'p'",
                    &[&s],
                )
                .await
                .unwrap();
            rows.first().map(|r| r.get::<_, String>(0))
        }
    };
    assert_eq!(
        client.execute(&retract, &[&"a", &"wrong"]).await.unwrap(),
        1
    );
    assert_eq!(winner("a").await.as_deref(), Some("old"));
    assert_eq!(winner("b").await.as_deref(), Some("only"));
    assert_eq!(client.execute(&retract, &[&"b", &"gone"]).await.unwrap(), 1);
    assert_eq!(winner("b").await, None);
    assert_eq!(
        client.execute(&retract, &[&"b", &"again"]).await.unwrap(),
        0
    );
    assert_eq!(client.execute(&copy, &[&"a", &"c1"]).await.unwrap(), 1);
    assert_eq!(client.execute(&copy, &[&"zzz", &"c2"]).await.unwrap(), 0);
    let copied = client
        .query_one(
            "SELECT object, source FROM assertions WHERE predicate = 'copied'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (copied.get::<_, String>(0), copied.get::<_, String>(1)),
        ("old".to_string(), "c1".to_string())
    );
    let reasons = client
        .query("SELECT reason FROM retractions ORDER BY reason", &[])
        .await
        .unwrap();
    let reasons: Vec<String> = reasons.iter().map(|r| r.get(0)).collect();
    assert_eq!(reasons, vec!["gone", "wrong"]);
}
