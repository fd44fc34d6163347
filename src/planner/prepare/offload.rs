//! Where a DataFusion plan runs. Connections live on single-threaded
//! runtimes ([`crate::pgwire`]'s connection threads), good for the
//! protocol, point lookups and writes; a plan may take seconds and spread
//! its partitions over every core, so it is started and driven on the
//! server's multi-threaded runtime, and its batches come back over a
//! small channel. When the statement is dropped (cancelled, timed out, the
//! client gone), the plan is dropped with it, even mid-batch.

use std::future::Future;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DfResult;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::planner::read::stream::tokio_stream_from;

/// Batches on their way from the plan's runtime to the connection.
const BATCHES_IN_FLIGHT: usize = 2;

/// The stream `start` makes, started and polled on `runtime` when the
/// caller is on a single-threaded one (in place otherwise).
pub async fn run_plan<F>(runtime: Option<&Handle>, start: F) -> Result<SendableRecordBatchStream>
where
    F: Future<Output = Result<SendableRecordBatchStream>> + Send + 'static,
{
    let on_connection_thread = Handle::try_current()
        .is_ok_and(|here| here.runtime_flavor() == RuntimeFlavor::CurrentThread);
    let Some(runtime) = runtime.filter(|_| on_connection_thread) else {
        return start.await;
    };
    let (started, schema) = oneshot::channel();
    let (tx, rx) = mpsc::channel::<DfResult<RecordBatch>>(BATCHES_IN_FLIGHT);
    runtime.spawn(async move {
        let mut stream = tokio::select! {
            s = start => match s {
                Ok(s) => s,
                Err(e) => {
                    let _ = started.send(Err(e));
                    return;
                }
            },
            _ = tx.closed() => return,
        };
        if started.send(Ok(stream.schema())).is_err() {
            return;
        }
        loop {
            let batch = tokio::select! {
                b = stream.next() => b,
                _ = tx.closed() => return,
            };
            let Some(batch) = batch else { return };
            if tx.send(batch).await.is_err() {
                return;
            }
        }
    });
    let schema = schema
        .await
        .map_err(|_| Error::internal("the query's task ended before it started"))??;
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        schema,
        tokio_stream_from(rx),
    )))
}
