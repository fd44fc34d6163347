//! A table of a cluster node: the same table, read over the whole cluster.
//! Each subject is read by exactly one node ([`Readers`]): this one for
//! the subjects it owns, the first live owner for the others. A scan asks
//! only the nodes that read something it wants — all live members for a
//! full scan, the subjects' readers for `subject = …` / `IN (…)` — and
//! unions their rows: its own from the local table, the others' as Arrow
//! record batches from a remote scan that runs the same code there
//! ([`owned_rows`]), with the same pushed filters, projection, lens and
//! `stemedb.as_of`. Rows never repeat, since each subject has one reader.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::cluster::{Readers, Replicas, ScanRequest, Share};
use crate::error::Error;
use crate::model::Id;
use crate::planner::SessionShared;
use crate::planner::errors::external;
use crate::planner::read::filters::scan_range;
use crate::storage::{ScanRange, Store};

/// One of StemeDB's tables, read over the cluster.
pub struct ClusterTable {
    name: &'static str,
    inner: Arc<dyn TableProvider>,
    session: Arc<SessionShared>,
    replicas: Arc<dyn Replicas>,
}

impl ClusterTable {
    pub fn new(
        name: &'static str,
        inner: Arc<dyn TableProvider>,
        session: Arc<SessionShared>,
        replicas: Arc<dyn Replicas>,
    ) -> ClusterTable {
        ClusterTable {
            name,
            inner,
            session,
            replicas,
        }
    }

    /// The table of this node's own store it reads through.
    pub fn inner(&self) -> &Arc<dyn TableProvider> {
        &self.inner
    }
}

impl fmt::Debug for ClusterTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterTable({})", self.name)
    }
}

/// The column that places a row: its subject, or for a retraction the
/// claim it retracts (placed by that claim's subject).
#[derive(Debug, Clone, Copy)]
pub enum Placement {
    Subject(usize),
    Claim(usize),
}

impl Placement {
    pub fn of(table: &str, schema: &SchemaRef) -> DfResult<Placement> {
        let (column, kind): (&str, fn(usize) -> Placement) = match table {
            "retractions" => ("assertion_id", Placement::Claim),
            _ => ("subject", Placement::Subject),
        };
        Ok(kind(schema.index_of(column)?))
    }

    pub fn column(self) -> usize {
        match self {
            Placement::Subject(c) | Placement::Claim(c) => c,
        }
    }
}

/// The columns to read so the placing column is among them (the
/// projection with it added), and how to place and trim the rows read.
fn with_placement(
    projection: Option<&Vec<usize>>,
    placement: Placement,
) -> (Option<Vec<usize>>, Placing) {
    let column = placement.column();
    let placing = |at, keep| Placing {
        placement,
        at,
        keep,
    };
    let Some(projection) = projection else {
        return (None, placing(column, None));
    };
    match projection.iter().position(|&c| c == column) {
        Some(at) => (Some(projection.clone()), placing(at, None)),
        None => {
            let mut read = projection.clone();
            read.push(column);
            let keep = (0..projection.len()).collect();
            (Some(read), placing(projection.len(), Some(keep)))
        }
    }
}

/// Where the placing column is among the columns a scan read, and which
/// of them to return.
#[derive(Debug, Clone)]
pub struct Placing {
    pub placement: Placement,
    /// The placing column's index among the columns read.
    pub at: usize,
    /// The columns to return (`None`: all that were read).
    pub keep: Option<Vec<usize>>,
}

/// The rows of `plan` whose subject `share` holds, without the column
/// added to place them.
pub fn owned_rows(
    plan: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
    schema: SchemaRef,
    placing: Placing,
    share: Share,
    store: Arc<Store>,
) -> DfResult<SendableRecordBatchStream> {
    let rows = execute_stream(plan, context)?.map(move |batch| {
        let batch = batch?;
        let (placement, at) = (placing.placement, placing.at);
        let mask = reads(&batch, placement, at, &share, &store).map_err(external)?;
        let batch = filter_record_batch(&batch, &mask)?;
        match &placing.keep {
            Some(keep) => Ok(batch.project(keep)?),
            None => Ok(batch),
        }
    });
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rows)))
}

/// Which rows of `batch` `node` reads.
fn reads(
    batch: &RecordBatch,
    placement: Placement,
    at: usize,
    share: &Share,
    store: &Store,
) -> crate::error::Result<BooleanArray> {
    let column = cast(batch.column(at), &DataType::Utf8).map_err(Error::internal)?;
    let values = column.as_string::<i32>();
    // Rows come grouped by subject: place each subject once.
    let mut last: Option<(String, bool)> = None;
    let mut mask = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        if values.is_null(i) {
            mask.push(false);
            continue;
        }
        let subject = match placement {
            Placement::Subject(_) => Some(values.value(i).to_string()),
            Placement::Claim(_) => match Id::parse(values.value(i)) {
                Some(id) => store.subject_of(&id)?,
                None => None,
            },
        };
        let Some(subject) = subject else {
            mask.push(false);
            continue;
        };
        let read = match &last {
            Some((s, read)) if *s == subject => *read,
            _ => {
                let read = share.holds(&subject);
                last = Some((subject, read));
                read
            }
        };
        mask.push(read);
    }
    Ok(BooleanArray::from(mask))
}

/// A filter as the expression tree another node decodes against the bare
/// table (columns unqualified), in datafusion-proto's encoding.
fn filter_bytes(filter: &Expr) -> DfResult<Vec<u8>> {
    let bare = filter.clone().transform(|e| {
        Ok(match e {
            Expr::Column(c) if c.relation.is_some() => Transformed::yes(Expr::Column(
                datafusion::common::Column::new_unqualified(c.name),
            )),
            e => Transformed::no(e),
        })
    })?;
    Ok(datafusion_proto::bytes::Serializeable::to_bytes(&bare.data)?.to_vec())
}

/// The nodes that read the subjects a scan of `range` can return: every
/// live member unless the range names its subjects.
fn nodes_to_ask(range: &ScanRange, readers: &Readers) -> Vec<String> {
    let mut subjects = Vec::new();
    match range {
        ScanRange::Subject(s) | ScanRange::SubjectPredicate(s, _) => subjects.push(s),
        ScanRange::Each(ranges) => {
            for range in ranges {
                match range {
                    ScanRange::Subject(s) | ScanRange::SubjectPredicate(s, _) => subjects.push(s),
                    _ => return readers.alive.clone(),
                }
            }
        }
        _ => return readers.alive.clone(),
    }
    let mut nodes: Vec<String> = subjects
        .iter()
        .filter_map(|s| readers.reader_of(s).map(str::to_string))
        .collect();
    nodes.sort();
    nodes.dedup();
    nodes
}

/// Whether this node alone reads every subject of `range` (so a point
/// lookup can run on its own store, without a cluster scan).
pub fn reads_alone(range: &ScanRange, readers: &Readers) -> bool {
    !range.is_wide() && nodes_to_ask(range, readers) == [readers.coordinator.as_str()]
}

#[async_trait]
impl TableProvider for ClusterTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if self.name == super::EXPLAIN_TABLE {
            // A call without its arguments fails here, with its SQLSTATE,
            // not on the owner it would be sent to.
            super::explain::arguments(filters, &self.session).map_err(external)?;
        }
        let readers = self.replicas.readers();
        if self.name == super::changes::CHANGES_TABLE {
            super::changes::every_subject_readable(&readers).map_err(external)?;
        }
        let table = self.inner.schema();
        let schema = match projection {
            Some(p) => Arc::new(table.project(p)?),
            None => table.clone(),
        };
        let placement = Placement::of(self.name, &table)?;
        let settings = self.session.settings();
        let mut parts: Vec<Arc<dyn PartitionStream>> = Vec::new();
        for node in nodes_to_ask(&scan_range(filters), &readers) {
            if node == readers.coordinator {
                let (read, placing) = with_placement(projection, placement);
                let plan = self.inner.scan(state, read.as_ref(), filters, None).await?;
                parts.push(Arc::new(LocalPart {
                    plan,
                    schema: schema.clone(),
                    placing,
                    readers: readers.clone(),
                    store: self.session.store.clone(),
                }));
                continue;
            }
            let request = ScanRequest {
                table: self.name.to_string(),
                projection: projection.cloned(),
                filters: filters.iter().map(filter_bytes).collect::<DfResult<_>>()?,
                lens: settings.lens,
                as_of: settings.as_of,
                weighing: self.session.weighed(),
                readers: readers.clone(),
                instead_of: None,
            };
            parts.push(Arc::new(RemotePart {
                schema: schema.clone(),
                replicas: self.replicas.clone(),
                node,
                request,
            }));
        }
        // The feed's parts each come in change_id order: a merge keeps it.
        let ordering = match self.name {
            super::changes::CHANGES_TABLE => super::changes::change_order(&schema),
            _ => None,
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            schema, parts, None, ordering, false, limit,
        )?))
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.insert_into(state, input, op).await
    }
}

/// This node's share of a cluster scan.
struct LocalPart {
    plan: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
    placing: Placing,
    readers: Readers,
    store: Arc<Store>,
}

impl fmt::Debug for LocalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalPart({})", self.readers.coordinator)
    }
}

impl PartitionStream for LocalPart {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, context: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rows = owned_rows(
            self.plan.clone(),
            context,
            self.schema.clone(),
            self.placing.clone(),
            Share {
                readers: self.readers.clone(),
                node: self.readers.coordinator.clone(),
                instead_of: None,
            },
            self.store.clone(),
        );
        match rows {
            Ok(rows) => rows,
            Err(e) => failed(self.schema.clone(), e),
        }
    }
}

/// Another node's share of a cluster scan.
struct RemotePart {
    schema: SchemaRef,
    replicas: Arc<dyn Replicas>,
    node: String,
    request: ScanRequest,
}

impl fmt::Debug for RemotePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemotePart({} on {})", self.request.table, self.node)
    }
}

impl PartitionStream for RemotePart {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _context: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (replicas, node, request) = (
            self.replicas.clone(),
            self.node.clone(),
            self.request.clone(),
        );
        let rows = futures::stream::once(async move {
            let batches = remote_rows(replicas, node, request).await?;
            Ok::<_, DataFusionError>(batches.map_err(external))
        })
        .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), rows))
    }
}

/// The rows `node` reads for `request`. If it does not answer (it died
/// and gossip has not said so yet), the other live nodes read its
/// subjects instead — each subject's other owner — so the scan still sees
/// every subject once. A node that fails after sending rows fails the scan
/// (its rows cannot be taken back).
async fn remote_rows(
    replicas: Arc<dyn Replicas>,
    node: String,
    request: ScanRequest,
) -> DfResult<BoxStream<'static, crate::error::Result<RecordBatch>>> {
    let mut first = match replicas.scan(&node, request.clone()).await {
        Ok(rows) => rows,
        Err(e) => return stand_in(replicas, node, request, e).await,
    };
    match first.next().await {
        None => Ok(Box::pin(futures::stream::empty())),
        Some(Ok(batch)) => Ok(Box::pin(
            futures::stream::once(async { Ok(batch) }).chain(first),
        )),
        Some(Err(e)) => stand_in(replicas, node, request, e).await,
    }
}

async fn stand_in(
    replicas: Arc<dyn Replicas>,
    absent: String,
    request: ScanRequest,
    error: Error,
) -> DfResult<BoxStream<'static, crate::error::Result<RecordBatch>>> {
    tracing::warn!(
        node = absent,
        "cluster scan: reading its subjects elsewhere: {}",
        error.message
    );
    let readers = &request.readers;
    let others: Vec<String> = readers
        .alive
        .iter()
        .filter(|n| **n != absent && **n != readers.coordinator)
        .cloned()
        .collect();
    if request.table == super::changes::CHANGES_TABLE && others.len() != 1 {
        // With no stand-in its subjects' changes would be skipped, and a
        // consumer would resume past them; two stand-ins' rows, one after
        // the other, would not be in change_id order.
        return Err(external(Error::new(
            crate::error::sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "cannot read stemedb.changes now: {absent} did not answer ({}); retry",
                error.message
            ),
        )));
    }
    let mut streams = Vec::new();
    for other in others {
        let mut instead = request.clone();
        instead.instead_of = Some(absent.clone());
        streams.push(replicas.scan(&other, instead).await.map_err(external)?);
    }
    Ok(Box::pin(futures::stream::iter(streams).flatten()))
}

fn failed(schema: SchemaRef, e: DataFusionError) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::once(async move { Err(e) }),
    ))
}
