//! Fast paths for the two statements a claims workload runs most:
//! a point query on a lens (`SELECT cols FROM recency WHERE subject = $1
//! [AND predicate = $2]`) and a plain `INSERT INTO assertions (cols)
//! VALUES (…)`. They are recognised once, at prepare time, on the AST, and
//! then run straight against storage — no DataFusion planning, optimising
//! or operator set-up per execution. Anything else (an expression, an
//! ORDER BY, a join, RETURNING) takes the general DataFusion path, which
//! gives the same answers.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Insert, Query, SelectItem, SetExpr, Statement, TableFactor,
    TableObject, UnaryOperator, Value,
};

use super::SessionShared;
use super::schema::{LENS, LensRows, RowBuilder, Wanted, timestamptz};
use crate::error::{Error, Result};
use crate::lens::{Lens, resolve};
use crate::model::NewAssertion;
use crate::storage::ScanRange;

/// A value in the statement: a literal or the n-th parameter (0-based).
#[derive(Debug, Clone)]
pub enum Operand {
    Literal(Option<String>),
    Param(usize),
}

/// `SELECT <columns> FROM <lens> WHERE subject = … [AND predicate = …]`.
#[derive(Debug, Clone)]
pub struct PointQuery {
    lens: Option<Lens>,
    projection: Vec<usize>,
    schema: SchemaRef,
    subject: Operand,
    predicate: Option<Operand>,
}

/// `INSERT INTO assertions (columns) VALUES (…), …` with plain values.
#[derive(Debug, Clone)]
pub struct PlainInsert {
    columns: Vec<String>,
    rows: Vec<Vec<Operand>>,
}

#[derive(Debug, Clone)]
pub enum FastPath {
    Point(PointQuery),
    Insert(PlainInsert),
}

fn operand(e: &Expr) -> Option<Operand> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => Some(Operand::Param(
                p.strip_prefix('$')?.parse::<usize>().ok()?.checked_sub(1)?,
            )),
            Value::SingleQuotedString(s) => Some(Operand::Literal(Some(s.clone()))),
            Value::Number(n, _) => Some(Operand::Literal(Some(n.to_string()))),
            Value::Boolean(b) => Some(Operand::Literal(Some(b.to_string()))),
            Value::Null => Some(Operand::Literal(None)),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match operand(expr)? {
            Operand::Literal(Some(n)) if n.parse::<f64>().is_ok() => {
                Some(Operand::Literal(Some(format!("-{n}"))))
            }
            _ => None,
        },
        _ => None,
    }
}

fn ident(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// Collects `column = operand` conjuncts.
fn equalities(e: &Expr, out: &mut Vec<(String, Operand)>) -> Option<()> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            equalities(left, out)?;
            equalities(right, out)
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            out.push((ident(left)?, operand(right)?));
            Some(())
        }
        Expr::Nested(inner) => equalities(inner, out),
        _ => None,
    }
}

/// Recognises a statement that has a fast path.
pub fn recognise(statement: &Statement) -> Option<FastPath> {
    match statement {
        Statement::Query(q) => point_query(q).map(FastPath::Point),
        Statement::Insert(i) => plain_insert(i).map(FastPath::Insert),
        _ => None,
    }
}

fn point_query(q: &Query) -> Option<PointQuery> {
    if q.with.is_some()
        || q.order_by.is_some()
        || q.limit_clause.is_some()
        || q.fetch.is_some()
        || !q.locks.is_empty()
    {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    if s.distinct.is_some()
        || s.having.is_some()
        || s.from.len() != 1
        || !s.from[0].joins.is_empty()
        || s.into.is_some()
    {
        return None;
    }
    if !matches!(&s.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty()) {
        return None;
    }
    let TableFactor::Table {
        name,
        alias: None,
        args: None,
        ..
    } = &s.from[0].relation
    else {
        return None;
    };
    let table = name.0.last()?.to_string().to_ascii_lowercase();
    let lens = match table.as_str() {
        "recency" => Some(Lens::Recency),
        "authority" => Some(Lens::Authority),
        "beliefs" => None,
        _ => return None,
    };
    let mut projection = Vec::new();
    for item in &s.projection {
        match item {
            SelectItem::Wildcard(_) => projection.extend(0..LENS.fields().len()),
            SelectItem::UnnamedExpr(e) => projection.push(LENS.index_of(&ident(e)?).ok()?),
            _ => return None,
        }
    }
    let mut eqs = Vec::new();
    equalities(s.selection.as_ref()?, &mut eqs)?;
    let mut subject = None;
    let mut predicate = None;
    for (column, value) in eqs {
        match column.as_str() {
            "subject" if subject.is_none() => subject = Some(value),
            "predicate" if predicate.is_none() => predicate = Some(value),
            _ => return None,
        }
    }
    let schema = Arc::new(LENS.project(&projection).ok()?);
    Some(PointQuery {
        lens,
        projection,
        schema,
        subject: subject?,
        predicate,
    })
}

fn plain_insert(i: &Insert) -> Option<PlainInsert> {
    if i.returning.is_some() || i.on.is_some() || !i.assignments.is_empty() || i.columns.is_empty()
    {
        return None;
    }
    let TableObject::TableName(name) = &i.table else {
        return None;
    };
    if name.0.last()?.to_string() != super::tables::INGEST_TABLE {
        return None;
    }
    let source = i.source.as_ref()?;
    if source.with.is_some() || source.order_by.is_some() || source.limit_clause.is_some() {
        return None;
    }
    let SetExpr::Values(values) = source.body.as_ref() else {
        return None;
    };
    let columns: Vec<String> = i
        .columns
        .iter()
        .map(|c| c.to_string().trim_matches('"').to_ascii_lowercase())
        .collect();
    let rows = values
        .rows
        .iter()
        .map(|row| {
            (row.content.len() == columns.len()).then_some(())?;
            row.content.iter().map(operand).collect::<Option<Vec<_>>>()
        })
        .collect::<Option<Vec<_>>>()?;
    Some(PlainInsert { columns, rows })
}

/// The Arrow type a column's parameters decode to (as DataFusion infers).
fn column_type(column: &str) -> DataType {
    match column {
        "tier" => DataType::Int16,
        "confidence" => DataType::Float64,
        "observed_at" => timestamptz(),
        _ => DataType::Utf8,
    }
}

impl FastPath {
    pub fn parameter_types(&self) -> Vec<Option<DataType>> {
        let mut types: Vec<Option<DataType>> = Vec::new();
        let mut set = |op: &Operand, t: DataType| {
            if let Operand::Param(i) = op {
                if types.len() <= *i {
                    types.resize(*i + 1, None);
                }
                types[*i] = Some(t);
            }
        };
        match self {
            FastPath::Point(p) => {
                set(&p.subject, DataType::Utf8);
                if let Some(pr) = &p.predicate {
                    set(pr, DataType::Utf8);
                }
            }
            FastPath::Insert(ins) => {
                for row in &ins.rows {
                    for (op, c) in row.iter().zip(&ins.columns) {
                        set(op, column_type(c));
                    }
                }
            }
        }
        types
    }

    /// The result schema (None for an INSERT).
    pub fn schema(&self) -> Option<SchemaRef> {
        match self {
            FastPath::Point(p) => Some(p.schema.clone()),
            FastPath::Insert(_) => None,
        }
    }
}

fn value_text(op: &Operand, params: &[ScalarValue]) -> Result<Option<String>> {
    match op {
        Operand::Literal(v) => Ok(v.clone()),
        Operand::Param(i) => {
            let v = params.get(*i).ok_or_else(|| {
                Error::new(
                    "08P01",
                    format!("statement needs parameter ${}, none was bound", i + 1),
                )
            })?;
            if v.is_null() {
                return Ok(None);
            }
            Ok(Some(match v {
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s)) => s.clone(),
                ScalarValue::TimestampMicrosecond(Some(us), _) => {
                    super::settings::format_timestamptz(*us)
                }
                other => other.to_string(),
            }))
        }
    }
}

impl PointQuery {
    pub fn execute(
        &self,
        session: &SessionShared,
        view: super::tables::View,
        params: &[ScalarValue],
    ) -> Result<RecordBatch> {
        let subject = value_text(&self.subject, params)?;
        let predicate = self
            .predicate
            .as_ref()
            .map(|p| value_text(p, params))
            .transpose()?;
        let lens = self.lens.unwrap_or(session.settings().lens);
        let mut rows = LensRows::only(Wanted::of(Some(&self.projection)));
        // `= NULL` matches nothing, as in SQL.
        let range = match (subject, predicate) {
            (Some(s), None) => Some(ScanRange::Subject(s)),
            (Some(s), Some(Some(p))) => Some(ScanRange::SubjectPredicate(s, p)),
            _ => None,
        };
        if let Some(range) = range {
            view.read().for_each_pair(&range, |claims| {
                let live = view.live(&claims)?;
                if let Some(r) = resolve(lens, &live) {
                    rows.push(&r);
                }
                Ok(true)
            })?;
        }
        let batch = rows.finish().map_err(|e| Error::internal(e.to_string()))?;
        batch
            .project(&self.projection)
            .map_err(|e| Error::internal(e.to_string()))
    }
}

impl PlainInsert {
    pub async fn execute(
        &self,
        session: &Arc<SessionShared>,
        params: &[ScalarValue],
    ) -> Result<u64> {
        let mut claims = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
            let mut new = NewAssertion::default();
            for (column, op) in self.columns.iter().zip(row) {
                super::ingest::set_text(&mut new, column, value_text(op, params)?)?;
            }
            claims.push(new.into_claim(&session.user)?);
        }
        let n = claims.len() as u64;
        super::sinks::write_claims(session, claims).await?;
        Ok(n)
    }
}
