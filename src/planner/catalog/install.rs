//! What drivers and tools read about the database: `pg_catalog`,
//! `information_schema` and PostgreSQL's catalog functions. The
//! `datafusion-pg-catalog` crate provides the tables, functions and a SQL
//! rewriter for the catalog queries tools send; StemeDB adds what is its
//! own (the `version()` drivers parse).

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use crate::planner::SessionShared;
use crate::planner::errors::external;

/// Removes `pg_catalog` from a session that is going away. Its schema
/// provider holds the session's catalog list, in which it is itself
/// registered: a reference cycle that kept every closed session's catalog
/// — about 5 MiB each — alive for good.
pub fn uninstall(ctx: &SessionContext) {
    if let Some(catalog) = ctx.catalog(CATALOG) {
        let _ = catalog.deregister_schema("pg_catalog", true);
    }
}

/// The catalog (database) every session's tables live in.
const CATALOG: &str = "stemedb";

/// Installs `pg_catalog` and the catalog functions in a session.
pub fn install(ctx: &SessionContext, session: &Arc<SessionShared>) {
    let roles = super::roles_provider::Roles(session.store.clone());
    if let Err(e) = datafusion_pg_catalog::setup_pg_catalog(ctx, CATALOG, roles) {
        tracing::warn!("pg_catalog unavailable in this session: {e}");
    }
    if let Some(catalog) = ctx.catalog(CATALOG)
        && let Some(inner) = catalog.schema("pg_catalog")
    {
        let overlay =
            super::overlay::Overlay::new(inner, session.activity.clone(), session.store.clone());
        if let Err(e) = catalog.register_schema("pg_catalog", Arc::new(overlay)) {
            tracing::warn!("pg_catalog overlay unavailable in this session: {e}");
        }
    }
    if let Err(e) = crate::planner::system::stemedb_schema::install(ctx, CATALOG, session) {
        tracing::warn!("the stemedb schema is unavailable in this session: {e}");
    }
    super::pg_functions::install(ctx, session);
    super::information_schema::install(ctx);
    // psycopg's TypeInfo (used by SQLAlchemy on connect) looks extension
    // types up with to_regtype(); StemeDB has none, so it answers NULL.
    ctx.register_udf(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Int32(None)))),
    ));
    // current_setting(name): the session's value, as SHOW reports it.
    let shared = session.clone();
    ctx.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let settings = shared.settings();
            let show = |name: Option<&str>| -> datafusion::error::Result<Option<String>> {
                name.map(|n| settings.show(n).map_err(external)).transpose()
            };
            match &args[0] {
                ColumnarValue::Scalar(s) => {
                    let name = match s {
                        ScalarValue::Utf8(v)
                        | ScalarValue::LargeUtf8(v)
                        | ScalarValue::Utf8View(v) => v.clone(),
                        _ => None,
                    };
                    Ok(ColumnarValue::Scalar(ScalarValue::Utf8(show(
                        name.as_deref(),
                    )?)))
                }
                ColumnarValue::Array(a) => {
                    let names = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
                    let values = names
                        .as_string::<i32>()
                        .iter()
                        .map(show)
                        .collect::<datafusion::error::Result<StringArray>>()?;
                    Ok(ColumnarValue::Array(Arc::new(values)))
                }
            }
        }),
    ));
    // SQLAlchemy's column reflection asks for identity sequences and
    // collation visibility; StemeDB has neither sequences nor collations.
    ctx.register_udf(create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    ));
    // Everything StemeDB has is on the search path (psql's \df, SQLAlchemy).
    for name in ["pg_collation_is_visible", "pg_function_is_visible"] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Int32],
            DataType::Boolean,
            Volatility::Stable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
        ));
    }
    // Signatures of user functions (psql's \df): StemeDB has none of its
    // own, so there is nothing to describe.
    for name in [
        "pg_get_function_result",
        "pg_get_function_arguments",
        "pg_get_function_sqlbody",
    ] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Int32],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
        ));
    }
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
        super::json_build_object::JsonBuildObject::new(),
    ));
    // The connected user, not the crate's placeholder.
    for name in ["session_user", "current_user", "user"] {
        let user = session.user.clone();
        ctx.register_udf(create_udf(
            name,
            vec![],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(user.clone()))))),
        ));
    }
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
