//! Arrow schemas of StemeDB's tables and the builders that turn model
//! values into record batches.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int16Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder, new_null_array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DfResult;

use crate::lens::{Conflict, Resolution};
use crate::model::{Assertion, ObjectType, Retraction, Strings};

/// Rows per record batch produced by a scan.
pub const BATCH_ROWS: usize = 4096;

/// TIMESTAMPTZ: microseconds, UTC.
pub fn timestamptz() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

/// The columns of a claim, shared by `assertions` and the lens views.
fn claim_fields() -> Vec<Field> {
    vec![
        text("object"),
        text("object_type"),
        Field::new("object_number", DataType::Float64, true),
        text("source"),
        Field::new("tier", DataType::Int16, true),
        Field::new("confidence", DataType::Float64, true),
        text("agent"),
        Field::new("observed_at", timestamptz(), true),
        Field::new("asserted_at", timestamptz(), true),
    ]
}

fn schema(head: Vec<Field>, tail: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new([head, claim_fields(), tail].concat()))
}

pub static ASSERTIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(
        vec![text("id"), text("subject"), text("predicate")],
        vec![
            text("node"),
            text("supersedes"),
            Field::new("retracted", DataType::Boolean, true),
        ],
    )
});

/// Columns of `assertions` that only the server sets (`428C9` if supplied).
pub const GENERATED_ASSERTION_COLUMNS: [&str; 5] =
    ["id", "asserted_at", "node", "object_number", "retracted"];

pub static RETRACTIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text("assertion_id"),
        text("reason"),
        text("agent"),
        Field::new("retracted_at", timestamptz(), true),
    ]))
});

pub const GENERATED_RETRACTION_COLUMNS: [&str; 1] = ["retracted_at"];

pub static LENS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(
        vec![text("subject"), text("predicate")],
        vec![
            text("assertion_id"),
            Field::new("claims", DataType::Int64, true),
            Field::new("distinct_objects", DataType::Int64, true),
            Field::new("contested", DataType::Boolean, true),
        ],
    )
});

pub static CONFLICTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text("subject"),
        text("predicate"),
        Field::new("claims", DataType::Int64, true),
        Field::new("distinct_objects", DataType::Int64, true),
        Field::new("conflict_score", DataType::Float64, true),
        text("leading_object"),
        Field::new("leading_share", DataType::Float64, true),
    ]))
});

/// The columns a scan must fill: the others are left NULL (the plan
/// projects them away), which spares decoding work such as hex ids.
#[derive(Debug, Clone, Copy)]
pub struct Wanted(u64);

impl Default for Wanted {
    fn default() -> Self {
        Wanted(u64::MAX)
    }
}

impl Wanted {
    /// Only the columns of `projection` (all without one).
    pub fn of(projection: Option<&Vec<usize>>) -> Wanted {
        match projection {
            None => Wanted::default(),
            Some(columns) => Wanted(columns.iter().fold(0, |m, &c| m | 1u64 << c.min(63))),
        }
    }

    fn has(self, column: usize) -> bool {
        self.0 & (1 << column.min(63)) != 0
    }

    /// The strings a lens row's claim must decode for these columns of
    /// `LENS`.
    pub fn strings(self) -> Strings {
        let has = |name: &str| LENS.index_of(name).is_ok_and(|i| self.has(i));
        Strings {
            subject: has("subject"),
            predicate: has("predicate"),
            object: has("object") || has("object_number"),
            source: has("source"),
            agent: has("agent"),
            node: false,
        }
    }

    /// The same set, seen from column `offset` on.
    fn from(self, offset: usize) -> Wanted {
        Wanted(self.0 >> offset)
    }

    /// `column` as built, or NULLs if it was not wanted.
    fn column(self, column: usize, len: usize, schema: &Schema, built: ArrayRef) -> ArrayRef {
        match self.has(column) {
            true => built,
            false => new_null_array(schema.field(column).data_type(), len),
        }
    }
}

/// A builder of record batches for one table, filled row by row.
pub trait RowBuilder: Default + Send {
    /// Rows pushed since the last `finish`.
    fn len(&self) -> usize;
    /// Returns the rows pushed so far as a batch and starts a new one.
    fn finish(&mut self) -> DfResult<RecordBatch>;
}

fn object_number(a: &Assertion) -> Option<f64> {
    (a.object_type == ObjectType::Number)
        .then(|| a.object.parse().ok())
        .flatten()
}

/// The columns an assertion shares with a lens row.
struct ClaimColumns {
    object: StringBuilder,
    object_type: StringBuilder,
    object_number: Float64Builder,
    source: StringBuilder,
    tier: Int16Builder,
    confidence: Float64Builder,
    agent: StringBuilder,
    observed_at: TimestampMicrosecondBuilder,
    asserted_at: TimestampMicrosecondBuilder,
}

impl Default for ClaimColumns {
    fn default() -> Self {
        ClaimColumns::with_capacity(BUILDER_ROWS)
    }
}

/// Rows a builder makes room for up front (it grows as needed): small, as
/// a point query returns a row or a few, and a scan's batches soon grow.
const BUILDER_ROWS: usize = 8;

fn text_builder(rows: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * 16)
}

impl ClaimColumns {
    fn with_capacity(rows: usize) -> ClaimColumns {
        ClaimColumns {
            object: text_builder(rows),
            object_type: text_builder(rows),
            object_number: Float64Builder::with_capacity(rows),
            source: text_builder(rows),
            tier: Int16Builder::with_capacity(rows),
            confidence: Float64Builder::with_capacity(rows),
            agent: text_builder(rows),
            observed_at: TimestampMicrosecondBuilder::with_capacity(rows),
            asserted_at: TimestampMicrosecondBuilder::with_capacity(rows),
        }
    }

    /// Appends the wanted columns (numbered from the first claim column).
    fn push_wanted(&mut self, a: &Assertion, w: Wanted) {
        if w.has(0) {
            self.object.append_value(&a.object);
        }
        if w.has(1) {
            self.object_type.append_value(a.object_type.as_str());
        }
        if w.has(2) {
            self.object_number.append_option(object_number(a));
        }
        if w.has(3) {
            self.source.append_value(&a.source);
        }
        if w.has(4) {
            self.tier.append_value(a.tier as i16);
        }
        if w.has(5) {
            self.confidence.append_value(a.confidence);
        }
        if w.has(6) {
            self.agent.append_value(&a.agent);
        }
        if w.has(7) {
            self.observed_at.append_value(a.observed_at);
        }
        if w.has(8) {
            self.asserted_at.append_value(a.asserted_at());
        }
    }

    fn finish(&mut self) -> [ArrayRef; 9] {
        std::array::from_fn(|i| self.finish_one(i))
    }

    /// Claim column `i` as built so far.
    fn finish_one(&mut self, i: usize) -> ArrayRef {
        match i {
            0 => Arc::new(self.object.finish()),
            1 => Arc::new(self.object_type.finish()),
            2 => Arc::new(self.object_number.finish()),
            3 => Arc::new(self.source.finish()),
            4 => Arc::new(self.tier.finish()),
            5 => Arc::new(self.confidence.finish()),
            6 => Arc::new(self.agent.finish()),
            7 => Arc::new(self.observed_at.finish().with_timezone("UTC")),
            _ => Arc::new(self.asserted_at.finish().with_timezone("UTC")),
        }
    }
}

/// Builds `assertions` batches.
#[derive(Default)]
pub struct AssertionRows {
    len: usize,
    wanted: Wanted,
    id: StringBuilder,
    subject: StringBuilder,
    predicate: StringBuilder,
    claim: ClaimColumns,
    node: StringBuilder,
    supersedes: StringBuilder,
    retracted: BooleanBuilder,
}

/// `assertions` columns after the claim's.
const ASSERTION_TAIL: usize = 3 + 9;

impl AssertionRows {
    /// A builder that fills only `wanted` columns (the others are NULL).
    pub fn only(wanted: Wanted) -> AssertionRows {
        AssertionRows {
            wanted,
            ..AssertionRows::default()
        }
    }

    /// Whether the `retracted` column is wanted (finding it is a read).
    pub fn wants_retracted(&self) -> bool {
        self.wanted.has(ASSERTION_TAIL + 2)
    }

    pub fn push(&mut self, a: &Assertion, retracted: bool) {
        let w = self.wanted;
        self.len += 1;
        if w.has(0) {
            self.id.append_value(a.id.to_hex());
        }
        if w.has(1) {
            self.subject.append_value(&a.subject);
        }
        if w.has(2) {
            self.predicate.append_value(&a.predicate);
        }
        self.claim.push_wanted(a, w.from(3));
        if w.has(ASSERTION_TAIL) {
            self.node.append_value(&a.node);
        }
        if w.has(ASSERTION_TAIL + 1) {
            self.supersedes
                .append_option(a.supersedes.map(|s| s.to_hex()));
        }
        if w.has(ASSERTION_TAIL + 2) {
            self.retracted.append_value(retracted);
        }
    }
}

impl RowBuilder for AssertionRows {
    fn len(&self) -> usize {
        self.len
    }

    fn finish(&mut self) -> DfResult<RecordBatch> {
        let len = std::mem::take(&mut self.len);
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.subject.finish()),
            Arc::new(self.predicate.finish()),
        ];
        columns.extend(self.claim.finish());
        columns.push(Arc::new(self.node.finish()));
        columns.push(Arc::new(self.supersedes.finish()));
        columns.push(Arc::new(self.retracted.finish()));
        let columns = columns
            .into_iter()
            .enumerate()
            .map(|(i, built)| self.wanted.column(i, len, &ASSERTIONS, built))
            .collect();
        Ok(RecordBatch::try_new(ASSERTIONS.clone(), columns)?)
    }
}

/// Builds `retractions` batches.
#[derive(Default)]
pub struct RetractionRows {
    len: usize,
    assertion_id: StringBuilder,
    reason: StringBuilder,
    agent: StringBuilder,
    retracted_at: TimestampMicrosecondBuilder,
}

impl RetractionRows {
    pub fn push(&mut self, r: &Retraction) {
        self.len += 1;
        self.assertion_id.append_value(r.assertion_id.to_hex());
        self.reason.append_option(r.reason.as_deref());
        self.agent.append_value(&r.agent);
        self.retracted_at.append_value(r.retracted_at());
    }
}

impl RowBuilder for RetractionRows {
    fn len(&self) -> usize {
        self.len
    }

    fn finish(&mut self) -> DfResult<RecordBatch> {
        self.len = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.assertion_id.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.agent.finish()),
            Arc::new(self.retracted_at.finish().with_timezone("UTC")),
        ];
        Ok(RecordBatch::try_new(RETRACTIONS.clone(), columns)?)
    }
}

/// Builds lens-table batches (`recency`, `authority`, `beliefs`).
pub struct LensRows {
    len: usize,
    wanted: Wanted,
    subject: StringBuilder,
    predicate: StringBuilder,
    claim: ClaimColumns,
    assertion_id: StringBuilder,
    claims: Int64Builder,
    distinct_objects: Int64Builder,
    contested: BooleanBuilder,
}

/// Position of the first claim column in `LENS`, and of the columns after.
const LENS_CLAIM: usize = 2;
const LENS_TAIL: usize = LENS_CLAIM + 9;

impl Default for LensRows {
    fn default() -> Self {
        LensRows::only(Wanted::default())
    }
}

impl LensRows {
    /// A builder that fills only `wanted` columns.
    pub fn only(wanted: Wanted) -> LensRows {
        // Unwanted columns stay empty: no room is made for them.
        let rows = |column: usize| if wanted.has(column) { BUILDER_ROWS } else { 0 };
        LensRows {
            len: 0,
            wanted,
            subject: text_builder(rows(0)),
            predicate: text_builder(rows(1)),
            claim: ClaimColumns::with_capacity(rows(LENS_CLAIM)),
            assertion_id: text_builder(rows(LENS_TAIL)),
            claims: Int64Builder::with_capacity(rows(LENS_TAIL + 1)),
            distinct_objects: Int64Builder::with_capacity(rows(LENS_TAIL + 2)),
            contested: BooleanBuilder::with_capacity(rows(LENS_TAIL + 3)),
        }
    }

    /// Column `c` (in `LENS` order) as built; empty if it is not wanted.
    fn finish_column(&mut self, c: usize) -> ArrayRef {
        match c {
            0 => Arc::new(self.subject.finish()),
            1 => Arc::new(self.predicate.finish()),
            c if c < LENS_TAIL => self.claim.finish_one(c - LENS_CLAIM),
            c if c == LENS_TAIL => Arc::new(self.assertion_id.finish()),
            c if c == LENS_TAIL + 1 => Arc::new(self.claims.finish()),
            c if c == LENS_TAIL + 2 => Arc::new(self.distinct_objects.finish()),
            _ => Arc::new(self.contested.finish()),
        }
    }

    /// The rows pushed so far, as the given (wanted) columns only: the
    /// others are not built at all (a point lookup wants three of 15).
    pub fn finish_columns(&mut self, columns: &[usize]) -> Vec<ArrayRef> {
        self.len = 0;
        let mut built: Vec<(usize, ArrayRef)> = Vec::with_capacity(columns.len());
        for &c in columns {
            let column = match built.iter().find(|(b, _)| *b == c) {
                Some((_, again)) => again.clone(),
                None => self.finish_column(c),
            };
            built.push((c, column));
        }
        built.into_iter().map(|(_, column)| column).collect()
    }

    pub fn push(&mut self, r: &Resolution<'_>) {
        let w = self.wanted;
        self.len += 1;
        if w.has(0) {
            self.subject.append_value(&r.winner.subject);
        }
        if w.has(1) {
            self.predicate.append_value(&r.winner.predicate);
        }
        self.claim.push_wanted(r.winner, w.from(LENS_CLAIM));
        if w.has(LENS_TAIL) {
            self.assertion_id.append_value(r.winner.id.to_hex());
        }
        if w.has(LENS_TAIL + 1) {
            self.claims.append_value(r.claims as i64);
        }
        if w.has(LENS_TAIL + 2) {
            self.distinct_objects
                .append_value(r.distinct_objects as i64);
        }
        if w.has(LENS_TAIL + 3) {
            self.contested.append_value(r.contested());
        }
    }
}

impl RowBuilder for LensRows {
    fn len(&self) -> usize {
        self.len
    }

    fn finish(&mut self) -> DfResult<RecordBatch> {
        let len = std::mem::take(&mut self.len);
        let columns = (0..LENS.fields().len())
            .map(|i| {
                let column = self.finish_column(i);
                self.wanted.column(i, len, &LENS, column)
            })
            .collect();
        Ok(RecordBatch::try_new(LENS.clone(), columns)?)
    }
}

/// Builds `conflicts` batches.
#[derive(Default)]
pub struct ConflictRows {
    len: usize,
    subject: StringBuilder,
    predicate: StringBuilder,
    claims: Int64Builder,
    distinct_objects: Int64Builder,
    conflict_score: Float64Builder,
    leading_object: StringBuilder,
    leading_share: Float64Builder,
}

impl ConflictRows {
    pub fn push(&mut self, subject: &str, predicate: &str, c: &Conflict) {
        self.len += 1;
        self.subject.append_value(subject);
        self.predicate.append_value(predicate);
        self.claims.append_value(c.claims as i64);
        self.distinct_objects
            .append_value(c.distinct_objects as i64);
        self.conflict_score.append_value(c.conflict_score);
        self.leading_object.append_value(&c.leading_object);
        self.leading_share.append_value(c.leading_share);
    }
}

impl RowBuilder for ConflictRows {
    fn len(&self) -> usize {
        self.len
    }

    fn finish(&mut self) -> DfResult<RecordBatch> {
        self.len = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.subject.finish()),
            Arc::new(self.predicate.finish()),
            Arc::new(self.claims.finish()),
            Arc::new(self.distinct_objects.finish()),
            Arc::new(self.conflict_score.finish()),
            Arc::new(self.leading_object.finish()),
            Arc::new(self.leading_share.finish()),
        ];
        Ok(RecordBatch::try_new(CONFLICTS.clone(), columns)?)
    }
}
