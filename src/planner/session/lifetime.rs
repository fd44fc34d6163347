//! A statement's lifetime. `statement_timeout`: a statement that runs past its deadline is
//! cancelled with `57014`, whether it is still computing its first rows
//! (the future is dropped) or streaming the rest to the client (the stream
//! ends with the error). Dropping a scan's stream stops its blocking
//! readers at their next batch.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{FutureExt, Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::connections::Busy;
use crate::error::{Error, Result, sqlstate};
use crate::monitor::{self, Kind};
use crate::planner::{Output, SessionShared, StatementLimits};

/// The error a statement gets when its time is up, as PostgreSQL words it.
pub fn timed_out() -> Error {
    Error::new(
        sqlstate::QUERY_CANCELED,
        "canceling statement due to statement timeout",
    )
}

/// `rows`, ended with [`timed_out`] once `deadline` passes.
pub fn rows_until(rows: SendableRecordBatchStream, deadline: Instant) -> SendableRecordBatchStream {
    Box::pin(Deadline {
        schema: rows.schema(),
        rows: Some(rows),
        timer: Box::pin(tokio::time::sleep_until(deadline)),
    })
}

struct Deadline {
    schema: SchemaRef,
    /// `None` once ended (by the deadline or by the rows).
    rows: Option<SendableRecordBatchStream>,
    timer: Pin<Box<Sleep>>,
}

impl Stream for Deadline {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(rows) = this.rows.as_mut() else {
            return Poll::Ready(None);
        };
        // The timer first: a scan whose batches are always ready would
        // otherwise never let it fire.
        if this.timer.poll_unpin(cx).is_ready() {
            this.rows = None; // stops the scan
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(timed_out())))));
        }
        let next = futures::ready!(rows.poll_next_unpin(cx));
        if next.is_none() {
            this.rows = None;
        }
        Poll::Ready(next)
    }
}

impl RecordBatchStream for Deadline {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Runs `statement` within `timeout` (`None`: no limit); rows it returns
/// stream under the same deadline.
pub async fn within(
    timeout: Option<Duration>,
    statement: impl Future<Output = Result<Output>>,
) -> Result<Output> {
    let Some(timeout) = timeout else {
        return statement.await;
    };
    let deadline = Instant::now() + timeout;
    match tokio::time::timeout_at(deadline, statement).await {
        Err(_) => Err(timed_out()),
        Ok(Ok(Output::Rows(rows))) => Ok(Output::Rows(rows_until(rows, deadline))),
        Ok(Ok(Output::CopyOut { rows, options })) => Ok(Output::CopyOut {
            rows: rows_until(rows, deadline),
            options,
        }),
        Ok(other) => other,
    }
}

/// A statement that has not ended yet: it ends (is counted, timed, logged
/// if slow, and no longer keeps its connection busy) when dropped — after
/// its last row was sent, if it returns rows.
pub struct Ending {
    kind: Kind,
    started: std::time::Instant,
    ok: bool,
    /// `log_min_duration_statement`.
    log_from: Option<Duration>,
    busy: Option<Busy>,
}

impl Ending {
    pub fn new(kind: Kind, log_from: Option<Duration>, busy: Option<Busy>) -> Ending {
        Ending {
            kind,
            started: std::time::Instant::now(),
            ok: true,
            log_from,
            busy,
        }
    }

    /// A statement that started at `started`.
    pub fn since(mut self, started: std::time::Instant) -> Ending {
        self.started = started;
        self
    }

    /// The statement failed: it ends now.
    pub fn failed(mut self) {
        self.ok = false;
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        monitor::statement(self.kind, self.ok, took);
        if self.log_from.is_some_and(|from| took >= from) {
            // The statement's text as the client sent it; parameter
            // values are never logged.
            let statement = self
                .busy
                .as_ref()
                .map(|b| b.backend().state().query)
                .unwrap_or_default();
            tracing::info!(
                target: "stemedb::slow",
                duration_ms = took.as_secs_f64() * 1e3,
                kind = ?self.kind,
                ok = self.ok,
                %statement,
                "slow statement"
            );
        }
    }
}

/// Starts a statement of `kind` on the session's connection: its
/// [`Ending`] (none for a COPY, which ends with its data:
/// `Session::copy_done`), or `53400` if its user already runs its limit of
/// statements.
pub(in crate::planner) fn begin(
    shared: &SessionShared,
    kind: Kind,
    limits: StatementLimits,
) -> Result<Option<Ending>> {
    if kind == Kind::Copy {
        return Ok(None);
    }
    let busy = shared.backend.get().map(|b| b.busy()).transpose()?;
    Ok(Some(Ending::new(
        kind,
        limits.log_min_duration_statement,
        busy,
    )))
}

/// The output, holding `guard` until its rows (if any) are all sent or
/// dropped.
pub fn holding<G: Send + 'static>(output: Output, guard: G) -> Output {
    let hold = |rows: SendableRecordBatchStream| -> SendableRecordBatchStream {
        let schema = rows.schema();
        let rows = rows.map(move |batch| {
            let _ = &guard;
            batch
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, rows))
    };
    match output {
        Output::Rows(rows) => Output::Rows(hold(rows)),
        Output::CopyOut { rows, options } => Output::CopyOut {
            rows: hold(rows),
            options,
        },
        other => other,
    }
}
