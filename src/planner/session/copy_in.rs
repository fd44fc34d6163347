//! COPY FROM STDIN as a session runs it: the data arrives in pieces
//! between statements ([`Session::copy_data`]), parsed and staged on a
//! blocking thread; the end ([`Session::copy_done`]) validates the rest
//! and writes every row in one atomic batch, or applies the staged copy
//! through the session's write path; a client's CopyFail discards it.

use super::lifetime::Ending;
use super::run::Session;
use crate::error::{Error, Result, sqlstate};
use crate::monitor::Kind;
use crate::planner::write::copy::{CopyIn, CopyRows};
use crate::storage::Write;

impl Session {
    /// Feeds COPY FROM STDIN data. Parsing and staging (a RocksDB write)
    /// run on a blocking thread, not on the runtime's workers.
    pub async fn copy_data(&self, data: bytes::Bytes) {
        let Some(mut copy) = self.take_copy() else {
            return;
        };
        match tokio::task::spawn_blocking(move || {
            copy.feed(&data);
            copy
        })
        .await
        {
            Ok(copy) => *self.shared.copy.lock().unwrap_or_else(|e| e.into_inner()) = Some(copy),
            // The COPY is gone (its staged rows discarded): COPY done
            // reports that no COPY is in progress.
            Err(e) => tracing::error!("COPY data could not be processed: {e}"),
        }
    }

    fn take_copy(&self) -> Option<CopyIn> {
        self.shared
            .copy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Ends COPY FROM STDIN: validates the rest and writes every row in one
    /// atomic batch (or into the open transaction). Returns the row count.
    pub async fn copy_done(&self) -> Result<usize> {
        let copy = self
            .take_copy()
            .ok_or_else(|| Error::internal("no COPY in progress"))?;
        let log_from = self.shared.limits().log_min_duration_statement;
        // The COPY is already running: it is not refused here.
        let busy = self.shared.backend.get().and_then(|b| b.busy().ok());
        let ending = Ending::new(Kind::Copy, log_from, busy).since(copy.started());
        let result = async {
            self.shared.writable()?;
            let rows = tokio::task::spawn_blocking(move || copy.finish())
                .await
                .map_err(|e| Error::internal(format!("COPY could not finish: {e}")))??;
            match rows {
                CopyRows::Memory(rows) => {
                    let n = rows.len();
                    let writes = rows.into_iter().map(Write::Claim).collect();
                    self.shared.txn.write(&self.shared.writes, writes).await?;
                    Ok(n)
                }
                CopyRows::Staged { copy, rows } => {
                    self.shared.writes.apply_staged(copy, rows).await?;
                    Ok(rows)
                }
            }
        }
        .await;
        if result.is_err() {
            self.shared.txn.fail();
            ending.failed();
        }
        result
    }

    /// The client aborted COPY FROM STDIN.
    pub fn copy_fail(&self, message: &str) -> Error {
        drop(self.take_copy()); // discards whatever it staged
        self.shared.txn.fail();
        Error::new(
            sqlstate::QUERY_CANCELED,
            format!("COPY from stdin failed: {message}"),
        )
    }
}
