//! `pg_catalog` relations StemeDB answers itself, layered over the
//! `datafusion-pg-catalog` schema ([`Overlay`]):
//!
//! - `pg_stat_activity`: the connections of this server, read when the
//!   statement runs ([`super::pg_stat_activity`]);
//! - `pg_index`, `pg_proc`: the crate's rows with their array columns as
//!   arrays ([`super::arrays`]), so `unnest(indkey)` and
//!   `proargtypes::regtype[]` work as in PostgreSQL (SQLAlchemy's reflection
//!   and pgcli's completion use them);
//! - `pg_class`: plus `reloptions`, always NULL;
//! - `pg_views`: the views defined with CREATE VIEW, read when the
//!   statement runs, and `pg_get_viewdef(view)` their text (rewritten into
//!   a lookup in it, [`viewdef`]).
//!
//! The crate qualifies the unqualified names of its own relations while
//! parsing; [`rewrite`] does the same for `pg_stat_activity`.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectNamePart,
    Statement, TableFactor, VisitMut, VisitorMut, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::arrays::{array_columns, with_arrays};
use crate::connections::Activity;
use crate::storage::Store;

const STAT_ACTIVITY: &str = "pg_stat_activity";

/// `generate_subscripts(array, 1)` — a set-returning function SQLAlchemy
/// zips with `unnest(array)` in a select list — as the unnest of the
/// subscripts, which DataFusion zips the same way.
fn generate_subscripts(expr: &mut SqlExpr) {
    let SqlExpr::Function(f) = expr else { return };
    if !f
        .name
        .to_string()
        .eq_ignore_ascii_case("generate_subscripts")
    {
        return;
    }
    let FunctionArguments::List(list) = &f.args else {
        return;
    };
    let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(array))) = list.args.first() else {
        return;
    };
    let sql = format!("unnest(generate_series(1, CAST(cardinality({array}) AS BIGINT)))");
    if let Ok(replacement) = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_expr())
    {
        *expr = replacement;
    }
}

/// `pg_get_viewdef(view [, pretty])` as a lookup of the view's text in
/// `pg_views`: by name for a name (`'v'`, `'s.v'::regclass`), by OID for
/// an OID (what psql's `\d+` passes).
fn viewdef(expr: &mut SqlExpr) {
    let SqlExpr::Function(f) = expr else { return };
    let name = f.name.to_string().to_ascii_lowercase();
    if name != "pg_get_viewdef" && name != "pg_catalog.pg_get_viewdef" {
        return;
    }
    let FunctionArguments::List(list) = &f.args else {
        return;
    };
    let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(view))) = list.args.first() else {
        return;
    };
    let mut named = view;
    if let SqlExpr::Cast { expr, .. } = named {
        named = expr;
    }
    let condition = match named {
        SqlExpr::Value(v) => match &v.value {
            datafusion::sql::sqlparser::ast::Value::SingleQuotedString(text)
                if text.bytes().all(|b| b.is_ascii_digit()) =>
            {
                format!("c.oid = {text}")
            }
            datafusion::sql::sqlparser::ast::Value::SingleQuotedString(text) => {
                let text = text.replace('\'', "''");
                match text.split_once('.') {
                    Some((schema, view)) => {
                        format!("v.schemaname = '{schema}' AND v.viewname = '{view}'")
                    }
                    None => format!("v.viewname = '{text}'"),
                }
            }
            _ => format!("c.oid = {view}"),
        },
        _ => format!("c.oid = {view}"),
    };
    let sql = format!(
        "(SELECT max(v.definition) FROM pg_catalog.pg_views v \
         JOIN pg_catalog.pg_namespace n ON n.nspname = v.schemaname \
         JOIN pg_catalog.pg_class c ON c.relname = v.viewname AND c.relnamespace = n.oid \
         WHERE {condition})"
    );
    if let Ok(replacement) = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_expr())
    {
        *expr = replacement;
    }
}

/// Qualifies unqualified references to `pg_stat_activity` and rewrites
/// `generate_subscripts` and `pg_get_viewdef`.
pub fn rewrite(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |e| {
        generate_subscripts(e);
        viewdef(e);
        ControlFlow::<()>::Continue(())
    });
    struct Qualify;
    impl VisitorMut for Qualify {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name, args: None, ..
            } = factor
                && let [ObjectNamePart::Identifier(ident)] = name.0.as_slice()
                && ident.value.eq_ignore_ascii_case(STAT_ACTIVITY)
            {
                name.0
                    .insert(0, ObjectNamePart::Identifier(Ident::new("pg_catalog")));
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Qualify);
}

/// The session's `pg_catalog`: the crate's schema with StemeDB's relations
/// in front.
pub struct Overlay {
    inner: Arc<dyn SchemaProvider>,
    activity: Arc<Activity>,
    store: Arc<Store>,
}

impl Overlay {
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        activity: Arc<Activity>,
        store: Arc<Store>,
    ) -> Overlay {
        Overlay {
            inner,
            activity,
            store,
        }
    }
}

/// `pg_views`: every view defined now, with its owner and text.
fn pg_views(store: &Store) -> Result<Arc<dyn TableProvider>> {
    use datafusion::arrow::array::StringArray;
    let definitions = crate::planner::views::Definitions::load(store)
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
    let schema = Arc::new(Schema::new(
        ["schemaname", "viewname", "viewowner", "definition"]
            .map(|name| Field::new(name, DataType::Utf8, true))
            .to_vec(),
    ));
    let views = &definitions.views;
    let column = |pick: &dyn Fn(&(String, String), &crate::planner::views::View) -> String| {
        Arc::new(StringArray::from_iter_values(
            views.iter().map(|(k, v)| pick(k, v)),
        )) as datafusion::arrow::array::ArrayRef
    };
    let batch = datafusion::arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![
            column(&|(s, _), _| s.clone()),
            column(&|(_, n), _| n.clone()),
            column(&|_, v| v.owner.clone()),
            column(&|_, v| v.query.clone()),
        ],
    )?;
    Ok(Arc::new(datafusion::catalog::MemTable::try_new(
        schema,
        vec![vec![batch]],
    )?))
}

impl fmt::Debug for Overlay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pg_catalog")
    }
}

#[async_trait]
impl SchemaProvider for Overlay {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.push(STAT_ACTIVITY.to_string());
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match name.to_ascii_lowercase().as_str() {
            "pg_views" => Ok(Some(pg_views(&self.store)?)),
            STAT_ACTIVITY => Ok(Some(Arc::new(super::pg_stat_activity::table(
                self.activity.clone(),
            )))),
            lower @ ("pg_index" | "pg_proc") => match self.inner.table(name).await? {
                Some(table) => Ok(Some(with_arrays(table, array_columns(lower)).await?)),
                None => Ok(None),
            },
            "pg_class" => match self.inner.table(name).await? {
                Some(table) => Ok(Some(Arc::new(WithReloptions::new(table)))),
                None => Ok(None),
            },
            _ => self.inner.table(name).await,
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(STAT_ACTIVITY) || self.inner.table_exist(name)
    }
}

/// `pg_class` plus `reloptions` (NULL: no storage parameters), which
/// pgcli and SQLAlchemy read. A wrapper, not a copy: `pg_class` lists the
/// session's relations — `pg_catalog`'s included — when it is scanned.
#[derive(Debug)]
struct WithReloptions {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
}

fn reloptions_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

impl WithReloptions {
    fn new(inner: Arc<dyn TableProvider>) -> WithReloptions {
        let mut fields: Vec<Field> = inner
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("reloptions", reloptions_type(), true));
        WithReloptions {
            inner,
            schema: Arc::new(Schema::new(fields)),
        }
    }
}

#[async_trait]
impl TableProvider for WithReloptions {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let own = self.inner.schema().fields().len();
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..=own).collect(),
        };
        let from_inner: Vec<usize> = wanted.iter().copied().filter(|&i| i < own).collect();
        let input = self
            .inner
            .scan(state, Some(&from_inner), &[], limit)
            .await?;
        let null = ScalarValue::try_from(reloptions_type())?;
        let exprs = wanted.iter().map(|&i| {
            let name = self.schema.field(i).name().clone();
            let expr: Arc<dyn PhysicalExpr> = match from_inner.iter().position(|&j| j == i) {
                Some(at) => Arc::new(Column::new(&name, at)),
                None => Arc::new(Literal::new(null.clone())),
            };
            (expr, name)
        });
        Ok(Arc::new(ProjectionExec::try_new(exprs, input)?))
    }
}
