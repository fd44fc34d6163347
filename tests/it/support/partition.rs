//! Partitions between the nodes of a test cluster (run inside the test's
//! own network namespace, [`super::in_namespace`]): nftables rules that
//! drop gossip and RPC between node addresses.

use super::cluster::ClusterPorts;

pub fn nft(script: &str) {
    let mut child = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("nft (make test installs nftables)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft -f: {script}");
}

/// Drops gossip and RPC between node3 and the other two, both ways; SQL
/// and HTTP still reach every node.
pub fn cut_node3(ports: ClusterPorts) {
    let p = format!("{{ {}, {} }}", ports.rpc, ports.swim);
    let (a, b) = ("127.0.0.3", "{ 127.0.0.1, 127.0.0.2 }");
    nft(&format!(
        "table inet partition {{\n chain input {{\n type filter hook input priority 0;\n\
         ip saddr {a} ip daddr {b} meta l4proto {{ tcp, udp }} th dport {p} drop\n\
         ip saddr {a} ip daddr {b} meta l4proto {{ tcp, udp }} th sport {p} drop\n\
         ip saddr {b} ip daddr {a} meta l4proto {{ tcp, udp }} th dport {p} drop\n\
         ip saddr {b} ip daddr {a} meta l4proto {{ tcp, udp }} th sport {p} drop\n }}\n}}\n"
    ));
}

pub fn heal() {
    nft("delete table inet partition\n");
}
