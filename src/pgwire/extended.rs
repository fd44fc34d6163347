//! The extended query protocol: Parse plans a statement once (DataFusion
//! infers the types of untyped `$n` parameters), Describe reports
//! parameter and result types, Bind/Execute run it with values, in text or
//! binary format.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use futures::Sink;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::errors::to_pg;
use super::simple::respond;
use super::{Backend, encode, params};
use crate::error::{Error, sqlstate};
use crate::planner::{Engine, Prepared};

/// A statement prepared on a connection.
#[derive(Debug, Clone)]
pub struct Statement {
    pub prepared: Prepared,
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
        let prepared = session.prepare(action).await.map_err(to_pg)?;
        let inferred = prepared.parameter_types();
        Ok(Some(Statement { prepared, inferred }))
    }

    fn get_parameter_types(&self, stmt: &Statement) -> PgWireResult<Vec<Type>> {
        Ok(stmt
            .inferred
            .iter()
            .map(|t| t.as_ref().map(encode::pg_type).unwrap_or(Type::TEXT))
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
        let session = self.session(client);
        let values = params::decode(portal)?;
        let output = session
            .execute(&portal.statement.statement.prepared, values)
            .await
            .map_err(to_pg)?;
        Ok(respond(output, &portal.result_column_format))
    }
}
