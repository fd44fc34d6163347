//! Text access to the columns of a retraction INSERT batch by name (every
//! column of `retractions` a client sets is text; any value casts to text
//! without loss).

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DfResult;

/// The columns of one batch, as text.
pub struct Columns<'a> {
    batch: &'a RecordBatch,
}

/// One column, read row by row (`None` when absent from the batch).
pub struct Col(Option<StringArray>);

impl Col {
    pub fn text(&self, row: usize) -> Option<String> {
        match &self.0 {
            Some(a) if a.is_valid(row) => Some(a.value(row).to_string()),
            _ => None,
        }
    }
}

impl<'a> Columns<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        Columns { batch }
    }

    pub fn text(&self, name: &str) -> DfResult<Col> {
        Ok(Col(match self.batch.schema().index_of(name) {
            Ok(i) => Some(
                cast(self.batch.column(i), &DataType::Utf8)?
                    .as_string::<i32>()
                    .clone(),
            ),
            Err(_) => None,
        }))
    }
}
