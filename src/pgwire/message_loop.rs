//! A connection's message loop: pgwire's own (`process_socket`), with one
//! addition — it also waits on the change feed, so a connection that
//! `LISTEN`s to `stemedb_changes` is sent a NotificationResponse while it
//! sits idle (docs/changes.md). pgwire's loop only ever answers what the
//! client sends; here the select covers the socket and the feed.
//!
//! As in PostgreSQL, a notification goes out only between statements: the
//! last message handled ended a query (a simple Query, or an extended
//! Sync) and no transaction block is open. One that becomes due while a
//! statement runs is sent as soon as the connection is idle again.
//! Negotiation, dispatch and errors are pgwire's (`negotiate_tls`,
//! `process_message`, `process_error`).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::messages::response::{NotificationResponse, TransactionStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::cluster::frontier::Resolved;
use crate::connections::{Accepted, Backend, CHANGES_CHANNEL};

/// How long a client has to finish logging in (pgwire's figure).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves one TCP connection with `handlers` until it ends.
pub async fn process_socket<H: PgWireServerHandlers>(
    tcp_socket: TcpStream,
    tls_acceptor: Option<pgwire::tokio::TlsAcceptor>,
    handlers: H,
    mut feed: watch::Receiver<Resolved>,
    accepted: &Accepted,
) -> io::Result<()> {
    let startup_timeout = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_timeout);
    let socket = tokio::select! {
        _ = &mut startup_timeout => return Ok(()),
        socket = negotiate_tls(tcp_socket, tls_acceptor) => socket?,
    };
    let Some(mut socket) = socket else {
        return Ok(());
    };
    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();
    let mut listener = Listener::default();
    loop {
        let logging_in = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let idle = listener.between_statements
            && matches!(socket.state(), PgWireConnectionState::ReadyForQuery)
            && socket.transaction_status() == TransactionStatus::Idle;
        if idle && let Some(note) = listener.due(accepted, &feed) {
            socket
                .send(PgWireBackendMessage::NotificationResponse(note))
                .await?;
            continue;
        }
        let msg = tokio::select! {
            _ = &mut startup_timeout, if logging_in => None,
            msg = socket.next() => msg,
            // A feed that stopped (the node shuts down) wakes no one.
            changed = feed.changed(), if idle && listener.listens(accepted) => {
                if changed.is_err() {
                    listener.stopped = true;
                }
                continue;
            }
        };
        let Some(Ok(msg)) = msg else { break };
        if matches!(msg, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        listener.between_statements = matches!(
            msg,
            PgWireFrontendMessage::Query(_) | PgWireFrontendMessage::Sync(_)
        );
        let is_extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => msg.is_extended_query(),
        };
        let is_cancel_request = matches!(msg, PgWireFrontendMessage::CancelRequest(_));
        let handled = process_message(
            msg,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await;
        if let Err(mut e) = handled {
            errors.on_error(&socket, &mut e);
            let is_fatal = e.is_fatal();
            process_error(&mut socket, e, is_extended_query).await?;
            if is_fatal {
                break;
            }
        }
        if is_cancel_request {
            break;
        }
    }
    Ok(())
}

/// The connection's side of `LISTEN`.
#[derive(Default)]
struct Listener {
    /// The last message handled ended a query.
    between_statements: bool,
    /// The connection's backend, once its client logged in.
    backend: Option<Arc<Backend>>,
    /// The feed's sender is gone.
    stopped: bool,
}

impl Listener {
    fn backend(&mut self, accepted: &Accepted) -> Option<&Arc<Backend>> {
        if self.backend.is_none() {
            self.backend = accepted.backend();
        }
        self.backend.as_ref()
    }

    fn listens(&mut self, accepted: &Accepted) -> bool {
        !self.stopped && self.backend(accepted).is_some_and(|b| b.listening.any())
    }

    /// The notification due now, if any.
    fn due(
        &mut self,
        accepted: &Accepted,
        feed: &watch::Receiver<Resolved>,
    ) -> Option<NotificationResponse> {
        let backend = self.backend(accepted)?;
        let newest = feed.borrow().newest.clone();
        let payload = backend.listening.due(newest.as_ref())?;
        Some(NotificationResponse::new(
            backend.pid,
            CHANGES_CHANNEL.to_string(),
            payload,
        ))
    }
}
