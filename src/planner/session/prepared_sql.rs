//! SQL-level `PREPARE` / `EXECUTE` / `DEALLOCATE`: named statements kept
//! per session, planned once at PREPARE and run with their arguments at
//! EXECUTE — the same [`Prepared`] the extended protocol uses, so a
//! statement behaves the same whichever way a client prepares it.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{CastKind, DataType as SqlType, Expr, SelectItem, Value};

use super::run::{Session, df};
use crate::error::{Error, Result, sqlstate};
use crate::planner::frontend::classify::Action;
use crate::planner::frontend::parse::select;
use crate::planner::output::{Output, command};
use crate::planner::prepare::prepared::Prepared;

fn missing(name: &str) -> Error {
    Error::new(
        sqlstate::INVALID_SQL_STATEMENT_NAME,
        format!("prepared statement \"{name}\" does not exist"),
    )
}

impl Session {
    /// `PREPARE name (types) AS statement`.
    pub(in crate::planner) async fn prepare_sql(
        &self,
        name: &str,
        types: &[SqlType],
        statement: &Action,
    ) -> Result<Output> {
        if self.named().contains_key(name) {
            return Err(Error::new(
                sqlstate::DUPLICATE_PREPARED_STATEMENT,
                format!("prepared statement \"{name}\" already exists"),
            ));
        }
        let mut prepared = self.prepare(statement.clone()).await?;
        for (i, sql_type) in types.iter().enumerate() {
            prepared.declare(i, self.sql_type(sql_type).await?);
        }
        self.named().insert(name.to_string(), prepared);
        Ok(command("PREPARE"))
    }

    /// The statement `EXECUTE name` runs.
    pub(in crate::planner) fn named_statement(&self, name: &str) -> Result<Prepared> {
        self.named().get(name).cloned().ok_or_else(|| missing(name))
    }

    /// The values of `EXECUTE name (arguments)`, as the statement's
    /// parameter types.
    pub(in crate::planner) async fn arguments(
        &self,
        name: &str,
        target: &Prepared,
        arguments: &[Expr],
    ) -> Result<Vec<ScalarValue>> {
        let types = target.parameter_types();
        if arguments.len() != types.len() {
            return Err(Error::new(
                sqlstate::SYNTAX_ERROR,
                format!(
                    "wrong number of parameters for prepared statement \"{name}\": expected {}, got {}",
                    types.len(),
                    arguments.len()
                ),
            ));
        }
        if arguments.is_empty() {
            return Ok(vec![]);
        }
        let row = self.select_one(arguments.to_vec()).await?;
        row.into_iter()
            .zip(types)
            .enumerate()
            .map(|(i, (value, t))| match t {
                Some(t) if t != value.data_type() => value.cast_to(&t).map_err(|e| {
                    Error::new(
                        sqlstate::INVALID_TEXT_REPRESENTATION,
                        format!("argument {} of \"{name}\": {e}", i + 1),
                    )
                }),
                _ => Ok(value),
            })
            .collect()
    }

    /// `DEALLOCATE name` / `DEALLOCATE ALL`.
    pub(in crate::planner) fn deallocate(&self, name: Option<&str>) -> Result<Output> {
        let mut named = self.named();
        match name {
            None => named.clear(),
            Some(name) => {
                named.remove(name).ok_or_else(|| missing(name))?;
            }
        }
        Ok(command("DEALLOCATE"))
    }

    /// The Arrow type of an SQL type (`text`, `int`, `timestamptz`).
    async fn sql_type(&self, sql_type: &SqlType) -> Result<DataType> {
        let null = Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(Expr::value(Value::Null)),
            data_type: sql_type.clone(),
            array: false,
            format: None,
        };
        Ok(self.select_one(vec![null]).await?.remove(0).data_type())
    }

    /// The one row of `SELECT <items>`, planned from the items' trees.
    async fn select_one(&self, items: Vec<Expr>) -> Result<Vec<ScalarValue>> {
        let items = items.into_iter().map(SelectItem::UnnamedExpr).collect();
        let statement = DfStatement::Statement(Box::new(select(items, None)));
        let ctx = self.context();
        let plan = ctx.state().statement_to_plan(statement).await.map_err(df)?;
        let batches = ctx
            .execute_logical_plan(plan)
            .await
            .map_err(df)?
            .collect()
            .await
            .map_err(df)?;
        let batch = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .ok_or_else(|| Error::internal("SELECT of constants returned no row"))?;
        batch
            .columns()
            .iter()
            .map(|c| ScalarValue::try_from_array(c, 0).map_err(df))
            .collect()
    }
}
