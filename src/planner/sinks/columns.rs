//! Typed access to the columns of an INSERT batch by name.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampMicrosecondType};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DfResult;

use crate::planner::schema::timestamptz;

/// The columns of one batch, cast to the types the sink reads.
pub struct Columns<'a> {
    batch: &'a RecordBatch,
}

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> DfResult<Option<ArrayRef>> {
    match batch.schema().index_of(name) {
        Ok(i) => Ok(Some(cast(batch.column(i), to)?)),
        Err(_) => Ok(None),
    }
}

/// One column, read row by row.
pub enum Col {
    Text(StringArray),
    Int(Int64Array),
    Float(Float64Array),
    Time(TimestampMicrosecondArray),
    Missing,
}

impl Col {
    pub fn text(&self, row: usize) -> Option<String> {
        match self {
            Col::Text(a) if a.is_valid(row) => Some(a.value(row).to_string()),
            _ => None,
        }
    }
    pub fn int(&self, row: usize) -> Option<i64> {
        match self {
            Col::Int(a) if a.is_valid(row) => Some(a.value(row)),
            _ => None,
        }
    }
    pub fn float(&self, row: usize) -> Option<f64> {
        match self {
            Col::Float(a) if a.is_valid(row) => Some(a.value(row)),
            _ => None,
        }
    }
    pub fn micros(&self, row: usize) -> Option<i64> {
        match self {
            Col::Time(a) if a.is_valid(row) => Some(a.value(row)),
            _ => None,
        }
    }
}

impl<'a> Columns<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        Columns { batch }
    }

    pub fn text(&self, name: &str) -> DfResult<Col> {
        Ok(match column(self.batch, name, &DataType::Utf8)? {
            Some(a) => Col::Text(a.as_string::<i32>().clone()),
            None => Col::Missing,
        })
    }

    pub fn int(&self, name: &str) -> DfResult<Col> {
        Ok(match column(self.batch, name, &DataType::Int64)? {
            Some(a) => Col::Int(a.as_primitive::<Int64Type>().clone()),
            None => Col::Missing,
        })
    }

    pub fn float(&self, name: &str) -> DfResult<Col> {
        Ok(match column(self.batch, name, &DataType::Float64)? {
            Some(a) => Col::Float(a.as_primitive::<Float64Type>().clone()),
            None => Col::Missing,
        })
    }

    pub fn time(&self, name: &str) -> DfResult<Col> {
        Ok(match column(self.batch, name, &timestamptz())? {
            Some(a) => Col::Time(a.as_primitive::<TimestampMicrosecondType>().clone()),
            None => Col::Missing,
        })
    }
}
