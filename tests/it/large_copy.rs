//! A COPY larger than a server should hold in memory: its rows are staged
//! on disk as they arrive, stay invisible until the data ends, and vanish
//! if the COPY fails or the server dies first. (Applying the staged rows at
//! the end goes in 8 MiB chunks; RocksDB's memtables and block cache are
//! what grows then, see docs/benchmarks.md for peak RSS at scale.)

use std::pin::Pin;

use crate::support::TestServer;
use bytes::Bytes;
use futures::SinkExt;
use tokio_postgres::CopyInSink;

/// Resident memory of a process, in MiB (Linux `VmRSS`).
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

/// CSV rows `from..to` with an object of `object_len` bytes each.
fn rows(from: usize, to: usize, object_len: usize) -> String {
    let filler = "x".repeat(object_len);
    (from..to)
        .map(|i| format!("s{},p{},{filler}{i},src{}\n", i / 3, i % 3, i % 7))
        .collect()
}

use crate::support::count_assertions as count;

/// Rows of the `recency` lens (one per pair).
async fn lens_rows(client: &tokio_postgres::Client) -> i64 {
    let row = client.query_one("SELECT count(*) FROM recency", &[]);
    row.await.unwrap().get(0)
}

/// Sends rows `from..to` of a COPY in messages of `step` rows, and flushes.
async fn send_rows(
    sink: &mut Pin<&mut CopyInSink<Bytes>>,
    (from, to): (usize, usize),
    step: usize,
    object_len: usize,
) {
    for start in (from..to).step_by(step) {
        let end = (start + step).min(to);
        sink.send(Bytes::from(rows(start, end, object_len)))
            .await
            .unwrap();
    }
    sink.flush().await.unwrap();
}

const COPY: &str =
    "COPY assertions (subject, predicate, object, source) FROM STDIN WITH (FORMAT csv)";

#[tokio::test]
async fn a_large_copy_streams_in_flat_memory() {
    let server = TestServer::start();
    let client = server.connect().await;
    // 100 000 rows of 4 KiB: ~400 MiB of claims. While the data streams in,
    // rows are staged on disk: memory after the first quarter and after all
    // of it is about the same (RocksDB's memtables are bounded).
    const ROWS: usize = 100_000;
    let sink = client.copy_in::<_, Bytes>(COPY).await.unwrap();
    futures::pin_mut!(sink);
    send_rows(&mut sink, (0, ROWS / 4), 1000, 4096).await;
    let quarter = rss_mib(server.child.id());
    send_rows(&mut sink, (ROWS / 4, ROWS), 1000, 4096).await;
    let all = rss_mib(server.child.id());
    assert!(
        all < quarter + 100,
        "RSS grew from {quarter} MiB to {all} MiB while 300 MiB more streamed in"
    );
    assert_eq!(sink.finish().await.unwrap(), ROWS as u64);
    assert_eq!(count(&client).await, ROWS as i64);
}

#[tokio::test]
async fn a_bad_row_after_staging_leaves_nothing() {
    let server = TestServer::start();
    let client = server.connect().await;
    let mut data = rows(0, 50_000, 10);
    data.push_str("s,p,o,src,extra\n");
    let sink = client.copy_in::<_, Bytes>(COPY).await.unwrap();
    futures::pin_mut!(sink);
    sink.send(Bytes::from(data)).await.unwrap();
    let err = sink.finish().await.unwrap_err();
    let message = crate::support::describe_error(&err);
    assert!(
        message.contains("22P02") && message.contains("line 50001"),
        "{message}"
    );
    assert_eq!(count(&client).await, 0);
}

#[tokio::test]
async fn a_copy_cut_by_a_crash_leaves_nothing_after_restart() {
    let mut server = TestServer::start();
    let dir = server.data_dir.clone();
    {
        let client = server.connect().await;
        client
            .batch_execute("INSERT INTO assertions (subject, predicate, object, source) VALUES ('kept', 'p', 'o', 's')")
            .await
            .unwrap();
        let sink = client.copy_in::<_, Bytes>(COPY).await.unwrap();
        futures::pin_mut!(sink);
        // Enough rows to be staged on disk, then the server dies mid-COPY.
        sink.send(Bytes::from(rows(0, 60_000, 10))).await.unwrap();
        sink.flush().await.unwrap();
        // The COPY is still open; a query on a second connection shows
        // none of it, then the server is killed.
        let other = server.connect().await;
        assert_eq!(count(&other).await, 1);
        server.kill9();
    }
    let restarted = TestServer::start_in(&dir, &[]).unwrap();
    let client = restarted.connect().await;
    assert_eq!(
        count(&client).await,
        1,
        "only the acknowledged INSERT survives"
    );
    drop(client);
    drop(restarted);
    let status = std::process::Command::new(&*crate::support::BINARY)
        .arg("verify")
        .arg("--data-dir")
        .arg(&dir)
        .status();
    assert!(status.unwrap().success());
}

#[tokio::test]
async fn concurrent_readers_see_a_large_copy_all_at_once() {
    let server = TestServer::start();
    let client = server.connect().await;
    const ROWS: usize = 200_000;
    let sink = client.copy_in::<_, Bytes>(COPY).await.unwrap();
    futures::pin_mut!(sink);
    send_rows(&mut sink, (0, ROWS), 20_000, 10).await;
    // The data is all sent; while the staged rows are applied (in ten
    // chunks, then the lens heads of the pairs they touched), another
    // connection counts claims and lens rows (one pair per row) over and
    // over.
    let reader = server.connect().await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counts = tokio::spawn({
        let done = done.clone();
        async move {
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                seen.push(count(&reader).await);
                seen.push(lens_rows(&reader).await);
            }
            seen.push(count(&reader).await);
            seen.push(lens_rows(&reader).await);
            seen
        }
    });
    assert_eq!(sink.finish().await.unwrap(), ROWS as u64);
    done.store(true, std::sync::atomic::Ordering::Release);
    let seen = counts.await.unwrap();
    let partial: Vec<_> = seen
        .iter()
        .filter(|&&n| n != 0 && n != ROWS as i64)
        .collect();
    assert!(
        partial.is_empty(),
        "a reader saw part of the COPY: {partial:?}"
    );
    assert_eq!(seen[seen.len() - 2..], [ROWS as i64; 2], "{seen:?}");
}
