//! Point lookups in a cluster. A prepared point lookup
//! ([`crate::planner::fast::point_query`]) whose subjects this node does not own is sent,
//! per reader ([`crate::cluster::Readers`]), to a live owner, which answers from
//! its lens heads as it would its own client — no scan is planned on
//! either side. If a reader does not answer, the statement takes the
//! general path, where the subject's other owner stands in.

use std::collections::BTreeMap;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use futures::future::join_all;

use crate::cluster::PointRequest;
use crate::error::{Error, Result};
use crate::planner::fast::point_query::PointQuery;
use crate::planner::schema::LENS;
use crate::planner::{Engine, SessionShared};
use crate::storage::ScanRange;

/// The rows of `range` read over the cluster, or `None` when the general
/// path must answer (a wide range, a subject with no live owner, a reader
/// that did not answer).
pub(in crate::planner) async fn read(
    shared: &SessionShared,
    q: &PointQuery,
    range: &ScanRange,
    max_points: usize,
) -> Result<Option<RecordBatch>> {
    let cluster = &shared.cluster;
    if cluster.alone() {
        return Ok(None);
    }
    if range.is_wide() || range.points() > max_points {
        return Ok(None);
    }
    let readers = cluster.readers();
    let points = match range {
        ScanRange::Each(ranges) => ranges.clone(),
        one => vec![one.clone()],
    };
    let mut by_reader: BTreeMap<&str, Vec<ScanRange>> = BTreeMap::new();
    for point in points {
        let (ScanRange::Subject(subject) | ScanRange::SubjectPredicate(subject, _)) = &point else {
            return Ok(None);
        };
        let Some(reader) = readers.reader_of(subject) else {
            return Ok(None);
        };
        by_reader.entry(reader).or_default().push(point);
    }
    let (lens, as_of) = (q.lens_in(shared), shared.settings().as_of);
    let weighing = shared.weighed();
    let me = readers.coordinator.as_str();
    let reads = by_reader.into_iter().map(|(node, ranges)| async move {
        if node == me {
            let batch = q.execute(shared, shared.view(), &ScanRange::of(ranges))?;
            return Ok(Some(batch));
        }
        let request = PointRequest {
            lens,
            columns: q.columns().to_vec(),
            ranges,
            as_of,
            weighing,
        };
        match cluster.point(node, request).await {
            Ok(batch) => RecordBatch::try_new(q.schema(), batch.columns().to_vec())
                .map(Some)
                .map_err(|e| Error::internal(format!("a point lookup from {node}: {e}"))),
            Err(e) => {
                tracing::warn!(peer = node, "cluster: point lookup: {}", e.message);
                Ok(None)
            }
        }
    });
    let mut batches = Vec::new();
    for read in join_all(reads).await {
        match read? {
            Some(batch) => batches.push(batch),
            None => return Ok(None),
        }
    }
    concat_batches(&q.schema(), &batches)
        .map(Some)
        .map_err(|e| Error::internal(e.to_string()))
}

impl Engine {
    /// Answers another node's point lookup from this node's store.
    pub(in crate::planner) fn answer_point(&self, request: PointRequest) -> Result<RecordBatch> {
        let shared = self.shared_alone("stemedb");
        shared.read_for_coordinator(request.as_of, request.weighing);
        let schema = LENS.project(&request.columns).map_err(Error::internal)?;
        let q = PointQuery::of_columns(request.lens, request.columns, Schema::clone(&schema));
        q.execute(&shared, shared.view(), &ScanRange::of(request.ranges))
    }
}
