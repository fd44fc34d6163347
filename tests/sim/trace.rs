//! The run's trace: every event the node code and the harness log (the
//! client's requests and their outcomes, faults, what the cluster layer
//! reports), each stamped with the simulated time and the host it ran on.
//! Its hash is the run's fingerprint — two runs of one seed must agree on
//! it — and, replaying one seed, the lines are the readable event log.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

#[derive(Default)]
struct Collected {
    hash: blake3::Hasher,
    lines: usize,
    /// The lines themselves, when the log is kept.
    log: Option<Vec<String>>,
}

/// Collects the trace of one run.
#[derive(Clone, Default)]
pub struct Trace(Arc<Mutex<Collected>>);

/// The host a span of turmoil's runs on.
struct HostName(String);

/// Formats an event's or a span's fields as `k=v` pairs.
#[derive(Default)]
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Trace {
    /// A trace that keeps its lines (to print a replayed seed's log).
    pub fn keeping_lines() -> Trace {
        let trace = Trace::default();
        trace.0.lock().unwrap().log = Some(Vec::new());
        trace
    }

    /// Adds a line of the harness's own (the oracle's verdict).
    pub fn add(&self, line: &str) {
        let mut c = self.0.lock().unwrap();
        c.hash.update(line.as_bytes());
        c.lines += 1;
        if let Some(log) = &mut c.log {
            log.push(line.to_string());
        }
    }

    /// The fingerprint of what was traced so far, and its line count.
    pub fn fingerprint(&self) -> (String, usize) {
        let c = self.0.lock().unwrap();
        (c.hash.finalize().to_hex()[..16].to_string(), c.lines)
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().log.clone().unwrap_or_default()
    }
}

impl<S> Layer<S> for Trace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "node" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            let name = fields.0.trim().trim_start_matches("name=").to_string();
            span.extensions_mut().insert(HostName(name));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !(meta.target().starts_with("stemedb")
            || meta.target().starts_with("sim")
            || (std::env::var_os("SIM_TURMOIL").is_some() && meta.target().starts_with("turmoil")))
        {
            return;
        }
        let host = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .from_root()
                    .find_map(|s| s.extensions().get::<HostName>().map(|h| h.0.clone()))
            })
            .unwrap_or_else(|| "driver".into());
        let at = turmoil::sim_elapsed().unwrap_or_default();
        let mut fields = Fields::default();
        event.record(&mut fields);
        // A TCP segment's bytes carry hyper's `date` header (the real
        // clock): keep only how many there are.
        if let Some(at) = fields.0.find(" [") {
            let bytes = fields.0[at..].matches(',').count() + 1;
            fields.0.truncate(at);
            let _ = write!(fields.0, " bytes={bytes}");
        }
        let line = format!(
            "{:>9.3}s {host:<8} {:<5} {}{}",
            at.as_secs_f64(),
            meta.level(),
            meta.target(),
            fields.0
        );
        self.add(&line);
    }
}
