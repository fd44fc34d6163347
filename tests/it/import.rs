//! `stemedb import`: CSV and JSON-lines files into a running server and
//! into a stopped data dir, with a summary, and a clear failure on bad rows.

use std::process::Command;

use crate::support::{BINARY, TestServer};

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn imports_csv_and_jsonl_over_the_wire() {
    let server = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let csv = write(
        tmp.path(),
        "claims.csv",
        "subject,predicate,object,source,tier,observed_at\n\
         drug:x,causes,rash,fda,0,2024-01-01\n\
         drug:x,causes,\"none, really\",forum,4,2024-06-01\n",
    );
    let mut jsonl = String::new();
    for i in 0..250 {
        jsonl.push_str(&format!(
            "{{\"subject\": \"ip:{i}\", \"predicate\": \"malicious\", \"object\": \"true\", \"object_type\": \"boolean\", \"source\": \"feed\", \"confidence\": 0.5}}\n"
        ));
    }
    let jsonl = write(tmp.path(), "feed.jsonl", &jsonl);
    let out = Command::new(&*BINARY)
        .args([
            "import",
            "--batch-rows",
            "100",
            "--connect",
            &server.conn_str(),
        ])
        .arg(&csv)
        .arg(&jsonl)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("imported 252 rows from 2 file(s)"),
        "{stdout}"
    );

    let client = server.connect().await;
    let row = client
        .query_one("SELECT object FROM recency WHERE subject = 'drug:x'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "none, really");
    let row = client
        .query_one("SELECT count(*), min(confidence), min(object_type) FROM assertions WHERE source = 'feed'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 250);
    assert_eq!(row.get::<_, f64>(1), 0.5);
    assert_eq!(row.get::<_, String>(2), "boolean");
}

#[tokio::test]
async fn imports_into_a_stopped_data_dir_and_reports_bad_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let good = write(
        tmp.path(),
        "good.csv",
        "subject,predicate,object,source\na,p,o,s\nb,p,o,s\n",
    );
    crate::support::stemedb_ok([
        "import".as_ref(),
        "--data-dir".as_ref(),
        dir.as_os_str(),
        good.as_os_str(),
    ]);

    let bad = write(
        tmp.path(),
        "bad.csv",
        "subject,predicate,object,source,tier\nc,p,o,s,1\nd,p,o,s,8\n",
    );
    let out = Command::new(&*BINARY)
        .args(["import", "--data-dir"])
        .arg(&dir)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2, column tier") && stderr.contains("23514"),
        "{stderr}"
    );

    let unknown = write(
        tmp.path(),
        "unknown.csv",
        "subject,predicate,object,source,colour\na,p,o,s,red\n",
    );
    let out = Command::new(&*BINARY)
        .args(["import", "--data-dir"])
        .arg(&dir)
        .arg(&unknown)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"colour\" cannot be imported"));

    // The good rows are there; nothing of the bad file is.
    let server = TestServer::start_in(&dir, &[]).unwrap();
    let client = server.connect().await;
    let n: i64 = client
        .query_one("SELECT count(*) FROM assertions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

/// The private server's connections run on the process's connection
/// threads; the database must be closed before `main` returns, or the last
/// connection closes it while C++ destroys RocksDB's statics and the
/// import dies after reporting success (it did in 6 of 40 runs).
#[test]
fn an_import_into_a_data_dir_exits_cleanly_every_time() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(
        tmp.path(),
        "one.csv",
        "subject,predicate,object,source\na,p,o,s\n",
    );
    for run in 0..25 {
        let dir = tmp.path().join(format!("data{run}"));
        let out = crate::support::stemedb_ok([
            "import".as_ref(),
            "--data-dir".as_ref(),
            dir.as_os_str(),
            file.as_os_str(),
        ]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("imported 1 rows"));
    }
}
