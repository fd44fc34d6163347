//! Array columns of the crate's static catalog tables. `datafusion-pg-catalog`
//! ships `pg_index` and `pg_proc` with their array columns as text — int2vector
//! and oidvector as PostgreSQL prints them (`1 2`), real arrays as a list
//! literal (`[1034, 26]`, `['i', 'o']`). Tools use them as arrays
//! (`unnest(indkey)`, `proargtypes::regtype[]`), so StemeDB serves them as
//! Arrow lists.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::Result;
use datafusion::prelude::SessionContext;

/// The element type of each array column of the catalog table `table`.
pub fn array_columns(table: &str) -> &'static [(&'static str, DataType)] {
    match table {
        "pg_index" => &[
            ("indkey", DataType::Int16),
            ("indoption", DataType::Int16),
            ("indclass", DataType::Int32),
            ("indcollation", DataType::Int32),
        ],
        "pg_proc" => &[
            ("proargtypes", DataType::Int32),
            ("proallargtypes", DataType::Int32),
            ("proargmodes", DataType::Utf8),
            ("proargnames", DataType::Utf8),
        ],
        _ => &[],
    }
}

/// A copy of `table` (a small, static one) with `columns` as lists.
pub async fn with_arrays(
    table: Arc<dyn TableProvider>,
    columns: &[(&str, DataType)],
) -> Result<Arc<dyn TableProvider>> {
    let element = |name: &str| columns.iter().find(|(c, _)| *c == name).map(|(_, t)| t);
    let list = |t: &DataType| DataType::List(Arc::new(Field::new_list_field(t.clone(), true)));
    let schema = Arc::new(Schema::new(
        table
            .schema()
            .fields()
            .iter()
            .map(|f| match element(f.name()) {
                Some(t) => Field::new(f.name(), list(t), true),
                None => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ));
    let batches = SessionContext::new().read_table(table)?.collect().await?;
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(column, field)| match element(field.name()) {
                Some(t) => Ok(cast(&parse_column(column), &list(t))?),
                None => Ok(column.clone()),
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    Ok(Arc::new(MemTable::try_new(schema, vec![out])?))
}

/// A text column of array spellings → a list of the elements' text.
fn parse_column(column: &ArrayRef) -> ArrayRef {
    let Some(text) = column.as_string_opt::<i32>() else {
        return column.clone();
    };
    let mut out = ListBuilder::new(StringBuilder::new());
    for value in text.iter() {
        match value.filter(|v| !v.trim().is_empty()) {
            None => out.append_null(),
            Some(v) => {
                for item in elements(v) {
                    out.values().append_value(item);
                }
                out.append(true);
            }
        }
    }
    Arc::new(out.finish())
}

/// `1 2` → [1, 2]; `[1, 2]` → [1, 2]; `['a', 'b']` → [a, b].
fn elements(value: &str) -> Vec<&str> {
    let value = value.trim();
    match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        Some(inner) => inner
            .split(',')
            .map(|i| i.trim().trim_matches('\''))
            .filter(|i| !i.is_empty())
            .collect(),
        None => value.split_whitespace().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::elements;

    #[test]
    fn reads_the_crates_spellings() {
        assert_eq!(elements("1 2"), ["1", "2"]);
        assert_eq!(elements("[1034, 26]"), ["1034", "26"]);
        assert_eq!(elements("['i', 'o']"), ["i", "o"]);
        assert!(elements("[]").is_empty());
    }
}
