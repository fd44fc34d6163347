//! What drivers and tools read about the database: `pg_catalog`,
//! `information_schema` and PostgreSQL's catalog functions. The
//! `datafusion-pg-catalog` crate provides the tables, functions and a SQL
//! rewriter for the catalog queries tools send; StemeDB adds what is its
//! own (the `version()` drivers parse).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

/// The parser: sqlparser's PostgreSQL dialect plus rewrites of catalog
/// queries into forms DataFusion plans. Built once (it pre-tokenises its
/// rewrite table).
static PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

pub fn parse(sql: &str) -> Result<Vec<Statement>, ParserError> {
    PARSER.parse(sql)
}

/// Installs `pg_catalog` and the catalog functions in a session.
pub fn install(ctx: &SessionContext) {
    if let Err(e) = datafusion_pg_catalog::setup_pg_catalog(ctx, "stemedb", EmptyContextProvider) {
        tracing::warn!("pg_catalog unavailable in this session: {e}");
    }
    // psycopg's TypeInfo (used by SQLAlchemy on connect) looks extension
    // types up with to_regtype(); StemeDB has none, so it answers NULL.
    ctx.register_udf(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Int32(None)))),
    ));
    let version = crate::version_string();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                version.clone(),
            ))))
        }),
    ));
}
