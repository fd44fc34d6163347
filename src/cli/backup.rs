//! `stemedb backup …`: create (through a running node), list, verify and
//! restore (no server needed). Progress on stderr: a bar on a terminal,
//! one line per step otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::error::{Error, Result, sqlstate};

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Back up a running node (`SELECT stemedb_backup(URL)` on it).
    Create {
        /// Where to: file:///path.
        #[arg(long)]
        to: String,
        /// Connection string of the node.
        #[arg(long, default_value = super::DEFAULT_CONNECT)]
        connect: String,
    },
    /// List the complete backups at URL, oldest first.
    List { url: String },
    /// Check every file's hash and the restored content (`stemedb verify`).
    Verify {
        url: String,
        /// The backup's id (default: the newest).
        #[arg(long)]
        backup: Option<String>,
        /// Verify every backup at URL, oldest first (exit 1 if any fails,
        /// naming each).
        #[arg(long, conflicts_with = "backup")]
        all: bool,
    },
    /// Restore a backup into a new data dir, checking it.
    Restore {
        #[arg(long)]
        from: String,
        #[arg(long)]
        data_dir: PathBuf,
        /// The backup's id (default: the newest).
        #[arg(long)]
        backup: Option<String>,
        /// Restore only what was accepted at or before this instant
        /// (RFC 3339, or `YYYY-MM-DD HH:MM:SS[.ffffff]+00`).
        #[arg(long)]
        until: Option<String>,
    },
}

/// `text` as µs since the epoch.
fn instant(text: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .map(|t| t.timestamp_micros())
        .map_err(|e| {
            Error::new(
                sqlstate::INVALID_DATETIME_FORMAT,
                format!("--until {text}: {e}"),
            )
        })
}

/// Shows the newest running backup's files done, if they changed since
/// `shown` (files done, files in all); what is shown now.
async fn show_progress(watcher: &tokio_postgres::Client, shown: (i64, i64)) -> (i64, i64) {
    let sql = "SELECT files_done, files_total, bytes_done FROM stemedb.backup_progress \
               ORDER BY started_at DESC LIMIT 1";
    let Ok(Some(row)) = watcher.query_opt(sql, &[]).await else {
        return shown;
    };
    let (done, total, bytes): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    if (done, total) != shown && total > 0 {
        step(&format!("[{done}/{total}] {bytes} bytes read"));
    }
    (done, total)
}

/// One step: on a terminal, a bar redrawn in place for the numbered
/// steps (`[i/N] …`) and a line for the others; elsewhere a line each.
fn step(line: &str) {
    use std::io::{IsTerminal, Write};
    let mut err = std::io::stderr();
    if !err.is_terminal() {
        eprintln!("backup: {line}");
        return;
    }
    let counted = line.strip_prefix('[').and_then(|l| {
        let (count, rest) = l.split_once("] ")?;
        let (i, n) = count.split_once('/')?;
        Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?, rest))
    });
    match counted {
        Some((i, n, what)) if n > 0 => {
            const WIDTH: usize = 30;
            let done = WIDTH * i.min(n) / n;
            let bar = format!("{}{}", "#".repeat(done), " ".repeat(WIDTH - done));
            let _ = write!(err, "\r\x1b[2Kbackup: [{bar}] {i}/{n} {what}");
            if i >= n {
                let _ = writeln!(err);
            }
            let _ = err.flush();
        }
        _ => eprintln!("\r\x1b[2Kbackup: {line}"),
    }
}

async fn run(command: BackupCommand) -> Result<String> {
    match command {
        BackupCommand::Create { to, connect } => {
            let client = super::connect(&connect).await?;
            let watcher = super::connect(&connect).await?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&to];
            let backup = client.query_one("SELECT stemedb_backup($1)", &params);
            tokio::pin!(backup);
            let mut shown = (0, 0);
            let row = loop {
                let tick = tokio::time::sleep(std::time::Duration::from_millis(50));
                tokio::select! {
                    row = &mut backup => break row,
                    _ = tick => shown = show_progress(&watcher, shown).await,
                }
            };
            let row = row.map_err(super::server_error)?;
            Ok(row.get(0))
        }
        BackupCommand::List { url } => {
            let lines: Vec<String> = crate::backup::list(&url)
                .await?
                .iter()
                .map(|m| {
                    let bytes: u64 = m.files.iter().map(|f| f.size).sum();
                    format!(
                        "{}  node {}  {} files  {bytes} bytes  ~{} claims",
                        m.id,
                        m.node,
                        m.files.len(),
                        m.claims_estimate
                    )
                })
                .collect();
            Ok(lines.join("\n"))
        }
        BackupCommand::Verify { url, backup, all } => {
            let listed = crate::backup::list(&url).await?;
            let which: Vec<_> = match (all, backup.as_deref()) {
                (true, _) => listed.clone(),
                (false, id) => vec![crate::backup::manifest(&url, id).await?],
            };
            let mut lines = Vec::new();
            let mut failed = Vec::new();
            for manifest in &which {
                match crate::backup::verify(&url, manifest, step).await {
                    Ok(()) => lines.push(format!("backup {} verified", manifest.id)),
                    Err(e) => {
                        lines.push(format!("backup {} FAILED: {}", manifest.id, e.message));
                        failed.push(manifest.id.clone());
                    }
                }
            }
            if !all && backup.is_none() {
                lines.push(format!(
                    "(the newest of {} backups; --all verifies every one)",
                    listed.len()
                ));
            }
            match failed.is_empty() {
                true => Ok(lines.join("\n")),
                false => Err(Error::internal(format!(
                    "{}\n{} of {} backups failed: {}",
                    lines.join("\n"),
                    failed.len(),
                    which.len(),
                    failed.join(", ")
                ))),
            }
        }
        BackupCommand::Restore {
            from,
            data_dir,
            backup,
            until,
        } => {
            let until = until.as_deref().map(instant).transpose()?;
            let manifest = crate::backup::manifest(&from, backup.as_deref()).await?;
            crate::backup::restore(&from, &manifest, &data_dir, until, step).await?;
            Ok(format!(
                "backup {} restored into {} and verified",
                manifest.id,
                data_dir.display()
            ))
        }
    }
}

/// Runs `command`; prints its result, or the error and exit code 1.
pub fn main(command: BackupCommand) -> ExitCode {
    let done = tokio::runtime::Runtime::new()
        .map_err(|e| Error::internal(e.to_string()))
        .and_then(|r| r.block_on(run(command)));
    match done {
        Ok(out) => {
            // An empty listing prints nothing (a script counts lines).
            if !out.is_empty() {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stemedb backup: {e}");
            ExitCode::FAILURE
        }
    }
}
