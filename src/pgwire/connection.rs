//! One client connection, from accept to close — including how it ends
//! when asked to: `pg_terminate_backend` or the server shutting down.
//!
//! Either way the client is told why, as PostgreSQL tells it: a FATAL
//! `57P01` ErrorResponse ("terminating connection due to administrator
//! command"), then the socket closes — not a reset. On shutdown a running
//! statement may finish (and its rows stream) for up to `shutdown_timeout`;
//! then it is cancelled (`57014`). A statement the client sends once the
//! server drains waits in the query handler ([`super::Backend`]) and gets
//! the FATAL from here, as an idle connection does (over TLS, where this
//! cannot write, from the handler).
//!
//! pgwire owns the socket while it serves it, so the goodbye goes out on a
//! duplicate of the socket's descriptor, written after pgwire's task is
//! dropped at a point where it has no reply in flight. Over TLS that
//! message cannot be written outside the TLS session: those connections
//! just close.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use pgwire::error::ErrorInfo;
use pgwire::messages::Message;
use pgwire::messages::response::ErrorResponse;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Handlers;
use crate::connections::{Accepted, Activity, InFlight};
use crate::monitor;

/// What a closed connection's client reads last (PostgreSQL's words).
pub const ADMIN_SHUTDOWN: &str = crate::error::sqlstate::ADMIN_SHUTDOWN;
pub const ADMIN_SHUTDOWN_MESSAGE: &str = "terminating connection due to administrator command";

/// After a statement is cancelled, how long it may take to say so.
const CANCEL_GRACE: Duration = Duration::from_secs(2);
/// How long a closing connection reads what its client still sends, so
/// the close is a FIN after the goodbye rather than a reset.
const LINGER: Duration = Duration::from_secs(1);

/// One open connection in the server's count (the one `max_connections`
/// limits and shutdown waits on). Dropped when the connection's task ends
/// — however it ends, a panic included — so the count never leaks and
/// locks clients out.
pub struct OpenConnection(Arc<InFlight>);

impl OpenConnection {
    pub fn count(open: &Arc<InFlight>) -> OpenConnection {
        open.enter();
        monitor::connection_opened();
        OpenConnection(open.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        monitor::connection_closed();
        self.0.leave();
    }
}

/// Why a connection is being closed by the server.
#[derive(Clone, Copy)]
enum Ending {
    Terminated,
    Shutdown,
}

/// Serves one accepted socket until the client leaves or the server
/// closes the connection.
pub async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    handlers: Arc<Handlers>,
    tls: Option<pgwire::tokio::TlsAcceptor>,
    accepted: Accepted,
    activity: Arc<Activity>,
    shutdown_timeout: Duration,
) {
    let plain = tls.is_none();
    let goodbye_fd = socket.as_fd().try_clone_to_owned().ok().filter(|_| plain);
    // Boxed, so that dropping it below really ends pgwire's task (and
    // closes its descriptor) before the goodbye is written.
    let feed = handlers.changes_feed();
    let mut conn = Box::pin(super::message_loop::process_socket(
        socket, tls, handlers, feed, &accepted,
    ));
    let ending = tokio::select! {
        ended = &mut conn => {
            if let Err(e) = ended {
                tracing::debug!(%peer, "connection ended with error: {e}");
            }
            return;
        }
        _ = accepted.terminated() => Ending::Terminated,
        _ = activity.until_draining() => Ending::Shutdown,
    };
    let Some(backend) = accepted.backend() else {
        // Not logged in yet: nothing to finish, nobody to tell.
        return;
    };
    // Let the running statement end (keep serving it meanwhile).
    let finish = async {
        let allowed = match ending {
            Ending::Terminated => Duration::ZERO,
            Ending::Shutdown => shutdown_timeout,
        };
        if tokio::time::timeout(allowed, backend.quiet())
            .await
            .is_err()
        {
            backend.cancel();
            let _ = tokio::time::timeout(CANCEL_GRACE, backend.quiet()).await;
        }
    };
    tokio::select! {
        _ = &mut conn => return,
        _ = finish => {}
    }
    // The last reply's bytes may still be on their way out of pgwire's
    // buffer: give its flush a moment.
    if tokio::time::timeout(Duration::from_millis(20), &mut conn)
        .await
        .is_ok()
    {
        return;
    }
    drop(conn);
    match ending {
        Ending::Terminated => {
            tracing::info!(%peer, "connection terminated by pg_terminate_backend")
        }
        Ending::Shutdown => tracing::info!(%peer, "connection closed: server shutting down"),
    }
    if let Some(fd) = goodbye_fd {
        goodbye(fd).await;
    }
}

/// Sends the FATAL 57P01 on the connection's descriptor, closes our side
/// and reads until the client closes its side (bounded).
async fn goodbye(fd: std::os::fd::OwnedFd) {
    let Ok(mut socket) = TcpStream::from_std(std::net::TcpStream::from(fd)) else {
        return;
    };
    let mut message = BytesMut::new();
    let info = ErrorInfo::new(
        "FATAL".into(),
        ADMIN_SHUTDOWN.into(),
        ADMIN_SHUTDOWN_MESSAGE.into(),
    );
    if ErrorResponse::from(info).encode(&mut message).is_err() {
        return;
    }
    let said = async {
        socket.write_all(&message).await?;
        socket.shutdown().await?;
        let mut sink = [0u8; 4096];
        while socket.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(LINGER, said).await;
}
