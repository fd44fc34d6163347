//! Turns a blocking RocksDB scan into a DataFusion stream. The scan runs on
//! a blocking thread and hands batches over a small bounded channel, so a
//! full-table scan never holds more than a few batches in memory and stops
//! as soon as the consumer (a LIMIT, a cancelled query) drops the stream.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::planner::schema::RowBuilder;

/// Where a scan sends its batches.
pub struct BatchSender {
    tx: mpsc::Sender<DfResult<RecordBatch>>,
}

impl BatchSender {
    /// Sends the rows built so far if there are at least `min` of them.
    /// Returns `false` once nobody is listening any more.
    pub fn flush<R: RowBuilder>(&self, rows: &mut R, min: usize) -> Result<bool> {
        if rows.len() == 0 || rows.len() < min {
            return Ok(true);
        }
        let batch = rows.finish().map_err(|e| Error::internal(e.to_string()))?;
        Ok(self.send(batch))
    }

    /// Sends one batch; `false` once nobody is listening any more.
    pub fn send(&self, batch: RecordBatch) -> bool {
        self.tx.blocking_send(Ok(batch)).is_ok()
    }
}

/// The batches `produce(i, …)` sends from `parts` blocking threads (part
/// `i` on the `i`-th), as one stream; an error a part returns ends it.
pub fn blocking_stream(
    schema: SchemaRef,
    parts: usize,
    produce: impl Fn(usize, &BatchSender) -> Result<()> + Send + Sync + 'static,
) -> SendableRecordBatchStream {
    let (tx, rx) = mpsc::channel(2 * parts.max(1));
    let produce = Arc::new(produce);
    for part in 0..parts.max(1) {
        let (sender, produce) = (BatchSender { tx: tx.clone() }, produce.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(e) = produce(part, &sender) {
                let _ = sender
                    .tx
                    .blocking_send(Err(DataFusionError::External(Box::new(e))));
            }
        });
    }
    Box::pin(RecordBatchStreamAdapter::new(schema, tokio_stream_from(rx)))
}

/// Produces the rows of partition `i`.
type Produce = dyn Fn(usize, &BatchSender) -> Result<()> + Send + Sync;

/// One partition whose rows come from a blocking producer.
struct BlockingPartition {
    schema: SchemaRef,
    index: usize,
    produce: Arc<Produce>,
}

impl fmt::Debug for BlockingPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPartition").finish_non_exhaustive()
    }
}

impl PartitionStream for BlockingPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (produce, index) = (self.produce.clone(), self.index);
        blocking_stream(self.schema.clone(), 1, move |_, out| produce(index, out))
    }
}

pub(in crate::planner) fn tokio_stream_from(
    mut rx: mpsc::Receiver<DfResult<RecordBatch>>,
) -> impl futures::Stream<Item = DfResult<RecordBatch>> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// An execution plan that runs `produce` on a blocking thread.
pub fn blocking_scan(
    schema: SchemaRef,
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
    produce: impl Fn(&BatchSender) -> Result<()> + Send + Sync + 'static,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    partitioned_scan(schema, projection, limit, 1, move |_, out| produce(out))
}

/// [`blocking_scan`] of rows `produce` sends in the order `ordering`
/// (over the projected columns) states, so a query ordered so needs no
/// sort.
pub fn ordered_scan(
    schema: SchemaRef,
    projection: Option<&Vec<usize>>,
    ordering: Option<LexOrdering>,
    produce: impl Fn(&BatchSender) -> Result<()> + Send + Sync + 'static,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let produce: Arc<Produce> = Arc::new(move |_, out: &BatchSender| produce(out));
    streaming(schema, projection, None, 1, ordering, produce)
}

/// An execution plan of `partitions` partitions, each running
/// `produce(i, …)` on its own blocking thread.
pub fn partitioned_scan(
    schema: SchemaRef,
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
    partitions: usize,
    produce: impl Fn(usize, &BatchSender) -> Result<()> + Send + Sync + 'static,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    streaming(
        schema,
        projection,
        limit,
        partitions,
        None,
        Arc::new(produce),
    )
}

fn streaming(
    schema: SchemaRef,
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
    partitions: usize,
    ordering: Option<LexOrdering>,
    produce: Arc<Produce>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let partitions = (0..partitions.max(1))
        .map(|index| {
            Arc::new(BlockingPartition {
                schema: schema.clone(),
                index,
                produce: produce.clone(),
            }) as Arc<dyn PartitionStream>
        })
        .collect();
    Ok(Arc::new(StreamingTableExec::try_new(
        schema, partitions, projection, ordering, false, limit,
    )?))
}
