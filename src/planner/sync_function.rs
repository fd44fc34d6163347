//! `SELECT stemedb_sync()`: runs a Merkle anti-entropy exchange with every
//! live peer now and returns what it found, one line per peer — for an
//! operator who will not wait for `[replication] sync_interval`. On a
//! single node there is nothing to compare: it says so.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::SessionShared;

struct Sync {
    session: Arc<SessionShared>,
    signature: Signature,
}

impl std::fmt::Debug for Sync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stemedb_sync")
    }
}

impl PartialEq for Sync {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.session, &other.session)
    }
}

impl Eq for Sync {}

impl std::hash::Hash for Sync {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.session).hash(state);
    }
}

pub fn udf(session: &Arc<SessionShared>) -> ScalarUDF {
    let sync = Sync {
        session: session.clone(),
        signature: Signature::exact(vec![], Volatility::Volatile),
    };
    AsyncScalarUDF::new(Arc::new(sync)).into_scalar_udf()
}

impl ScalarUDFImpl for Sync {
    fn name(&self) -> &str {
        "stemedb_sync"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(DataFusionError::Internal(
            "stemedb_sync() runs asynchronously".into(),
        ))
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for Sync {
    async fn invoke_async_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let report = match &self.session.cluster {
            Some(cluster) => cluster
                .sync()
                .await
                .map_err(|e| DataFusionError::Execution(e.message))?,
            None => "single node: no replicas to compare".to_string(),
        };
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(report))))
    }
}
