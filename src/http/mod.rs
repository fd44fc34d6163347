//! The admin HTTP endpoint: `GET /health` (the process is up and its
//! storage answers), `GET /ready` (it takes new clients: 503 from the
//! moment it starts to shut down, so a load balancer drains it first) and
//! `GET /metrics` (Prometheus text, [`scrape`]); `/ready` is also
//! 503 while the node sees no majority of its cluster, and
//! `GET /cluster/members` lists the members as this node sees them.
//! With `http_token_file` set, all but `/health` and `/ready` need the
//! bearer token ([`token`]).

mod scrape;
pub mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cluster::Membership;
use crate::connections::Activity;
use crate::storage::Store;

#[derive(Clone)]
struct Node {
    store: Arc<Store>,
    activity: Arc<Activity>,
    members: Arc<Membership>,
}

async fn health(State(node): State<Node>) -> (StatusCode, String) {
    (
        StatusCode::OK,
        format!(
            "{{\"status\":\"UP\",\"node\":\"{}\"}}\n",
            node.store.node_id()
        ),
    )
}

/// What a client meets at this node: `READY` (reads and writes), or why
/// not — `SHUTTING_DOWN`, `NO_QUORUM` (reads only), `JOINING` (members not
/// settled yet: reads only).
fn state(node: &Node) -> &'static str {
    if node.activity.is_draining() {
        "SHUTTING_DOWN"
    } else if !node.members.has_majority() {
        "NO_QUORUM"
    } else if !node.members.knows_all() {
        "JOINING"
    } else {
        "READY"
    }
}

async fn ready(State(node): State<Node>) -> (StatusCode, String) {
    let status = state(&node);
    let code = if status == "READY" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        format!(
            "{{\"status\":\"{status}\",\"node\":\"{}\"}}\n",
            node.store.node_id()
        ),
    )
}

/// The members as this node sees them, and the state a client meets here
/// (`READY` only once writes are taken: members shown `UP` before the
/// layout is settled still refuse writes).
async fn cluster_members(State(node): State<Node>) -> impl IntoResponse {
    let mut json = node.members.to_json_value();
    json["node"] = node.store.node_id().into();
    json["state"] = state(&node).into();
    (
        [(header::CONTENT_TYPE, "application/json")],
        json.to_string() + "\n",
    )
}

async fn metrics(State(node): State<Node>) -> impl IntoResponse {
    let body = scrape::render(&node.members, &node.store);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// Serves HTTP until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    store: Arc<Store>,
    activity: Arc<Activity>,
    members: Arc<Membership>,
    token: Arc<token::Token>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/cluster/members", get(cluster_members))
        .layer(axum::middleware::from_fn_with_state(token, token::guard))
        .with_state(Node {
            store,
            activity,
            members,
        });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
