//! The simple query protocol: a string of one or more statements, run in
//! order; the first error ends the string (as in PostgreSQL) but never the
//! connection.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::portal::Format;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{CopyResponse, QueryResponse, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::Backend;
use super::encode;
use super::errors::error_info;
use crate::planner::{Output, Session, TxnChange};

/// Turns a statement's output into a wire response.
pub fn respond(output: Output, format: &Format) -> Response {
    match output {
        Output::Rows(stream) => {
            let fields = Arc::new(encode::fields(&stream.schema(), format));
            let rows = encode::rows(stream, fields.clone());
            Response::Query(QueryResponse::new(fields, rows))
        }
        Output::CopyIn { columns } => {
            Response::CopyIn(CopyResponse::new(0, columns, futures::stream::empty()))
        }
        Output::CopyOut { rows, options } => {
            Response::CopyOut(super::copy::copy_out(rows, &options))
        }
        Output::Command { tag, txn } => {
            let tag = command_tag(&tag);
            match txn {
                Some(TxnChange::Started) => Response::TransactionStart(tag),
                Some(TxnChange::Ended) => Response::TransactionEnd(tag),
                None => Response::Execution(tag),
            }
        }
    }
}

/// "INSERT 0 3" → Tag("INSERT 0").with_rows(3); "SET" → Tag("SET").
fn command_tag(tag: &str) -> Tag {
    match tag.rsplit_once(' ') {
        Some((head, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
            Tag::new(head).with_rows(n.parse().unwrap_or(0))
        }
        _ => Tag::new(tag),
    }
}

#[async_trait]
impl SimpleQueryHandler for Backend {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.admit(client).await?;
        let session = self.session(client);
        let running = session.running(query);
        let responses = run_all(&session, query).await;
        session.finished(running);
        Ok(responses)
    }
}

/// Runs a query string's statements until the first error.
async fn run_all(session: &Session, query: &str) -> Vec<Response> {
    let actions = match session.parse(query) {
        Ok(a) => a,
        Err(e) => return vec![Response::Error(Box::new(error_info(&e)))],
    };
    if actions.is_empty() {
        return vec![Response::EmptyQuery];
    }
    let mut responses = Vec::with_capacity(actions.len());
    for action in actions {
        let result = match session.prepare_simple(action).await {
            Ok((p, values)) => session.execute(&p, values).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(output) => responses.push(respond(output, &Format::UnifiedText)),
            Err(e) => {
                tracing::debug!(code = e.code, "statement failed: {}", e.message);
                responses.push(Response::Error(Box::new(error_info(&e))));
                break;
            }
        }
    }
    responses
}
