//! Where encoded values go: a DataRow ([`super::encode`]) or a COPY TO
//! line ([`super::copy`]), one value at a time.

use pgwire::api::results::{CopyEncoder, DataRowEncoder};
use pgwire::error::PgWireResult;
use pgwire::types::ToSqlText;
use postgres_types::ToSql;

/// Where encoded values go: a DataRow or a COPY line.
pub trait FieldSink {
    fn put<T: ToSql + ToSqlText>(&mut self, value: &T) -> PgWireResult<()>;
}

impl FieldSink for DataRowEncoder {
    fn put<T: ToSql + ToSqlText>(&mut self, value: &T) -> PgWireResult<()> {
        self.encode_field(value)
    }
}

impl FieldSink for CopyEncoder {
    fn put<T: ToSql + ToSqlText>(&mut self, value: &T) -> PgWireResult<()> {
        self.encode_field(value)
    }
}
