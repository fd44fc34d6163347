//! Connections share a few threads (`connection_threads`, two per core by
//! default). A statement that runs a DataFusion plan for minutes is driven
//! on the server's multi-threaded runtime, so it never holds up the other
//! connections of its thread: here every connection shares one thread
//! with it, and they all go on reading and writing while it runs — a query
//! or a `COPY (SELECT …) TO STDOUT` alike.

use std::time::{Duration, Instant};

use crate::support::TestServer;

const SLOW: &str = "SELECT count(*) FROM generate_series(1, 5000000000) AS t(x) WHERE x % 7 = 3";

/// Whether a statement like `like` shows as active (polled; bounded).
async fn wait_active(watcher: &tokio_postgres::Client, like: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 \
                 AND pid <> pg_backend_pid()",
                &[&like],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no active statement like {like}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// CPU time (clock ticks) of the server process, or of its threads named
/// `thread`.
fn cpu_ticks(pid: u32, thread: Option<&str>) -> u64 {
    let ticks = |stat: &str| -> u64 {
        // Fields after the parenthesised command: utime and stime are the
        // 12th and 13th.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    let Some(name) = thread else {
        return ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap());
    };
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| {
            let t = t.ok()?.path();
            let comm = std::fs::read_to_string(t.join("comm")).ok()?;
            let stat = std::fs::read_to_string(t.join("stat")).ok()?;
            (comm.trim() == name).then(|| ticks(&stat))
        })
        .sum()
}

#[tokio::test]
async fn a_long_statement_never_holds_up_the_connections_on_its_thread() {
    never_holds_up_its_thread(|slow| {
        tokio::spawn(async move { slow.simple_query(SLOW).await.map(|_| ()) })
    })
    .await;
}

#[tokio::test]
async fn a_long_copy_to_stdout_never_holds_up_the_connections_on_its_thread() {
    never_holds_up_its_thread(|slow| {
        tokio::spawn(async move {
            use futures::TryStreamExt;
            let rows = slow.copy_out(&format!("COPY ({SLOW}) TO STDOUT")).await?;
            rows.try_collect::<Vec<_>>().await.map(|_| ())
        })
    })
    .await;
}

/// Runs the slow statement `start` sends on one connection while four
/// others share its connection thread: the plan runs off that thread, the
/// others read and write throughout, and a cancel ends it with `57014`.
async fn never_holds_up_its_thread(
    start: impl FnOnce(
        tokio_postgres::Client,
    ) -> tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
) {
    let server = TestServer::start_with(&[("STEMEDB_CONNECTION_THREADS", "1")]);
    let slow = server.connect().await;
    let cancel = slow.cancel_token();
    let mut others = Vec::new();
    for _ in 0..4 {
        others.push(server.connect().await);
    }
    let running = start(slow);
    wait_active(&others[0], "%generate_series%").await;

    // The plan runs on the multi-threaded runtime: the connection thread
    // stays nearly idle while the server burns two seconds of CPU on it.
    let pid = server.child.id();
    let (process, thread) = (cpu_ticks(pid, None), cpu_ticks(pid, Some("stemedb-conn-0")));
    let deadline = Instant::now() + Duration::from_secs(60);
    while cpu_ticks(pid, None) < process + 200 {
        assert!(
            Instant::now() < deadline,
            "the slow statement is not using the CPU"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (process, thread) = (
        cpu_ticks(pid, None) - process,
        cpu_ticks(pid, Some("stemedb-conn-0")) - thread,
    );
    assert!(
        thread * 5 < process,
        "the connection thread ran the plan: {thread} of {process} ticks"
    );

    // Every other connection writes and reads its own subject, many times
    // over, while the slow statement runs on the one shared thread.
    let work = others.iter().enumerate().map(|(i, client)| async move {
        let subject = format!("threads-{i}");
        for n in 0..20 {
            client
                .execute(
                    "INSERT INTO assertions (subject, predicate, object, source) \
                     VALUES ($1, 'p', $2, 's')",
                    &[&subject, &format!("v{n}")],
                )
                .await
                .unwrap();
            let object: String = client
                .query_one("SELECT object FROM recency WHERE subject = $1", &[&subject])
                .await
                .unwrap()
                .get(0);
            assert_eq!(object, format!("v{n}"), "the newest claim wins");
        }
    });
    let all = futures::future::join_all(work);
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("the other connections were held up by the slow statement");
    assert!(
        !running.is_finished(),
        "the slow statement should still be running: nothing here could have waited for it"
    );

    cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the cancelled statement ends")
        .unwrap();
    let error = ended.expect_err("the slow statement was cancelled");
    assert_eq!(error.code().map(|c| c.code()), Some("57014"), "{error}");
    let n: i64 = others[0]
        .query_one(
            "SELECT count(*) FROM assertions WHERE subject LIKE 'threads-%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 80);
}
