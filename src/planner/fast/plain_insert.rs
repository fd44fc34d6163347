//! The statement a claims workload writes with most: `INSERT INTO
//! assertions (cols) VALUES (…), …` with constants or parameters, each
//! possibly cast (`$1::text`, `CAST($5 AS int)`). It is recognised once, at
//! prepare time, and each execution turns its values into claims and hands
//! them to the one ingest path ([`crate::planner::write::ingest`], [`crate::planner::write::sinks`]) that
//! every INSERT, COPY and import uses — without planning a DataFusion
//! insert per call. Anything else (RETURNING, an expression, INSERT …
//! SELECT) is planned by DataFusion and ends in the same ingest path.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    self, Expr, Insert, SetExpr, Statement, TableObject, UnaryOperator, Value,
};

use crate::error::{Error, Result, sqlstate};
use crate::model::NewAssertion;
use crate::planner::SessionShared;
use crate::planner::schema::timestamptz;

/// A value in the statement: a literal, or the n-th parameter (0-based)
/// with the type of its cast, if any.
#[derive(Debug, Clone)]
enum Operand {
    Literal(Option<String>),
    Param(usize, Option<DataType>),
}

/// `INSERT INTO assertions (columns) VALUES (…), …` with plain values.
#[derive(Debug, Clone)]
pub struct PlainInsert {
    columns: Vec<String>,
    rows: Vec<Vec<Operand>>,
}

/// The Arrow type a cast to `t` gives a parameter (as DataFusion infers);
/// `None` for a type the plain path does not take.
fn cast_type(t: &ast::DataType) -> Option<DataType> {
    use ast::DataType as T;
    Some(match t {
        T::Text | T::Varchar(_) | T::CharacterVarying(_) | T::String(_) => DataType::Utf8,
        T::SmallInt(_) | T::Int2(_) => DataType::Int16,
        T::Int(_) | T::Integer(_) | T::Int4(_) => DataType::Int32,
        T::BigInt(_) | T::Int8(_) => DataType::Int64,
        T::Real | T::Float4 => DataType::Float32,
        T::DoublePrecision | T::Float8 | T::Double(_) => DataType::Float64,
        T::Timestamp(_, ast::TimezoneInfo::Tz | ast::TimezoneInfo::WithTimeZone) => timestamptz(),
        _ => return None,
    })
}

fn operand(e: &Expr) -> Option<Operand> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => Some(Operand::Param(
                p.strip_prefix('$')?.parse::<usize>().ok()?.checked_sub(1)?,
                None,
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
        // `$1::text`, `CAST($1 AS varchar)`: the parameter takes the cast's
        // type; a cast literal keeps its text (the column's rules apply).
        Expr::Cast {
            expr,
            data_type,
            format: None,
            ..
        } => {
            let t = cast_type(data_type)?;
            match operand(expr)? {
                Operand::Param(i, None) => Some(Operand::Param(i, Some(t))),
                Operand::Literal(v) if t == DataType::Utf8 => Some(Operand::Literal(v)),
                _ => None,
            }
        }
        Expr::Nested(inner) => operand(inner),
        _ => None,
    }
}

/// Recognises a plain INSERT.
pub fn recognise(statement: &Statement) -> Option<PlainInsert> {
    let Statement::Insert(i) = statement else {
        return None;
    };
    plain_insert(i)
}

fn plain_insert(i: &Insert) -> Option<PlainInsert> {
    if i.returning.is_some() || i.on.is_some() || !i.assignments.is_empty() || i.columns.is_empty()
    {
        return None;
    }
    let TableObject::TableName(name) = &i.table else {
        return None;
    };
    if name.0.last()?.to_string() != crate::planner::write::sinks::INGEST_TABLE {
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

impl PlainInsert {
    /// Types of the `$n` parameters: a cast's, else the column's.
    pub fn parameter_types(&self) -> Vec<Option<DataType>> {
        let mut types: Vec<Option<DataType>> = Vec::new();
        for row in &self.rows {
            for (op, column) in row.iter().zip(&self.columns) {
                if let Operand::Param(i, cast) = op {
                    if types.len() <= *i {
                        types.resize(*i + 1, None);
                    }
                    types[*i] = Some(cast.clone().unwrap_or_else(|| column_type(column)));
                }
            }
        }
        types
    }

    pub async fn execute(
        &self,
        session: &Arc<SessionShared>,
        params: &[ScalarValue],
    ) -> Result<u64> {
        let mut claims = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
            let mut new = NewAssertion::default();
            for (column, op) in self.columns.iter().zip(row) {
                crate::planner::write::ingest::set_text(&mut new, column, value_text(op, params)?)?;
            }
            claims.push(new.into_claim(&session.user)?);
        }
        let n = claims.len() as u64;
        crate::planner::write::sinks::write_claims(session, claims).await?;
        Ok(n)
    }
}

fn value_text(op: &Operand, params: &[ScalarValue]) -> Result<Option<String>> {
    match op {
        Operand::Literal(v) => Ok(v.clone()),
        Operand::Param(i, _) => {
            let v = params.get(*i).ok_or_else(|| {
                Error::new(
                    sqlstate::PROTOCOL_VIOLATION,
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
                    crate::model::format_timestamptz(*us)
                }
                other => other.to_string(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(sql: &str) -> Option<PlainInsert> {
        let sql = sql.replace(
            "INTO assertions",
            &format!("INTO {}", crate::planner::write::sinks::INGEST_TABLE),
        );
        recognise(
            &crate::planner::frontend::parse::parse(&sql)
                .unwrap()
                .remove(0),
        )
    }

    #[test]
    fn casts_and_parameters_keep_an_insert_plain() {
        let spellings = [
            "INSERT INTO assertions (subject, predicate, object, source, tier, confidence) \
             VALUES ($1, 'pb', 'x', 'bench', 3, 0.5)",
            "INSERT INTO assertions (subject, predicate, object, source, tier, confidence) \
             VALUES ($1::text, 'pb', 'x', 'bench', $2, 0.5)",
            "INSERT INTO assertions (subject, predicate, object, source, tier, confidence) \
             VALUES (CAST($1 AS varchar), 'pb'::text, ('x'), 'bench', $2::int, -0.5)",
        ];
        for sql in spellings {
            assert!(plain(sql).is_some(), "{sql}");
        }
        let types = plain(spellings[2]).unwrap().parameter_types();
        assert_eq!(types, [Some(DataType::Utf8), Some(DataType::Int32)]);
        let types = plain(spellings[1]).unwrap().parameter_types();
        assert_eq!(types, [Some(DataType::Utf8), Some(DataType::Int16)]);
        // Expressions, RETURNING and casts of literals to other types are
        // left to DataFusion.
        for sql in [
            "INSERT INTO assertions (subject, predicate, object, source) \
             VALUES (upper($1), 'p', 'o', 's')",
            "INSERT INTO assertions (subject, predicate, object, source) \
             VALUES ($1, 'p', 'o', 's') RETURNING id",
            "INSERT INTO assertions (subject, predicate, object, source, observed_at) \
             VALUES ($1, 'p', 'o', 's', '2024-01-01'::timestamptz)",
        ] {
            assert!(plain(sql).is_none(), "{sql}");
        }
    }
}
