//! DataRows of batches whose columns are all strings or integers — a lens
//! row's usual shape — written straight from the Arrow arrays into one
//! buffer per batch: no per-value dispatch on the column type, no buffer
//! grown row by row. Any other batch goes through [`super::encode`].

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int16Array, Int32Array, Int64Array, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Int16Type, Int32Type, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::messages::data::DataRow;

/// A column and the format the client asked for it in.
enum Column<'a> {
    Utf8(&'a StringArray),
    Int16(&'a Int16Array, FieldFormat),
    Int32(&'a Int32Array, FieldFormat),
    Int64(&'a Int64Array, FieldFormat),
}

impl<'a> Column<'a> {
    fn of(column: &'a ArrayRef, field: &FieldInfo) -> Option<Column<'a>> {
        // Only where the column is described as the type its array holds.
        if *field.datatype() != crate::planner::pg_types::pg_type(column.data_type()) {
            return None;
        }
        let format = field.format();
        Some(match column.data_type() {
            // Text and binary forms of a string are the same bytes.
            DataType::Utf8 => Column::Utf8(column.as_string::<i32>()),
            DataType::Int16 => Column::Int16(column.as_primitive::<Int16Type>(), format),
            DataType::Int32 => Column::Int32(column.as_primitive::<Int32Type>(), format),
            DataType::Int64 => Column::Int64(column.as_primitive::<Int64Type>(), format),
            _ => return None,
        })
    }

    /// Bytes the column's values take on the wire, about.
    fn size(&self) -> usize {
        match self {
            Column::Utf8(a) => a.value_data().len(),
            Column::Int16(a, _) => a.len() * 6,
            Column::Int32(a, _) => a.len() * 11,
            Column::Int64(a, _) => a.len() * 20,
        }
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Column::Utf8(a) => a.is_null(row),
            Column::Int16(a, _) => a.is_null(row),
            Column::Int32(a, _) => a.is_null(row),
            Column::Int64(a, _) => a.is_null(row),
        }
    }

    /// Writes the value of `row`, after its length.
    fn put(&self, out: &mut BytesMut, row: usize) {
        if self.is_null(row) {
            out.put_i32(-1);
            return;
        }
        match self {
            Column::Utf8(a) => bytes(out, a.value(row).as_bytes()),
            Column::Int16(a, FieldFormat::Binary) => bytes(out, &a.value(row).to_be_bytes()),
            Column::Int32(a, FieldFormat::Binary) => bytes(out, &a.value(row).to_be_bytes()),
            Column::Int64(a, FieldFormat::Binary) => bytes(out, &a.value(row).to_be_bytes()),
            Column::Int16(a, _) => integer(out, a.value(row)),
            Column::Int32(a, _) => integer(out, a.value(row)),
            Column::Int64(a, _) => integer(out, a.value(row)),
        }
    }
}

fn bytes(out: &mut BytesMut, value: &[u8]) {
    out.put_i32(value.len() as i32);
    out.put_slice(value);
}

fn integer(out: &mut BytesMut, value: impl itoa::Integer) {
    bytes(out, itoa::Buffer::new().format(value).as_bytes());
}

/// The batch's rows, if every column is a string or an integer.
pub fn encode(batch: &RecordBatch, fields: &[FieldInfo]) -> Option<Vec<DataRow>> {
    let columns = batch
        .columns()
        .iter()
        .zip(fields)
        .map(|(c, f)| Column::of(c, f))
        .collect::<Option<Vec<_>>>()?;
    let rows = batch.num_rows();
    let size = columns.iter().map(Column::size).sum::<usize>() + rows * columns.len() * 4;
    let mut out = BytesMut::with_capacity(size);
    Some(
        (0..rows)
            .map(|row| {
                for column in &columns {
                    column.put(&mut out, row);
                }
                DataRow::new(out.split(), columns.len() as i16)
            })
            .collect(),
    )
}
