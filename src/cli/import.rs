//! `stemedb import FILE…`: loads CSV (header row of `assertions` column
//! names) or JSON-lines files through COPY over the wire — into a running
//! server, or into a stopped data dir by starting a private in-process
//! server on a loopback port. Rows go in chunks of `batch_rows`; each chunk
//! is one atomic COPY, so a bad row stops the import with everything before
//! its chunk committed and nothing of its chunk.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::SinkExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_postgres::Client;

use crate::error::{Error, Result};

/// Columns an import may fill (the writable columns of `assertions`).
use crate::planner::COPY_COLUMNS as COLUMNS;

/// Where to import into.
pub enum Target {
    /// A running server: a libpq-style connection string.
    Server(String),
    /// A stopped node's data dir.
    DataDir(PathBuf),
}

pub struct ImportOptions {
    pub target: Target,
    pub files: Vec<PathBuf>,
    pub batch_rows: usize,
}

/// Totals printed at the end.
#[derive(Default)]
pub struct Summary {
    pub files: usize,
    pub rows: u64,
    pub seconds: f64,
}

pub async fn run(options: ImportOptions) -> Result<Summary> {
    match &options.target {
        Target::Server(conn) => import_all(&super::connect(conn).await?, &options).await,
        Target::DataDir(dir) => {
            let server = PrivateServer::start(dir).await?;
            let result = async { import_all(&super::connect(&server.conn).await?, &options).await };
            let result = result.await;
            server.stop().await;
            result
        }
    }
}

async fn import_all(client: &Client, options: &ImportOptions) -> Result<Summary> {
    let started = Instant::now();
    let mut summary = Summary::default();
    for file in &options.files {
        summary.rows += import_file(client, file, options.batch_rows).await?;
        summary.files += 1;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// A stopped data dir served on a private loopback port for the import.
struct PrivateServer {
    conn: String,
    stop: tokio::sync::watch::Sender<bool>,
    serving: tokio::task::JoinHandle<Result<()>>,
    store: Arc<crate::storage::Store>,
}

impl PrivateServer {
    async fn start(dir: &Path) -> Result<PrivateServer> {
        let store = crate::storage::Store::open(dir, None, crate::storage::Durability::Fsync)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let wire = crate::pgwire::WireConfig {
            password: None,
            tls: None,
            max_connections: 4,
            connection_threads: 0,
            shutdown_timeout: std::time::Duration::from_secs(1),
            rates: Default::default(),
        };
        let serving = tokio::spawn(crate::pgwire::serve(
            listener,
            crate::planner::Engine::new(store.clone()),
            wire,
            stopped,
        ));
        Ok(PrivateServer {
            conn: format!("host=127.0.0.1 port={port} user=stemedb dbname=stemedb"),
            stop,
            serving,
            store,
        })
    }

    /// Stops serving and closes the database here, before the process
    /// exits. Connections run on the process's connection threads: left to
    /// themselves, the last one to end would close RocksDB on its thread
    /// while `main` returns and C++ destroys RocksDB's statics ("pthread
    /// lock: Invalid argument", or a segfault).
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.serving.await;
        if Arc::strong_count(&self.store) > 1 {
            tracing::warn!("import: the private server still holds the database");
        }
        drop(self.store);
    }
}

fn progress(file: &Path) -> ProgressBar {
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(file.display().to_string());
    bar
}

/// One CSV field for COPY: NULL is an unquoted empty field, every value is
/// quoted (so an empty string stays an empty string).
fn push_field(out: &mut String, value: Option<&str>) {
    if let Some(v) = value {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    }
}

/// Reads records from a file as rows of the import columns.
trait Records {
    /// Appends the next record as one CSV line; false at the end.
    fn next_into(&mut self, line: &mut String) -> Result<bool>;
}

struct CsvRecords<R: Read> {
    reader: csv::Reader<R>,
    /// For each import column, its index in the file (if present).
    map: Vec<Option<usize>>,
    record: csv::StringRecord,
}

impl<R: Read> Records for CsvRecords<R> {
    fn next_into(&mut self, line: &mut String) -> Result<bool> {
        let more = self
            .reader
            .read_record(&mut self.record)
            .map_err(|e| Error::internal(format!("CSV: {e}")))?;
        if more {
            for (i, idx) in self.map.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let value = idx
                    .and_then(|j| self.record.get(j))
                    .filter(|v| !v.is_empty());
                push_field(line, value);
            }
            line.push('\n');
        }
        Ok(more)
    }
}

struct JsonRecords<R: BufRead> {
    lines: std::io::Lines<R>,
    number: usize,
}

impl<R: BufRead> Records for JsonRecords<R> {
    fn next_into(&mut self, line: &mut String) -> Result<bool> {
        loop {
            let Some(text) = self.lines.next() else {
                return Ok(false);
            };
            self.number += 1;
            let text = text?;
            if text.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::internal(format!("line {}: invalid JSON: {e}", self.number)))?;
            let object = value.as_object().ok_or_else(|| {
                Error::internal(format!("line {}: not a JSON object", self.number))
            })?;
            for (i, column) in COLUMNS.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let field = match object.get(*column) {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                };
                push_field(line, field.as_deref());
            }
            line.push('\n');
            return Ok(true);
        }
    }
}

/// Counts bytes read, for the progress bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

fn open_records(
    file: &Path,
    bar: ProgressBar,
) -> Result<(Vec<&'static str>, Box<dyn Records + Send>)> {
    let raw = File::open(file).map_err(|e| Error::internal(format!("{}: {e}", file.display())))?;
    let reader = BufReader::new(Counted { inner: raw, bar });
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if matches!(ext.as_str(), "jsonl" | "ndjson" | "json") {
        return Ok((
            COLUMNS.to_vec(),
            Box::new(JsonRecords {
                lines: reader.lines(),
                number: 0,
            }),
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let headers = reader
        .headers()
        .map_err(|e| Error::internal(format!("{}: CSV header: {e}", file.display())))?
        .clone();
    for h in headers.iter() {
        if !COLUMNS.contains(&h.trim()) {
            return Err(Error::internal(format!(
                "{}: column \"{h}\" cannot be imported (writable columns: {})",
                file.display(),
                COLUMNS.join(", ")
            )));
        }
    }
    let map = COLUMNS
        .iter()
        .map(|c| headers.iter().position(|h| h.trim() == *c))
        .collect();
    Ok((
        COLUMNS.to_vec(),
        Box::new(CsvRecords {
            reader,
            map,
            record: csv::StringRecord::new(),
        }),
    ))
}

async fn import_file(client: &Client, file: &Path, batch_rows: usize) -> Result<u64> {
    let bar = progress(file);
    let (columns, mut records) = open_records(file, bar.clone())?;
    let copy = Arc::new(format!(
        "COPY assertions ({}) FROM STDIN WITH (FORMAT csv)",
        columns.join(", ")
    ));
    let started = Instant::now();
    let mut total: u64 = 0;
    let mut buf = String::new();
    let mut next = |buf: &mut String| {
        records
            .next_into(buf)
            .map_err(|e| Error::internal(format!("{}: {e}", file.display())))
    };
    // Read a chunk's first record before opening its COPY, so no COPY is
    // ever opened empty.
    while next(&mut buf)? {
        // One chunk: up to batch_rows records, one atomic COPY.
        let sink = client
            .copy_in::<_, Bytes>(copy.as_str())
            .await
            .map_err(|e| wire_error(file, total, e))?;
        futures::pin_mut!(sink);
        let mut rows = 1usize;
        while rows < batch_rows && next(&mut buf)? {
            rows += 1;
            if buf.len() >= 256 * 1024 {
                let piece = Bytes::from(std::mem::take(&mut buf));
                sink.send(piece)
                    .await
                    .map_err(|e| wire_error(file, total, e))?;
            }
        }
        let piece = Bytes::from(std::mem::take(&mut buf));
        sink.send(piece)
            .await
            .map_err(|e| wire_error(file, total, e))?;
        total += sink
            .finish()
            .await
            .map_err(|e| wire_error(file, total, e))?;
        let rate = total as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{total} rows ({rate:.0} rows/s)"));
        if bar.is_hidden() {
            eprintln!("{}: {total} rows ({rate:.0} rows/s)", file.display());
        }
    }
    bar.finish();
    Ok(total)
}

fn wire_error(file: &Path, committed: u64, e: tokio_postgres::Error) -> Error {
    let detail = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    Error::internal(format!(
        "{}: {detail}; line numbers count from record {} of the file (the {committed} rows before it were committed)",
        file.display(),
        committed + 1
    ))
}

/// `stemedb import`: loads `files` into the server at `connect`, or into
/// the stopped node at `data_dir`; prints the totals.
pub fn main(
    files: Vec<PathBuf>,
    connect: String,
    data_dir: Option<PathBuf>,
    batch_rows: usize,
) -> ExitCode {
    super::init_logging("warn", crate::config::LogFormat::Text);
    let target = match data_dir {
        Some(dir) => Target::DataDir(dir),
        None => Target::Server(super::with_password(connect)),
    };
    let options = ImportOptions {
        target,
        files,
        batch_rows: batch_rows.max(1),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stemedb import: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(s) => {
            let rate = s.rows as f64 / s.seconds.max(1e-9);
            println!(
                "imported {} rows from {} file(s) in {:.1} s ({:.0} rows/s)",
                s.rows, s.files, s.seconds, rate
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stemedb import: {e}");
            ExitCode::FAILURE
        }
    }
}
