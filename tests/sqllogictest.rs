//! Runs every `tests/sqllogictest/*.slt` file over the wire against a fresh
//! server, twice: once with the simple query protocol and once with the
//! extended protocol (binary results). One libtest trial per file and
//! protocol, so `cargo test --test sqllogictest -- lenses` filters.
//!
//! Errors are rendered as "SQLSTATE: message", so a file can pin a code
//! with `statement error 23514`.

#[path = "it/support/mod.rs"]
mod support;

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use libtest_mimic::{Arguments, Failed, Trial};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

use support::{TestServer, describe_error};

#[derive(Debug)]
struct DbError(String);

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbError {}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        DbError(describe_error(&e))
    }
}

struct Pg {
    client: Client,
    extended: bool,
}

#[async_trait]
impl AsyncDB for Pg {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        if self.extended && !is_session_statement(sql) {
            self.run_extended(sql).await
        } else {
            self.run_simple(sql).await
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        if self.extended {
            "postgres-extended"
        } else {
            "postgres-simple"
        }
    }
}

/// Statements that tokio-postgres cannot prepare meaningfully (no result
/// description) are sent with the simple protocol in both modes.
fn is_session_statement(sql: &str) -> bool {
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "BEGIN" | "COMMIT" | "ROLLBACK" | "START" | "END" | "ABORT"
    )
}

impl Pg {
    async fn run_simple(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let messages = self.client.simple_query(sql).await?;
        let mut rows = Vec::new();
        let mut columns = None;
        let mut affected = 0;
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(cols) => columns = Some(cols.len()),
                SimpleQueryMessage::Row(r) => {
                    columns = Some(r.len());
                    rows.push(
                        (0..r.len())
                            .map(|i| r.get(i).map(render_text).unwrap_or_else(|| "NULL".into()))
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => affected = n,
                _ => {}
            }
        }
        Ok(match columns {
            Some(n) => DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            },
            None => DBOutput::StatementComplete(affected),
        })
    }

    async fn run_extended(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let statement = self.client.prepare(sql).await?;
        if statement.columns().is_empty() {
            let n = self.client.execute(&statement, &[]).await?;
            return Ok(DBOutput::StatementComplete(n));
        }
        let rows = self.client.query(&statement, &[]).await?;
        let types = vec![DefaultColumnType::Any; statement.columns().len()];
        let rows = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| render_binary(row, i, row.columns()[i].type_()))
                    .collect::<Result<Vec<_>, DbError>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DBOutput::Rows { types, rows })
    }
}

fn render_text(s: &str) -> String {
    if s.is_empty() {
        "(empty)".into()
    } else {
        s.to_string()
    }
}

/// Renders a binary-format value the way the server prints it in text, so
/// one expected result serves both protocols.
fn render_binary(row: &tokio_postgres::Row, i: usize, ty: &Type) -> Result<String, DbError> {
    fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
        v.map(f).unwrap_or_else(|| "NULL".into())
    }
    let s = match *ty {
        Type::BOOL => opt(row.try_get::<_, Option<bool>>(i)?, |b| {
            if b { "t".into() } else { "f".into() }
        }),
        Type::INT2 => opt(row.try_get::<_, Option<i16>>(i)?, |v| v.to_string()),
        Type::INT4 => opt(row.try_get::<_, Option<i32>>(i)?, |v| v.to_string()),
        Type::INT8 => opt(row.try_get::<_, Option<i64>>(i)?, |v| v.to_string()),
        Type::FLOAT4 => opt(row.try_get::<_, Option<f32>>(i)?, |v| v.to_string()),
        Type::FLOAT8 => opt(row.try_get::<_, Option<f64>>(i)?, |v| v.to_string()),
        Type::TIMESTAMPTZ => opt(row.try_get::<_, Option<std::time::SystemTime>>(i)?, |t| {
            let micros = t
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0);
            format_timestamptz(micros)
        }),
        Type::TEXT_ARRAY => opt(row.try_get::<_, Option<Vec<Option<String>>>>(i)?, array),
        Type::INT8_ARRAY => opt(row.try_get::<_, Option<Vec<Option<i64>>>>(i)?, array),
        Type::INT4_ARRAY => opt(row.try_get::<_, Option<Vec<Option<i32>>>>(i)?, array),
        _ => opt(row.try_get::<_, Option<String>>(i)?, |s| render_text(&s)),
    };
    Ok(s)
}

/// `{a,b,NULL}` (elements needing quotes do not occur in the tests).
fn array<T: ToString>(items: Vec<Option<T>>) -> String {
    let items: Vec<String> = items
        .into_iter()
        .map(|v| v.map(|v| v.to_string()).unwrap_or_else(|| "NULL".into()))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// PostgreSQL's text form of a UTC TIMESTAMPTZ.
fn format_timestamptz(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s + "+00"
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Runs one file against a fresh single node, or against node `n` of a
/// fresh three-node cluster (the answers must be the same).
fn run_file(path: &Path, extended: bool, cluster_node: Option<usize>) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let servers = match cluster_node {
            None => vec![TestServer::start()],
            Some(_) => {
                support::cluster::three_nodes(dir.path(), support::cluster::ClusterPorts::free())
            }
        };
        let conn = servers[cluster_node.unwrap_or(0)].conn_str();
        let mut runner = sqllogictest::Runner::new(move || {
            let conn = conn.clone();
            async move {
                let client = support::connect(&conn).await.map_err(DbError::from)?;
                Ok(Pg { client, extended })
            }
        });
        runner.with_column_validator(sqllogictest::default_column_validator);
        runner
            .run_file_async(path)
            .await
            .map_err(|e| Failed::from(format!("{}", e.display(true))))
    })
}

fn main() {
    let args = Arguments::from_args();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sqllogictest");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/sqllogictest exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    let mut trials = Vec::new();
    for (i, file) in files.into_iter().enumerate() {
        let stem = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for (mode, extended) in [("simple", false), ("extended", true)] {
            let path = file.clone();
            trials.push(Trial::test(format!("{stem}::{mode}"), move || {
                run_file(&path, extended, None)
            }));
            // The same file against a node of a cluster, a different node
            // for each file and mode.
            let path = file.clone();
            let node = (2 * i + extended as usize) % 3;
            trials.push(Trial::test(format!("{stem}::cluster_{mode}"), move || {
                run_file(&path, extended, Some(node))
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
