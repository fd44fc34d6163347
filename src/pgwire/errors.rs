//! StemeDB errors as PostgreSQL ErrorResponses.

use pgwire::error::{ErrorInfo, PgWireError};

use crate::error::Error;

pub fn error_info(e: &Error) -> ErrorInfo {
    ErrorInfo::new("ERROR".to_string(), e.code.to_string(), e.message.clone())
}

pub fn to_pg(e: Error) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&e)))
}

/// A FATAL error: the server closes the connection after sending it.
pub fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message.into(),
    )))
}
