//! `information_schema.columns` and `.views` in PostgreSQL's terms.
//!
//! DataFusion's information schema describes columns with Arrow type names
//! (`Int64`, `Timestamp(µs, "UTC")`) and counts positions from 0; tools
//! (DBeaver, Metabase, Grafana) read `data_type`, `udt_name` and
//! `ordinal_position` as PostgreSQL reports them. A reference to
//! `information_schema.columns` is replaced by a derived table over
//! DataFusion's that translates those columns; every other column passes
//! through, so `SELECT *` and qualified references keep working.
//! `information_schema.views` names its text `definition`; PostgreSQL's
//! (which dbt and SQLAlchemy read) is `view_definition`, with the
//! updatability columns beside it: a view is never updatable here.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, Statement, TableAlias, TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::planner::pg_types;

/// The derived table standing in for `information_schema.columns`.
const COLUMNS: &str = "SELECT table_catalog, table_schema, table_name, column_name, \
    CAST(ordinal_position + 1 AS INTEGER) AS ordinal_position, column_default, is_nullable, \
    stemedb_pg_type_name(data_type, false) AS data_type, character_maximum_length, \
    character_octet_length, numeric_precision, numeric_precision_radix, numeric_scale, \
    datetime_precision, interval_type, table_catalog AS udt_catalog, \
    'pg_catalog' AS udt_schema, stemedb_pg_type_name(data_type, true) AS udt_name \
    FROM information_schema.columns";

/// The derived table standing in for `information_schema.views`.
const VIEWS: &str = "SELECT table_catalog, table_schema, table_name, \
    definition AS view_definition, 'NONE' AS check_option, 'NO' AS is_updatable, \
    'NO' AS is_insertable_into, 'NO' AS is_trigger_updatable, \
    'NO' AS is_trigger_deletable, 'NO' AS is_trigger_insertable_into \
    FROM information_schema.views WHERE definition IS NOT NULL";

/// The derived table standing in for `pg_catalog.pg_tables`, which
/// `datafusion-pg-catalog` fills with every relation: only tables (dbt
/// reads a relation's kind from whether `pg_tables` or `pg_views` lists
/// it, and a view listed in both is taken for either).
const PG_TABLES: &str = "SELECT t.* FROM pg_catalog.pg_tables t \
    JOIN pg_catalog.pg_namespace n ON n.nspname = t.schemaname \
    JOIN pg_catalog.pg_class c ON c.relname = t.tablename AND c.relnamespace = n.oid \
    WHERE c.relkind = 'r'";

/// Rewrites references to `information_schema.columns` and `.views`, and
/// to `pg_tables`, in `statement`.
pub fn rewrite(statement: &mut Statement) {
    struct Columns;
    impl VisitorMut for Columns {
        type Break = ();
        // Post-order: the derived table inserted here is not visited again.
        fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, alias, .. } = factor
                && let Some((table, sql)) = replaced(name)
                && let Some(subquery) = derived(sql)
            {
                let alias = alias.clone().unwrap_or_else(|| TableAlias {
                    explicit: true,
                    at: None,
                    name: Ident::new(table),
                    columns: vec![],
                });
                *factor = TableFactor::Derived {
                    lateral: false,
                    subquery,
                    alias: Some(alias),
                    sample: None,
                };
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Columns);
}

/// The table `name` names and the query standing in for it, if it is
/// one this module translates.
fn replaced(name: &ObjectName) -> Option<(&'static str, &'static str)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| i.value.to_lowercase())
        .collect();
    match parts.as_slice() {
        [.., schema, table] if schema == "information_schema" => match table.as_str() {
            "columns" => Some(("columns", COLUMNS)),
            "views" => Some(("views", VIEWS)),
            _ => None,
        },
        [.., schema, table] if schema == "pg_catalog" && table == "pg_tables" => {
            Some(("pg_tables", PG_TABLES))
        }
        [table] if table == "pg_tables" => Some(("pg_tables", PG_TABLES)),
        _ => None,
    }
}

fn derived(sql: &str) -> Option<Box<datafusion::sql::sqlparser::ast::Query>> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .ok()?
        .parse_query()
        .ok()
}

/// PostgreSQL's name for an Arrow type as DataFusion prints it: the SQL
/// name (`data_type`) or the internal one (`udt_name`), from the one type
/// map ([`crate::planner::pg_types`]).
fn pg_type_name(arrow: &str, udt: bool) -> String {
    let t = pg_types::of_display(arrow);
    match udt {
        true => t.name().to_string(),
        false => pg_types::sql_name(&t).to_string(),
    }
}

/// Registers `stemedb_pg_type_name(arrow_type, udt)` used by the rewrite.
pub fn install(ctx: &SessionContext) {
    ctx.register_udf(create_udf(
        "stemedb_pg_type_name",
        vec![DataType::Utf8, DataType::Boolean],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (types, udt) = (arrays[0].as_string::<i32>(), arrays[1].as_boolean());
            let mut out = StringBuilder::new();
            for i in 0..types.len() {
                match types.is_valid(i) {
                    true => out.append_value(pg_type_name(types.value(i), udt.value(i))),
                    false => out.append_null(),
                }
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
        }),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_types_get_postgres_names() {
        assert_eq!(pg_type_name("Int16", false), "smallint");
        assert_eq!(
            pg_type_name("Timestamp(µs, \"UTC\")", false),
            "timestamp with time zone"
        );
        assert_eq!(pg_type_name("Timestamp(µs, \"UTC\")", true), "timestamptz");
        assert_eq!(pg_type_name("Float64", true), "float8");
    }

    #[test]
    fn columns_reference_becomes_a_translating_derived_table() {
        let sql = "SELECT c.data_type FROM information_schema.columns c WHERE c.table_name = 'x'";
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        rewrite(&mut statements[0]);
        let text = statements[0].to_string();
        assert!(
            text.contains("stemedb_pg_type_name(data_type, false) AS data_type"),
            "{text}"
        );
        assert!(
            text.ends_with(") AS c WHERE c.table_name = 'x'")
                || text.ends_with(") c WHERE c.table_name = 'x'"),
            "{text}"
        );
    }
}
