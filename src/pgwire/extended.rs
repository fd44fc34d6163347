//! The extended query protocol: Parse plans a statement once (DataFusion
//! infers the types of untyped `$n` parameters), Describe reports
//! parameter and result types, Bind/Execute run it with values, in text or
//! binary format.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use futures::{Sink, SinkExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::{Bind, Describe, Execute};

use super::corked::Corked;
use super::errors::to_pg;
use super::simple::respond;
use super::{Backend, encode, params};
use crate::error::{Error, sqlstate};
use crate::planner::pg_types as types;
use crate::planner::{Engine, Prepared};

/// A statement prepared on a connection.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The statement's text, for pg_stat_activity.
    pub sql: String,
    pub prepared: Arc<Prepared>,
    /// Parameter types DataFusion inferred, by position.
    pub inferred: Vec<Option<DataType>>,
}

/// Parses and plans statements for the extended protocol.
pub struct Parser {
    pub engine: Engine,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Statement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = super::session_of(&self.engine, client);
        if let Some(prepared) = session.planned(sql) {
            return Ok(Some(Statement {
                sql: sql.to_string(),
                inferred: prepared.parameter_types(),
                prepared,
            }));
        }
        let mut actions = session.parse(sql).map_err(to_pg)?;
        if actions.len() > 1 {
            return Err(to_pg(Error::new(
                sqlstate::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            )));
        }
        let Some(action) = actions.pop() else {
            return Ok(None);
        };
        let prepared = Arc::new(session.prepare(action).await.map_err(to_pg)?);
        session.keep(sql, &prepared);
        let inferred = prepared.parameter_types();
        Ok(Some(Statement {
            sql: sql.to_string(),
            prepared,
            inferred,
        }))
    }

    fn get_parameter_types(&self, stmt: &Statement) -> PgWireResult<Vec<Type>> {
        Ok(stmt
            .inferred
            .iter()
            .map(|t| t.as_ref().map(types::pg_type).unwrap_or(Type::TEXT))
            .collect())
    }

    fn get_result_schema(
        &self,
        stmt: &Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = column_format.cloned().unwrap_or(Format::UnifiedText);
        Ok(stmt
            .prepared
            .result_schema()
            .map(|s| encode::fields(&s, &format))
            .unwrap_or_default())
    }
}

#[async_trait]
impl ExtendedQueryHandler for Backend {
    type Statement = Statement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Defaults(self.parser.clone())
            .on_bind(&mut Corked(client), message)
            .await
    }

    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self._on_describe(&mut Corked(client), message).await
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self._on_execute(&mut Corked(client), message).await?;
        // COPY FROM STDIN: the client waits for CopyInResponse before it
        // sends data (and the Sync it already sent waits behind the COPY).
        if matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            client.flush().await?;
        }
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.admit(client).await?;
        let session = self.session(client);
        let values = params::decode(portal, &portal.statement.statement.inferred)?;
        let statement = &portal.statement.statement;
        let running = session.running(&statement.sql);
        let output = session.execute(&statement.prepared, values).await;
        session.finished(running);
        Ok(respond(
            output.map_err(to_pg)?,
            &portal.result_column_format,
        ))
    }
}

/// pgwire's default handlers, for the messages StemeDB handles as pgwire
/// does except for when the socket is flushed ([`Corked`]). Never asked to
/// run a query.
struct Defaults(Arc<Parser>);

#[async_trait]
impl ExtendedQueryHandler for Defaults {
    type Statement = Statement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.0.clone()
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        _portal: &Portal<Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(to_pg(Error::internal("pgwire defaults do not run queries")))
    }
}
