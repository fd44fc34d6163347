//! COPY FROM STDIN (text and CSV) and COPY TO STDOUT, as drivers and psql
//! use them: values, options, atomicity and error messages.

use crate::support::TestServer;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};

async fn copy_in(
    client: &tokio_postgres::Client,
    sql: &str,
    data: &str,
) -> Result<u64, tokio_postgres::Error> {
    let sink = client.copy_in::<_, Bytes>(sql).await?;
    futures::pin_mut!(sink);
    // Send in small chunks so records straddle CopyData messages.
    for chunk in data.as_bytes().chunks(7) {
        sink.send(Bytes::copy_from_slice(chunk)).await?;
    }
    sink.finish().await
}

async fn copy_out(client: &tokio_postgres::Client, sql: &str) -> String {
    let stream = client.copy_out(sql).await.unwrap();
    futures::pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(out).unwrap()
}

use crate::support::count_assertions as count;

#[tokio::test]
async fn csv_with_header_quotes_and_nulls() {
    let server = TestServer::start();
    let client = server.connect().await;
    let data = "subject,predicate,object,source,tier,confidence,observed_at\n\
                drug:x,causes,\"rash, mild\",fda,0,0.9,2024-01-01 00:00:00+00\n\
                drug:x,causes,\"said \"\"none\"\"\",forum,4,,2024-02-01\n\
                drug:y,note,\"two\nlines\",src,,,\n";
    let n = copy_in(
        &client,
        "COPY assertions (subject, predicate, object, source, tier, confidence, observed_at) FROM STDIN WITH (FORMAT csv, HEADER true)",
        data,
    )
    .await
    .unwrap();
    assert_eq!(n, 3);
    let rows = client
        .query(
            "SELECT object, tier, confidence FROM assertions ORDER BY object",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, i16, f64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("rash, mild".to_string(), 0, 0.9),
            ("said \"none\"".to_string(), 4, 1.0),
            ("two\nlines".to_string(), 5, 1.0),
        ]
    );
    let row = client
        .query_one("SELECT object FROM recency WHERE subject = 'drug:x'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "said \"none\"");
}

#[tokio::test]
async fn text_format_with_custom_delimiter_and_null() {
    let server = TestServer::start();
    let client = server.connect().await;
    let n = copy_in(
        &client,
        "COPY assertions (subject, predicate, object, source, agent) FROM STDIN",
        "a\tp\tx\\ty\ts\t\\N\nb\tp\tz\ts\tbot\n\\.\n",
    )
    .await
    .unwrap();
    assert_eq!(n, 2);
    let n = copy_in(
        &client,
        "COPY assertions (subject, predicate, object, source, agent) FROM STDIN WITH (DELIMITER '|', NULL 'nil')",
        "c|p|o|s|nil\n",
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    let rows = client
        .query(
            "SELECT subject, object, agent FROM assertions ORDER BY subject",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), "x\ty".into(), "stemedb".into()),
            ("b".into(), "z".into(), "bot".into()),
            ("c".into(), "o".into(), "stemedb".into()),
        ]
    );
}

#[tokio::test]
async fn a_bad_row_fails_the_whole_copy_with_line_and_column() {
    let server = TestServer::start();
    let client = server.connect().await;
    let sql =
        "COPY assertions (subject, predicate, object, source, tier) FROM STDIN WITH (FORMAT csv)";
    let cases = [
        (
            "a,p,o,s,1\nb,p,o,s,2\nc,p,o,s,9\nd,p,o,s,1\n",
            "23514",
            "line 3, column tier",
        ),
        ("a,p,o,s,1\nb,p,o,s,two\n", "22P02", "line 2, column tier"),
        ("a,p,o,s,1\n,p,o,s,1\n", "23502", "line 2, column subject"),
        ("a,p,o,s\n", "22P02", "line 1"),
    ];
    for (data, code, place) in cases {
        let err = copy_in(&client, sql, data).await.unwrap_err();
        let db = err.as_db_error().expect("a server error");
        assert_eq!(db.code().code(), code, "{}", db.message());
        assert!(
            db.message().contains(place),
            "{:?} lacks {place:?}",
            db.message()
        );
        assert_eq!(
            count(&client).await,
            0,
            "nothing of a failed COPY is visible"
        );
    }
    // Wrong column lists fail before any data.
    let err = copy_in(
        &client,
        "COPY assertions (subject, predicate, object) FROM STDIN",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23502"));
    let err = copy_in(
        &client,
        "COPY assertions (id, subject, predicate, object, source) FROM STDIN",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("428C9"));
    // The connection is fine afterwards.
    assert_eq!(copy_in(&client, sql, "a,p,o,s,1\n").await.unwrap(), 1);
}

#[tokio::test]
async fn copy_to_stdout_in_text_and_csv() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source, tier, observed_at) VALUES \
             ('s1', 'p', 'a,b', 'src', 1, '2024-01-01'), ('s2', 'p', 'tab\there', 'src', 2, '2024-01-02')",
        )
        .await
        .unwrap();
    let csv = copy_out(
        &client,
        "COPY (SELECT subject, object, tier, observed_at FROM assertions ORDER BY subject) TO STDOUT WITH (FORMAT csv, HEADER)",
    )
    .await;
    assert_eq!(
        csv,
        "subject,object,tier,observed_at\ns1,\"a,b\",1,2024-01-01 00:00:00+00\ns2,tab\there,2,2024-01-02 00:00:00+00\n"
    );
    let text = copy_out(
        &client,
        "COPY (SELECT subject, object, supersedes FROM assertions ORDER BY subject) TO STDOUT",
    )
    .await;
    assert_eq!(text, "s1\ta,b\t\\N\ns2\ttab\\there\t\\N\n");
    let all = copy_out(&client, "COPY recency (subject, object) TO STDOUT").await;
    assert_eq!(all.lines().count(), 2, "{all}");
}

#[tokio::test]
async fn large_copy_streams_in_many_chunks() {
    let server = TestServer::start();
    let client = server.connect().await;
    let sink = client
        .copy_in::<_, Bytes>("COPY assertions (subject, predicate, object, source, tier) FROM STDIN WITH (FORMAT csv)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    const ROWS: usize = 100_000;
    let mut buf = String::new();
    for i in 0..ROWS {
        buf.push_str(&format!(
            "subject:{},p{},object-{},source-{},{}\n",
            i / 5,
            i % 5,
            i,
            i % 97,
            i % 6
        ));
        if buf.len() > 64 * 1024 {
            sink.send(Bytes::from(std::mem::take(&mut buf)))
                .await
                .unwrap();
        }
    }
    sink.send(Bytes::from(buf)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), ROWS as u64);
    assert_eq!(count(&client).await, ROWS as i64);
    let pairs: i64 = client
        .query_one("SELECT count(*) FROM recency", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pairs, ROWS as i64);
}
