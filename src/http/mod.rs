//! The admin HTTP endpoint: `GET /health` (the process is up and its
//! storage answers).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::storage::Store;

async fn health(State(store): State<Arc<Store>>) -> (StatusCode, String) {
    (
        StatusCode::OK,
        format!("{{\"status\":\"UP\",\"node\":\"{}\"}}\n", store.node_id()),
    )
}

/// Serves HTTP until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    store: Arc<Store>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/health", get(health))
        .with_state(store);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            while shutdown.changed().await.is_ok() {
                if *shutdown.borrow() {
                    break;
                }
            }
        })
        .await
}
