//! Backups to `s3://` against a real S3 server on loopback (moto): a backup
//! and a second one that uploads only what changed, listed, verified and
//! restored through the CLI; a bucket that disappears in the middle of a
//! backup fails it with a clear error, no backup is listed afterwards,
//! and the node keeps serving.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::TestServer;
use crate::support::s3::Moto;

const URL: &str = "s3://stemedb-backups/node1";

fn stemedb(moto: &Moto, args: &[&str]) -> Output {
    let out = Command::new(&*crate::support::BINARY)
        .args(args)
        .envs(moto.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stemedb {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn listed(moto: &Moto) -> usize {
    let out = stemedb(moto, &["backup", "list", URL]);
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// "backup ID: N files, T bytes, U bytes uploaded" → (T, U).
fn sizes(report: &str) -> (u64, u64) {
    let numbers: Vec<u64> = report
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let n = numbers.len();
    assert!(n >= 3, "{report}");
    (numbers[n - 2], numbers[n - 1])
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_go_to_s3_and_a_vanished_bucket_fails_cleanly() {
    let moto = Moto::start();
    moto.create_bucket("stemedb-backups");
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = TestServer::start_with(&env);
    let client = server.connect().await;
    let insert = |from: i32, to: i32| {
        format!(
            "INSERT INTO assertions (subject, predicate, object, source) \
             SELECT 's' || (value % 500), 'p' || (value % 3), 'o' || value, 'seed' \
             FROM generate_series({from}, {to})"
        )
    };
    client.batch_execute(&insert(1, 20_000)).await.unwrap();
    let backup = "SELECT stemedb_backup($1)";
    let first: String = client.query_one(backup, &[&URL]).await.unwrap().get(0);
    let (total, uploaded) = sizes(&first);
    assert_eq!(total, uploaded, "{first}");
    client.batch_execute(&insert(20_001, 20_200)).await.unwrap();
    let second: String = client.query_one(backup, &[&URL]).await.unwrap().get(0);
    eprintln!("{first}\n{second}");
    let (_, again) = sizes(&second);
    assert!(again < uploaded, "{second}");
    assert_eq!(listed(&moto), 2);
    stemedb(&moto, &["backup", "verify", URL]);
    let restored = tempfile::tempdir().unwrap();
    let dir = restored.path().join("data");
    let to = dir.to_str().unwrap();
    stemedb(
        &moto,
        &["backup", "restore", "--from", URL, "--data-dir", to],
    );
    let copy = TestServer::start_in(&dir, &[]).unwrap();
    let count = "SELECT count(*) FROM assertions";
    let n: i64 = copy
        .connect()
        .await
        .query_one(count, &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 20_200);
    drop(copy);

    // The bucket vanishes while a third backup uploads its files.
    moto.reset();
    moto.create_bucket("stemedb-backups");
    let other = server.connect().await;
    let third = tokio::spawn(async move { other.query_one(backup, &[&URL]).await });
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.log_lines("backup: [2/").len() < 3 {
        assert!(Instant::now() < deadline, "the third backup did not start");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    moto.reset();
    let failed = third
        .await
        .unwrap()
        .expect_err("a backup into a vanished bucket");
    let message = crate::support::describe_error(&failed);
    eprintln!("{message}");
    assert!(message.contains("NoSuchBucket"), "{message}");
    let n: i64 = client.query_one(count, &[]).await.unwrap().get(0);
    assert_eq!(n, 20_200, "the node serves on");
    moto.create_bucket("stemedb-backups");
    assert_eq!(listed(&moto), 0, "a partial backup is listed");
    let fourth: String = client.query_one(backup, &[&URL]).await.unwrap().get(0);
    assert_eq!(listed(&moto), 1, "{fourth}");
}
