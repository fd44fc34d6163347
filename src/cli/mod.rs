//! The client side of the `stemedb` binary: every command except `serve`.
//! Each one either talks to a running node over the PostgreSQL wire (as
//! any client does: `import`, `backup create`, `archive`, `cluster …`) or
//! works on files with no server at all (`backup list|verify|restore`,
//! `verify`, `config check`). `import --data-dir` is the one that starts a
//! private in-process server, so this layer sits above the wire and the
//! planner; `main.rs` parses the command line and calls in here.
//!
//! - [`import`]: CSV / JSON-lines files through COPY, in atomic chunks
//! - [`backup`]: `stemedb backup create|list|verify|restore`
//! - [`cert`]: `stemedb cert create-ca|create-node|create-client`
//! - [`operator`]: operator functions run on a node (`archive`, `cluster
//!   sync|add|remove`)
//! - here: the connection every command shares, logging, `config check`,
//!   `verify`

pub mod backup;
pub mod cert;
pub mod import;
pub mod operator;

use std::path::Path;
use std::process::ExitCode;

use tokio_postgres::Client;

use crate::config::{Config, LogFormat};
use crate::error::{Error, Result};

/// The connection string the CLI's `--connect` options default to: the
/// node `make run` starts.
pub const DEFAULT_CONNECT: &str = "host=127.0.0.1 port=18180 user=stemedb dbname=stemedb";

/// A statement's failure as the server reported it: its message and
/// SQLSTATE (tokio-postgres alone prints only "db error").
pub fn server_error(e: tokio_postgres::Error) -> Error {
    let text = match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    Error::internal(text)
}

/// A client of the server at `conn` (with the password of the environment:
/// [`with_password`]; errors name `conn` as given, never the password).
pub async fn connect(conn: &str) -> Result<Client> {
    let full = with_password(conn.to_string());
    let (client, connection) = tokio_postgres::connect(&full, tokio_postgres::NoTls)
        .await
        .map_err(|e| Error::internal(format!("cannot connect ({conn}): {e}")))?;
    tokio::spawn(connection);
    Ok(client)
}

/// `connect` with `STEMEDB_PASSWORD` (or libpq's `PGPASSWORD`) added, if
/// set and not given.
pub fn with_password(mut connect: String) -> String {
    let password = std::env::var("STEMEDB_PASSWORD").or_else(|_| std::env::var("PGPASSWORD"));
    if let Ok(password) = password
        && !connect.contains("password=")
    {
        connect.push_str(&format!(" password='{}'", password.replace('\'', "\\'")));
    }
    connect
}

/// Logs to stderr at `filter` (`RUST_LOG` overrides), as text or JSON.
pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

/// `stemedb config check FILE`: validates it (with the `STEMEDB_*`
/// variables set now) and prints the effective settings.
pub fn config_check(file: &Path) -> ExitCode {
    let checked = Config::load(Some(file)).and_then(|c| c.check().map(|()| c));
    match checked {
        Ok(config) => {
            println!("# {}: valid; effective settings:", file.display());
            print!("{}", config.to_toml());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stemedb config check: {}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

/// `stemedb verify`: checks a stopped data dir; exit 1 on a finding, 2 if
/// it cannot be read.
pub fn verify(data_dir: &Path) -> ExitCode {
    match crate::storage::verify(data_dir) {
        Ok(report) => {
            println!("{report}");
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("stemedb verify: {e}");
            ExitCode::from(2)
        }
    }
}
