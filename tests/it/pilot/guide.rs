//! docs/deploy.md, followed on three hosts. Each host is a network
//! namespace with its own address (10.0.0.11–13) on a bridge in the test's
//! own namespace, which is the `lb` host (10.0.0.10: HAProxy, the scrape,
//! the client), and each has its own scratch root with the package
//! installed. The guide's labelled command blocks run as written, in
//! order: ```` ```sh on-node1 ```` on node1, ```` ```sh on-each-node ````
//! on every node (with its `N=`), ```` ```sh on-lb ```` here; the
//! ```` ```haproxy servers ```` block replaces the server lines of
//! deploy/haproxy/haproxy.cfg. Blocks that wait for the cluster (the
//! members, the first query through HAProxy) are retried until they
//! succeed, as an operator would, within a bound.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::scratch::{ScratchRoot, build_deb, repo, run, stdout};
use crate::balancer::Haproxy;

/// A labelled block of the guide.
struct Block {
    label: String,
    text: String,
}

/// The guide's labelled blocks up to "## Rolling upgrade" (after it, the
/// blocks illustrate; they are not steps of the first deployment).
fn blocks() -> Vec<Block> {
    let guide = std::fs::read_to_string(repo("docs/deploy.md")).unwrap();
    let steps = &guide[..guide
        .find("## Rolling upgrade")
        .expect("the upgrade section")];
    let mut out = Vec::new();
    let mut lines = steps.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let text: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let mut words = info.split_whitespace();
        let _language = words.next();
        if let Some(label) = words.next() {
            out.push(Block {
                label: label.to_string(),
                text: text.join("\n") + "\n",
            });
        }
    }
    out
}

struct Host {
    ns: String,
    root: ScratchRoot,
}

impl Host {
    /// `script` run by bash as root in /root, chrooted into this host's
    /// root and inside its network namespace.
    fn sh(&self, script: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, "chroot"])
            .arg(&self.root.root)
            .args(["/bin/bash", "-euc", &format!("cd /root\n{script}")])
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .output()
            .unwrap()
    }

    fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "on {}:\n{script}\nfailed:\n{}\n{}",
            self.ns,
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    }
}

/// Three namespaces, each with a veth into the bridge `br0` here.
fn network() {
    // Namespace names live in a tmpfs of this test's own mount namespace.
    std::fs::create_dir_all("/run/netns").unwrap();
    run(Command::new("mount").args(["-t", "tmpfs", "netns", "/run/netns"]));
    let ip = |args: &str| run(Command::new("ip").args(args.split_whitespace()));
    ip("link add br0 type bridge");
    ip("addr add 10.0.0.10/24 dev br0");
    ip("link set br0 up");
    for n in 1..=3 {
        ip(&format!("netns add stemedb-node{n}"));
        ip(&format!(
            "link add veth{n} type veth peer name eth0 netns stemedb-node{n}"
        ));
        ip(&format!("link set veth{n} master br0 up"));
        let inside = |args: &str| ip(&format!("netns exec stemedb-node{n} ip {args}"));
        inside("link set lo up");
        inside(&format!("addr add 10.0.0.1{n}/24 dev eth0"));
        inside("link set eth0 up");
    }
}

/// Runs `script` here (the `lb` host) in `dir`.
fn on_lb(dir: &Path, script: &str) -> Output {
    Command::new("bash")
        .args(["-euc", script])
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Runs `attempt` until it returns `Some`, at most `limit`.
fn retry<T>(limit: Duration, what: &str, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match attempt() {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// deploy/haproxy/haproxy.cfg with its server lines replaced by the
/// guide's.
fn haproxy(dir: &Path, servers: &str) -> Haproxy {
    let shipped = std::fs::read_to_string(repo("deploy/haproxy/haproxy.cfg")).unwrap();
    let mut config: Vec<&str> = shipped
        .lines()
        .filter(|l| !l.trim_start().starts_with("server "))
        .collect();
    config.extend(servers.lines());
    Haproxy::run(dir, &(config.join("\n") + "\n"))
}

fn output_of(out: &Output) -> Result<String, String> {
    let text = stdout(out);
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[test]
fn the_deployment_guide_works_on_three_hosts() {
    if !crate::support::in_namespaces(
        "pilot::guide::the_deployment_guide_works_on_three_hosts",
        &["-n", "-m"],
    ) {
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let deb = build_deb(out_dir.path());
    network();
    let hosts: Vec<Host> = (1..=3)
        .map(|n| {
            let root = ScratchRoot::new();
            root.install(&deb);
            Host {
                ns: format!("stemedb-node{n}"),
                root,
            }
        })
        .collect();
    let lb = tempfile::tempdir().unwrap();
    let mut proxy = None;
    let mut ran = Vec::new();

    for block in blocks() {
        ran.push(block.label.clone());
        match block.label.as_str() {
            "on-node1" => {
                hosts[0].sh_ok(&block.text);
                // `scp -r pilot nodeN:` and to the lb host.
                let pilot = hosts[0].root.path("/root/pilot");
                for host in &hosts[1..] {
                    run(Command::new("cp")
                        .arg("-a")
                        .arg(&pilot)
                        .arg(host.root.path("/root/")));
                }
                run(Command::new("cp").arg("-a").arg(&pilot).arg(lb.path()));
            }
            "on-each-node" => {
                for (i, host) in hosts.iter().enumerate() {
                    let script = block.text.replacen("N=1", &format!("N={}", i + 1), 1);
                    host.sh_ok(&script);
                }
            }
            "servers" => proxy = Some(haproxy(lb.path(), &block.text)),
            "on-lb" if block.text.contains("/cluster/members") => {
                let members = retry(Duration::from_secs(90), "members", || {
                    let text = output_of(&on_lb(lb.path(), &block.text))?;
                    let ready = text.matches("\"state\":\"READY\"").count() == 3
                        && text.matches("\"status\":\"UP\"").count() == 9;
                    if ready { Ok(text) } else { Err(text) }
                });
                for n in 1..=3 {
                    assert!(
                        members.contains(&format!("\"node\":\"node{n}\"")),
                        "{members}"
                    );
                }
            }
            "on-lb" if block.text.contains("psql") => {
                let answer = retry(Duration::from_secs(30), "a query through HAProxy", || {
                    output_of(&on_lb(lb.path(), &block.text))
                });
                assert!(answer.contains("4 g"), "{answer}");
            }
            "on-lb" => {
                let text = output_of(&on_lb(lb.path(), &block.text)).unwrap();
                assert!(text.contains("stemedb_quorum{state=\"alive\"} 3"), "{text}");
            }
            other => panic!("a block labelled {other} that this test does not know"),
        }
    }
    assert_eq!(
        ran,
        [
            "on-node1",
            "on-each-node",
            "on-each-node",
            "on-each-node",
            "on-lb",
            "servers",
            "on-lb",
            "on-lb",
            "on-node1"
        ],
        "the guide's steps changed: say here how each runs"
    );
    assert!(proxy.is_some());

    // What the guide promised holds: the backup is there and verified
    // (the last block), the nodes run as `stemedb`, and the firewall keeps
    // the node-to-node port from the lb host.
    let listed = hosts[0].sh_ok("stemedb backup list file:///var/backups/stemedb");
    assert!(listed.contains("node1"), "{listed}");
    let blocked = std::net::TcpStream::connect_timeout(
        &"10.0.0.11:18182".parse().unwrap(),
        Duration::from_secs(1),
    );
    assert!(blocked.is_err(), "the RPC port is open to lb");
    for host in &hosts {
        let pid = host.root.node_pid().expect("the node runs");
        let uid = std::fs::metadata(format!("/proc/{pid}")).unwrap().uid();
        assert_ne!(uid, 0, "{} runs as root", host.ns);
    }
}
