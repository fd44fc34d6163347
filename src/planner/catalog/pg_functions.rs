//! PostgreSQL's session and server functions that drivers, poolers and
//! consoles call: `set_config`, `pg_backend_pid`, `pg_cancel_backend`,
//! `pg_terminate_backend`, `inet_server_addr`/`_port`,
//! `inet_client_addr`/`_port`, `pg_get_userbyid`, `localtimestamp` and
//! `gen_random_uuid`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, StringArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;

use crate::connections::Backend;
use crate::error::{Error, sqlstate};
use crate::planner::SessionShared;
use crate::planner::errors::external;
use crate::planner::udf_args::arrays;

/// The owner of every relation and schema StemeDB reports (docs/sql.md: the
/// one user).
pub const OWNER: &str = "stemedb";

fn scalar(value: ScalarValue) -> Result<ColumnarValue> {
    Ok(ColumnarValue::Scalar(value))
}

/// Registers the functions in a session.
pub fn install(ctx: &SessionContext, session: &Arc<SessionShared>) {
    let udfs = [
        set_config(session.clone()),
        crate::planner::system::owners_function::udf(session),
        crate::planner::system::frontier_function::udf(session),
        backend_info("pg_backend_pid", DataType::Int32, session, |b| {
            ScalarValue::Int32(b.map(|b| b.pid))
        }),
        backend_info("inet_server_addr", DataType::Utf8, session, |b| {
            ScalarValue::Utf8(b.map(|b| b.server.ip().to_string()))
        }),
        backend_info("inet_server_port", DataType::Int32, session, |b| {
            ScalarValue::Int32(b.map(|b| i32::from(b.server.port())))
        }),
        backend_info("inet_client_addr", DataType::Utf8, session, |b| {
            ScalarValue::Utf8(b.map(|b| b.client.ip().to_string()))
        }),
        backend_info("inet_client_port", DataType::Int32, session, |b| {
            ScalarValue::Int32(b.map(|b| i32::from(b.client.port())))
        }),
        signal("pg_cancel_backend", session.clone(), Backend::cancel),
        signal("pg_terminate_backend", session.clone(), Backend::terminate),
        create_udf(
            "pg_get_userbyid",
            vec![DataType::Int64],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(|_| scalar(ScalarValue::Utf8(Some(OWNER.to_string())))),
        ),
        // StemeDB's tables have no SQL-level indexes to describe.
        ScalarUDF::new_from_impl(Nothing::new("pg_get_indexdef")),
        // Nor comments on columns.
        ScalarUDF::new_from_impl(Nothing::new("col_description")),
        // No session has temporary schemas.
        create_udf(
            "pg_is_other_temp_schema",
            vec![DataType::Int64],
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(|_| scalar(ScalarValue::Boolean(Some(false)))),
        ),
        create_udf(
            "localtimestamp",
            vec![],
            DataType::Timestamp(TimeUnit::Microsecond, None),
            Volatility::Stable,
            Arc::new(|_| {
                scalar(ScalarValue::TimestampMicrosecond(
                    Some(crate::model::wall_clock_micros()),
                    None,
                ))
            }),
        ),
        datafusion::functions::string::uuid()
            .as_ref()
            .clone()
            .with_aliases(["gen_random_uuid"]),
    ];
    for udf in udfs
        .into_iter()
        .chain(crate::planner::system::admin_functions::udfs(session))
    {
        ctx.register_udf(udf);
    }
}

/// `set_config(name, value, is_local)`: as `SET name = value` (a local
/// setting lasts for the session too: StemeDB's blocks do not scope
/// settings); returns the new value.
fn set_config(session: Arc<SessionShared>) -> ScalarUDF {
    create_udf(
        "set_config",
        vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args, &[DataType::Utf8, DataType::Utf8])?;
            let (names, values) = (a[0].as_string::<i32>(), a[1].as_string::<i32>());
            let mut out = Vec::with_capacity(names.len());
            for (name, value) in names.iter().zip(values.iter()) {
                let (Some(name), Some(value)) = (name, value) else {
                    out.push(None);
                    continue;
                };
                let mut settings = session.settings.write().unwrap_or_else(|e| e.into_inner());
                settings.set(name, value).map_err(external)?;
                out.push(Some(settings.show(name).map_err(external)?));
            }
            Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
        }),
    )
}

/// A function of the calling connection's own backend.
fn backend_info(
    name: &str,
    returns: DataType,
    session: &Arc<SessionShared>,
    value: fn(Option<&Backend>) -> ScalarValue,
) -> ScalarUDF {
    let session = session.clone();
    create_udf(
        name,
        vec![],
        returns,
        Volatility::Stable,
        Arc::new(move |_| scalar(value(session.backend.get().map(Arc::as_ref)))),
    )
}

/// `pg_cancel_backend(pid)` / `pg_terminate_backend(pid)`: true if the
/// signal was sent; a backend of another user is refused (42501), an
/// unknown pid answers false, as in PostgreSQL.
fn signal(name: &'static str, session: Arc<SessionShared>, send: fn(&Backend)) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Volatile,
        Arc::new(move |args: &[ColumnarValue]| {
            let pids = arrays(&args[..1], &[DataType::Int64])?;
            let pids = pids[0].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let mut out = Vec::with_capacity(pids.len());
            for pid in pids.iter() {
                let Some(pid) = pid else {
                    out.push(None);
                    continue;
                };
                let backend = i32::try_from(pid)
                    .ok()
                    .and_then(|pid| session.activity.backend(pid));
                let Some(backend) = backend else {
                    tracing::warn!("{name}: PID {pid} is not a StemeDB backend process");
                    out.push(Some(false));
                    continue;
                };
                let admin = crate::planner::roles::Privilege::Admin;
                let may_signal_others =
                    crate::planner::roles::check(&session.store, &session.user, admin).is_ok();
                if backend.user != session.user && !may_signal_others {
                    return Err(external(Error::new(
                        sqlstate::INSUFFICIENT_PRIVILEGE,
                        format!(
                            "permission denied to signal process {pid}: it belongs to user \"{}\"",
                            backend.user
                        ),
                    )));
                }
                send(&backend);
                out.push(Some(true));
            }
            Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(out))))
        }),
    )
}

/// A catalog function describing something StemeDB does not have: NULL
/// for any arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Nothing {
    name: &'static str,
    signature: Signature,
}

impl Nothing {
    fn new(name: &'static str) -> Nothing {
        Nothing {
            name,
            signature: Signature::variadic_any(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for Nothing {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        scalar(ScalarValue::Utf8(None))
    }
}
