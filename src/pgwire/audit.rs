//! The audit trail: one log line per login, failed login and refused
//! connection, with the client's address, the user it named and why —
//! under the `stemedb::audit` target, so it can be filtered or routed on
//! its own (`log = "info,stemedb::audit=info"`). Never a password.

use std::net::SocketAddr;

pub fn login(client: SocketAddr, user: &str, method: &'static str) {
    tracing::info!(target: "stemedb::audit", %client, user, method, "login");
}

pub fn failed_login(client: SocketAddr, user: &str, reason: &str) {
    tracing::warn!(target: "stemedb::audit", %client, user, reason, "login failed");
}

pub fn refused(client: SocketAddr, user: &str, reason: &str) {
    tracing::warn!(target: "stemedb::audit", %client, user, reason, "connection refused");
}
