//! `stemedb backup restore` shows its progress as a bar redrawn in place
//! on a terminal (a real pty, from util-linux `script`) and as one line
//! per step when stderr is a pipe. `stemedb backup create` draws the same
//! from `stemedb.backup_progress` while the node works (a small backup
//! may end before the first poll); the view is empty when no backup runs.

use std::process::Command;

use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn restore_draws_a_bar_on_a_terminal_and_lines_otherwise() {
    let server = TestServer::start();
    let insert = "INSERT INTO assertions (subject, predicate, object, source) \
                  SELECT 's' || value, 'p', 'o', 'x' FROM generate_series(1, 2000)";
    let client = server.connect().await;
    client.batch_execute(insert).await.unwrap();
    let idle = "SELECT id, phase, files_done, files_total, bytes_done, started_at \
                FROM stemedb.backup_progress";
    assert!(client.query(idle, &[]).await.unwrap().is_empty());
    let store = tempfile::tempdir().unwrap();
    let url = format!("file://{}", store.path().display());
    let create = format!(
        "{} backup create --to {url} --connect '{}'",
        &*crate::support::BINARY,
        server.conn_str()
    );
    let created = Command::new("script")
        .args(["-q", "-e", "-c", &create, "/dev/null"])
        .output()
        .expect("script (util-linux)");
    let report = String::from_utf8_lossy(&created.stdout);
    assert!(created.status.success(), "{report}");
    assert!(report.contains(" bytes uploaded"), "{report}");
    assert!(client.query(idle, &[]).await.unwrap().is_empty());
    let dirs = tempfile::tempdir().unwrap();
    let restore = |name: &str| {
        let dir = dirs.path().join(name);
        format!(
            "{} backup restore --from {url} --data-dir {}",
            &*crate::support::BINARY,
            dir.display()
        )
    };

    let piped = Command::new("sh")
        .args(["-c", &restore("piped")])
        .output()
        .unwrap();
    assert!(piped.status.success());
    let lines = String::from_utf8_lossy(&piped.stderr).into_owned();
    assert!(
        lines.lines().any(|l| l.starts_with("backup: [1/")),
        "{lines}"
    );
    assert!(!lines.contains('\r'), "{lines}");

    let typescript = dirs.path().join("typescript");
    let tty = Command::new("script")
        .args(["-q", "-e", "-c", &restore("tty")])
        .arg(&typescript)
        .output()
        .expect("script (util-linux)");
    assert!(tty.status.success());
    let drawn = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert!(drawn.contains("\r\x1b[2Kbackup: [###"), "{drawn}");
    assert!(drawn.contains("restored into"), "{drawn}");
}
