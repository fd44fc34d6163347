//! The Debian package (`scripts/deb.sh`, what `make deb` runs) built from
//! this build's binary, checked by lintian, installed with `dpkg --root`
//! into a scratch root — an overlay of this machine's `/` in a private
//! mount namespace, so the machine itself is not touched — and then used:
//! the installed binary runs, the installed unit starts the node as the
//! `stemedb` user, a backup is taken, the data dir is deleted under the
//! running node, and the DR runbook of docs/operations.md, run as written,
//! brings every claim back.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::scratch::{ScratchRoot, build_deb, repo, run, stdout};
use crate::support::cluster::wait_for;

const SQL: &str = "host=127.0.0.1 port=18180 user=stemedb dbname=stemedb";

/// `/ready` answers 200 (a node starting or stopping may reset the
/// connection: not yet).
fn serving() -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", 18181)) else {
        return false;
    };
    let mut response = String::new();
    s.write_all(b"GET /ready HTTP/1.0\r\n\r\n").is_ok()
        && s.read_to_string(&mut response).is_ok()
        && response.split_whitespace().nth(1) == Some("200")
}

async fn count(when: &str) -> i64 {
    let client = crate::support::connect(SQL)
        .await
        .unwrap_or_else(|e| panic!("{when}: {e}"));
    crate::support::count_assertions(&client).await
}

/// The runbook's shell block, as docs/operations.md prints it.
fn dr_runbook() -> String {
    let doc = std::fs::read_to_string(repo("docs/operations.md")).unwrap();
    let section = &doc[doc.find("### DR runbook").expect("the DR runbook")..];
    let start = section.find("```sh\n").expect("its shell block") + "```sh\n".len();
    let end = start + section[start..].find("```").unwrap();
    section[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_package_installs_into_a_scratch_root_and_its_dr_runbook_works() {
    if !crate::support::in_namespaces(
        "pilot::package::the_package_installs_into_a_scratch_root_and_its_dr_runbook_works",
        &["-n", "-m"],
    ) {
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let deb = build_deb(out_dir.path());

    // lintian: no error (warnings are printed for the reader).
    let lint = Command::new("lintian")
        .args(["--fail-on", "error", "--tag-display-limit", "0", &deb])
        .output()
        .expect("lintian (make test installs it)");
    let report = stdout(&lint);
    println!("lintian:\n{report}");
    assert!(lint.status.success(), "lintian failed:\n{report}");
    assert!(!report.lines().any(|l| l.starts_with("E:")), "{report}");

    let scratch = ScratchRoot::new();
    scratch.install(&deb);
    assert!(
        !Path::new("/usr/bin/stemedb").exists() && !Path::new("/etc/stemedb").exists(),
        "the package leaked onto this machine"
    );

    // Files, owners and modes.
    let expect = [
        ("/usr/bin/stemedb", "root", "root", 0o755),
        ("/etc/stemedb", "root", "stemedb", 0o750),
        ("/etc/stemedb/stemedb.toml", "root", "root", 0o644),
        ("/var/lib/stemedb", "stemedb", "stemedb", 0o700),
        ("/var/backups/stemedb", "stemedb", "stemedb", 0o700),
        ("/lib/systemd/system/stemedb.service", "root", "root", 0o644),
        (
            "/lib/systemd/system/stemedb-backup.timer",
            "root",
            "root",
            0o644,
        ),
        (
            "/lib/systemd/system/stemedb-archive.timer",
            "root",
            "root",
            0o644,
        ),
        (
            "/lib/systemd/system/stemedb-backup-verify.timer",
            "root",
            "root",
            0o644,
        ),
        ("/usr/share/doc/stemedb/copyright", "root", "root", 0o644),
    ];
    for (path, user, group, mode) in expect {
        let got = scratch.owner_and_mode(path);
        assert_eq!(got, (user.to_string(), group.to_string(), mode), "{path}");
    }
    let passwd = std::fs::read_to_string(scratch.path("/etc/passwd")).unwrap();
    let user = passwd
        .lines()
        .find(|l| l.starts_with("stemedb:"))
        .expect("the stemedb user");
    let fields: Vec<&str> = user.split(':').collect();
    assert!(
        fields[2].parse::<u32>().unwrap() < 1000,
        "not a system user: {user}"
    );
    assert_eq!(fields[5], "/var/lib/stemedb");
    assert_eq!(fields[6], "/usr/sbin/nologin");
    let status = stdout(&run(Command::new("dpkg")
        .arg(format!("--root={}", scratch.root.display()))
        .args(["-s", "stemedb"])));
    assert!(status.contains("Status: install ok installed"), "{status}");
    assert!(
        status.contains("Conffiles:\n /etc/stemedb/stemedb.toml"),
        "{status}"
    );

    // The installed binary runs, and accepts the installed configuration.
    let version = stdout(&run(&mut scratch.chroot(&["/usr/bin/stemedb", "--version"])));
    assert!(version.starts_with("stemedb "), "{version}");
    run(&mut scratch.chroot(&[
        "/usr/bin/stemedb",
        "config",
        "check",
        "/etc/stemedb/stemedb.toml",
    ]));

    // The node, as the installed unit runs it (systemctl's stand-in reads
    // the unit: no systemd runs in the scratch root).
    std::fs::write(
        scratch.path("/etc/stemedb/backup.env"),
        format!(
            "STEMEDB_BACKUP_URL=file:///var/backups/stemedb\nSTEMEDB_BACKUP_CONNECT=\"{SQL}\"\n"
        ),
    )
    .unwrap();
    run(&mut scratch.chroot(&["systemctl", "start", "stemedb"]));
    assert!(
        wait_for(Duration::from_secs(60), serving),
        "the node never served: {}",
        std::fs::read_to_string(scratch.path("/var/log/stemedb.standin.log")).unwrap_or_default()
    );
    let pid = scratch.node_pid().unwrap();
    let owner = std::fs::metadata(format!("/proc/{pid}")).unwrap().uid();
    assert_eq!(
        scratch.owner_and_mode("/var/lib/stemedb").0,
        passwd
            .lines()
            .find(|l| l.split(':').nth(2) == Some(&owner.to_string()))
            .unwrap()
            .split(':')
            .next()
            .unwrap(),
        "the node runs as the data dir's owner"
    );
    assert_ne!(owner, 0, "the node runs as root");

    let client = crate::support::connect(SQL).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO assertions (subject, predicate, object, source) \
             SELECT 'drug' || (value % 50), 'signal', 'o' || value, 'pilot' \
             FROM generate_series(1, 300)",
        )
        .await
        .unwrap();
    drop(client);
    run(&mut scratch.chroot(&[
        "stemedb",
        "backup",
        "create",
        "--to",
        "file:///var/backups/stemedb",
        "--connect",
        SQL,
    ]));

    // The disk is gone; systemd (Restart=on-failure) brings the node back
    // on an empty, recreated data dir.
    run(Command::new("kill").args(["-9", &pid.to_string()]));
    // Gone (or a zombie waiting to be reaped) before anything goes on.
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_or(true, |status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("State:"))
                .is_some_and(|state| matches!(state.trim().chars().next(), Some('Z' | 'X')))
        })
    };
    assert!(
        wait_for(Duration::from_secs(30), gone),
        "the killed node lives on"
    );
    std::fs::remove_dir_all(scratch.path("/var/lib/stemedb")).unwrap();
    run(&mut scratch.chroot(&["systemctl", "start", "stemedb"]));
    assert!(
        wait_for(Duration::from_secs(60), serving),
        "the empty node never served"
    );
    assert_eq!(count("on the empty data dir").await, 0);

    let runbook = run(&mut scratch.chroot(&["/bin/sh", "-c", &dr_runbook()]));
    assert!(
        stdout(&runbook).contains("restored and serving"),
        "{}",
        stdout(&runbook)
    );
    assert_eq!(count("after the runbook").await, 300);
    assert_eq!(scratch.owner_and_mode("/var/lib/stemedb").0, "stemedb");
    let timers = std::fs::read_to_string(scratch.path("/run/stemedb.standin.timers")).unwrap();
    assert!(timers.contains("stop stemedb-archive.timer"), "{timers}");
    assert!(timers.contains("start stemedb-archive.timer"), "{timers}");
    let aside = std::fs::read_dir(scratch.path("/var/lib"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("stemedb.lost-")
        })
        .count();
    assert_eq!(aside, 1, "the old data dir is kept aside");
    run(&mut scratch.chroot(&["systemctl", "stop", "stemedb"]));
}
