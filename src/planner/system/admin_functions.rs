//! Operator functions that do work on the node and report it as text:
//! `SELECT stemedb_sync()` — a Merkle anti-entropy exchange with every live
//! peer now, one line per peer (on a single node: nothing to compare) —,
//! `SELECT stemedb_add_member('node4')` / `stemedb_remove_member('node3')`
//! — a change of the cluster's members ([`crate::cluster::layout`]) — and
//! `SELECT stemedb_backup('file:///path')` — an online backup of this node
//! ([`crate::backup`]) — and `SELECT stemedb_archive('file:///path')` — the
//! writes accepted since the last archive round, shipped now
//! ([`crate::backup::archive`]) — and `SELECT stemedb_reload_config()` —
//! the configuration's keyring, certificates and admin token read again
//! (the server's reload, as on SIGHUP). They run asynchronously inside the statement
//! (DataFusion async scalar functions), so the connection waits for them
//! and other clients do not.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use futures::future::BoxFuture;

use crate::planner::SessionShared;

type Run = fn(Arc<SessionShared>, Vec<String>) -> BoxFuture<'static, crate::error::Result<String>>;

struct Admin {
    name: &'static str,
    session: Arc<SessionShared>,
    signature: Signature,
    run: Run,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Admin {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.session, &other.session)
    }
}

impl Eq for Admin {}

impl std::hash::Hash for Admin {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        Arc::as_ptr(&self.session).hash(state);
    }
}

fn admin(name: &'static str, args: usize, session: &Arc<SessionShared>, run: Run) -> ScalarUDF {
    let admin = Admin {
        name,
        session: session.clone(),
        signature: Signature::exact(vec![DataType::Utf8; args], Volatility::Volatile),
        run,
    };
    AsyncScalarUDF::new(Arc::new(admin)).into_scalar_udf()
}

/// The operator functions of a session.
pub fn udfs(session: &Arc<SessionShared>) -> [ScalarUDF; 6] {
    [
        admin("stemedb_reload_config", 0, session, |session, _| {
            Box::pin(async move {
                let reload = session.reload.clone().ok_or_else(|| {
                    crate::error::Error::new(
                        crate::error::sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "this node was not started from a configuration it can read again",
                    )
                })?;
                crate::runtime::blocking::run(move || reload())
                    .await
                    .map_err(|e| crate::error::Error::internal(format!("reload: {e}")))?
            })
        }),
        admin("stemedb_sync", 0, session, |session, _| {
            Box::pin(async move { session.cluster.sync().await })
        }),
        admin("stemedb_add_member", 1, session, |session, args| {
            Box::pin(change_members(session, args.into_iter().next(), None))
        }),
        admin("stemedb_remove_member", 1, session, |session, args| {
            Box::pin(change_members(session, None, args.into_iter().next()))
        }),
        admin("stemedb_archive", 1, session, |session, args| {
            Box::pin(async move {
                let url = args.into_iter().next().unwrap_or_default();
                let a = crate::backup::archive::archive(&session.store, &url).await?;
                Ok(format!(
                    "archived {} records in {} segments, {} bytes",
                    a.records, a.segments, a.bytes
                ))
            })
        }),
        admin("stemedb_backup", 1, session, |session, args| {
            Box::pin(async move {
                let url = args.into_iter().next().unwrap_or_default();
                let created = crate::backup::create(&session.store, &url, |step| {
                    tracing::info!("backup: {step}")
                })
                .await?;
                Ok(format!(
                    "backup {}: {} files, {} bytes, {} bytes uploaded",
                    created.manifest.id,
                    created.manifest.files.len(),
                    created.total_bytes,
                    created.uploaded_bytes
                ))
            })
        }),
    ]
}

async fn change_members(
    session: Arc<SessionShared>,
    add: Option<String>,
    remove: Option<String>,
) -> crate::error::Result<String> {
    session.cluster.change_members(add, remove).await
}

impl ScalarUDFImpl for Admin {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(DataFusionError::Internal(format!(
            "{}() runs asynchronously",
            self.name
        )))
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for Admin {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let mut texts = Vec::new();
        for arg in ColumnarValue::values_to_arrays(&args.args)? {
            let strings = arg
                .as_string_opt::<i32>()
                .ok_or_else(|| DataFusionError::Plan(format!("{}() takes text", self.name)))?;
            if strings.is_empty() || strings.is_null(0) {
                return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
            }
            texts.push(strings.value(0).to_string());
        }
        let session = &self.session;
        let allowed = crate::planner::roles::check(
            &session.store,
            &session.user,
            crate::planner::roles::Privilege::Admin,
        );
        allowed.map_err(|e| DataFusionError::External(Box::new(e)))?;
        tracing::info!(target: "stemedb::audit", user = session.user, function = self.name, "admin function");
        let report = (self.run)(session.clone(), texts)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(report))))
    }
}
