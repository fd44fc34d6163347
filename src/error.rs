//! One error type for the whole server. Every error a client can cause
//! carries the SQLSTATE it should see on the wire, from the place it arises
//! (model validation, storage, planner) up to the pgwire layer.

use std::fmt;

/// SQLSTATE codes StemeDB raises itself (docs/sql.md).
pub mod sqlstate {
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const GENERATED_ALWAYS: &str = "428C9";
    pub const NOT_NULL_VIOLATION: &str = "23502";
    pub const CHECK_VIOLATION: &str = "23514";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const FOREIGN_KEY_VIOLATION: &str = "23503";
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const CARDINALITY_VIOLATION: &str = "21000";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const INVALID_PASSWORD: &str = "28P01";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    pub const SYNTAX_ERROR: &str = "42601";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const IN_FAILED_TRANSACTION: &str = "25P02";
    pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";
    pub const ACTIVE_TRANSACTION: &str = "25001";
    pub const NO_ACTIVE_TRANSACTION: &str = "25P01";
    pub const INVALID_DATETIME_FORMAT: &str = "22007";
    pub const DATA_EXCEPTION: &str = "22000";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const QUERY_CANCELED: &str = "57014";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
    pub const DUPLICATE_PREPARED_STATEMENT: &str = "42P05";
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    pub const STATEMENT_TOO_COMPLEX: &str = "54001";
    pub const UNDEFINED_PARAMETER: &str = "42P02";
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    pub const INVALID_TABLE_DEFINITION: &str = "42P16";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION: &str = "42000";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const INVALID_SAVEPOINT_SPECIFICATION: &str = "3B001";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const CONFIGURATION_LIMIT_EXCEEDED: &str = "53400";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const INTERNAL: &str = "XX000";
    pub const DATA_CORRUPTED: &str = "XX001";

    /// The code `code` names, if it is one of these.
    pub fn known(code: &str) -> Option<&'static str> {
        [
            FEATURE_NOT_SUPPORTED,
            GENERATED_ALWAYS,
            NOT_NULL_VIOLATION,
            CHECK_VIOLATION,
            INVALID_TEXT_REPRESENTATION,
            FOREIGN_KEY_VIOLATION,
            UNIQUE_VIOLATION,
            CARDINALITY_VIOLATION,
            INVALID_PARAMETER_VALUE,
            INVALID_PASSWORD,
            TOO_MANY_CONNECTIONS,
            SYNTAX_ERROR,
            UNDEFINED_TABLE,
            UNDEFINED_COLUMN,
            UNDEFINED_OBJECT,
            DATATYPE_MISMATCH,
            IN_FAILED_TRANSACTION,
            READ_ONLY_SQL_TRANSACTION,
            ACTIVE_TRANSACTION,
            NO_ACTIVE_TRANSACTION,
            INVALID_DATETIME_FORMAT,
            DATA_EXCEPTION,
            DIVISION_BY_ZERO,
            QUERY_CANCELED,
            OUT_OF_MEMORY,
            INSUFFICIENT_PRIVILEGE,
            INVALID_SQL_STATEMENT_NAME,
            DUPLICATE_PREPARED_STATEMENT,
            PROGRAM_LIMIT_EXCEEDED,
            STATEMENT_TOO_COMPLEX,
            UNDEFINED_PARAMETER,
            OBJECT_NOT_IN_PREREQUISITE_STATE,
            AMBIGUOUS_COLUMN,
            INVALID_TABLE_DEFINITION,
            UNDEFINED_FUNCTION,
            SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION,
            NUMERIC_VALUE_OUT_OF_RANGE,
            INVALID_SAVEPOINT_SPECIFICATION,
            PROTOCOL_VIOLATION,
            CONFIGURATION_LIMIT_EXCEEDED,
            ADMIN_SHUTDOWN,
            INTERNAL,
            DATA_CORRUPTED,
        ]
        .into_iter()
        .find(|c| *c == code)
    }
}

/// An error with the SQLSTATE a client should receive.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
    /// The column a bad value was given for, when the error is about one.
    pub column: Option<&'static str>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            column: None,
        }
    }

    /// The same error, about `column`.
    pub fn in_column(mut self, column: &'static str) -> Self {
        self.column = Some(column);
        self
    }

    /// An error that is the server's fault, not the client's.
    pub fn internal(message: impl fmt::Display) -> Self {
        Error::new(sqlstate::INTERNAL, message.to_string())
    }

    /// Stored bytes that do not decode or do not match their id.
    pub fn corrupted(message: impl fmt::Display) -> Self {
        Error::new(sqlstate::DATA_CORRUPTED, message.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<rocksdb::Error> for Error {
    fn from(e: rocksdb::Error) -> Self {
        Error::internal(format!("storage: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::internal(format!("io: {e}"))
    }
}
