//! What a statement returns to the wire layer: rows, a command tag (with
//! how it changed the transaction), or the start of a COPY.

use datafusion::execution::SendableRecordBatchStream;

use super::write::copy::CopyOptions;

/// How a statement changed the transaction state (for ReadyForQuery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnChange {
    Started,
    Ended,
}

/// The result of one statement.
pub enum Output {
    Rows(SendableRecordBatchStream),
    Command {
        tag: String,
        txn: Option<TxnChange>,
    },
    /// COPY FROM STDIN started: the client now sends this many columns.
    CopyIn {
        columns: usize,
    },
    /// COPY TO STDOUT: rows to send in the given format.
    CopyOut {
        rows: SendableRecordBatchStream,
        options: CopyOptions,
    },
}

pub(super) fn command(tag: impl Into<String>) -> Output {
    Output::Command {
        tag: tag.into(),
        txn: None,
    }
}
