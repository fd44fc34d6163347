//! Cluster scans and point lookups on the wire: the request as protobuf,
//! the rows as Arrow IPC — each message a whole IPC stream of one record
//! batch, so a message decodes on its own.

use std::io::Cursor;

use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use super::readers::{PointRequest, Readers, ScanRequest, Weighed};
use super::wire::proto;
use crate::error::{Error, Result};
use crate::lens::Lens;
use crate::storage::ScanRange;

pub fn to_proto(r: &ScanRequest) -> proto::ScanRequest {
    proto::ScanRequest {
        table: r.table.clone(),
        projection: r.projection.iter().flatten().map(|&c| c as u32).collect(),
        all_columns: r.projection.is_none(),
        filters: r.filters.clone(),
        lens: r.lens.as_str().to_string(),
        as_of: r.as_of,
        half_life: r.weighing.half_life,
        read_at: r.weighing.read_at,
        coordinator: r.readers.coordinator.clone(),
        members: r.readers.members.clone(),
        alive: r.readers.alive.clone(),
        factor: r.readers.factor as u32,
        instead_of: r.instead_of.clone(),
    }
}

pub fn from_proto(r: proto::ScanRequest) -> Result<ScanRequest> {
    Ok(ScanRequest {
        table: r.table,
        projection: (!r.all_columns).then(|| r.projection.iter().map(|&c| c as usize).collect()),
        filters: r.filters,
        lens: Lens::parse(&r.lens)?,
        as_of: r.as_of,
        weighing: Weighed {
            half_life: r.half_life,
            read_at: r.read_at,
        },
        readers: Readers {
            coordinator: r.coordinator,
            members: r.members,
            alive: r.alive,
            factor: r.factor as usize,
        },
        instead_of: r.instead_of,
    })
}

pub fn point_to_proto(r: &PointRequest) -> Result<proto::PointRequest> {
    let ranges = r
        .ranges
        .iter()
        .map(|range| match range {
            ScanRange::Subject(s) => Ok(proto::PointRange {
                subject: s.clone(),
                predicate: None,
            }),
            ScanRange::SubjectPredicate(s, p) => Ok(proto::PointRange {
                subject: s.clone(),
                predicate: Some(p.clone()),
            }),
            other => Err(Error::internal(format!("not a point range: {other:?}"))),
        })
        .collect::<Result<_>>()?;
    Ok(proto::PointRequest {
        lens: r.lens.as_str().to_string(),
        columns: r.columns.iter().map(|&c| c as u32).collect(),
        as_of: r.as_of,
        ranges,
        half_life: r.weighing.half_life,
        read_at: r.weighing.read_at,
    })
}

pub fn point_from_proto(r: proto::PointRequest) -> Result<PointRequest> {
    Ok(PointRequest {
        lens: Lens::parse(&r.lens)?,
        columns: r.columns.iter().map(|&c| c as usize).collect(),
        as_of: r.as_of,
        weighing: Weighed {
            half_life: r.half_life,
            read_at: r.read_at,
        },
        ranges: r
            .ranges
            .into_iter()
            .map(|p| match p.predicate {
                Some(predicate) => ScanRange::SubjectPredicate(p.subject, predicate),
                None => ScanRange::Subject(p.subject),
            })
            .collect(),
    })
}

pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, &batch.schema()).map_err(Error::internal)?;
    writer.write(batch).map_err(Error::internal)?;
    writer.finish().map_err(Error::internal)?;
    drop(writer);
    Ok(out)
}

pub fn decode_batches(ipc: &[u8]) -> Result<Vec<RecordBatch>> {
    let reader = StreamReader::try_new(Cursor::new(ipc), None).map_err(Error::internal)?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::internal)
}
