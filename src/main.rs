//! The `stemedb` binary: parses the command line and wires the layers
//! together. See `lib.rs` for the architecture.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stemedb::cli;
use stemedb::config::Config;

/// mimalloc, for Rust's allocations and — built with `override`, so the
/// binary exports `malloc`, `free` and `operator new` — for RocksDB's C++
/// too. glibc's malloc took a fifth of the server's CPU on point queries
/// (many small, short-lived allocations across threads); in RocksDB it
/// still took a tenth once reads missed the block cache (a 4 KiB block
/// allocated and freed per miss, behind two arena locks), and kept freed
/// memtables unless held to a fixed mmap threshold. See docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "stemedb",
    version,
    about = "A SQL database for claims that disagree"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a node: PostgreSQL wire protocol and admin HTTP.
    Serve {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (default ./stemedb-data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// SQL address, HOST:PORT (default 127.0.0.1:18180).
        #[arg(long)]
        listen: Option<String>,
        /// Admin HTTP address, HOST:PORT (default 127.0.0.1:18181).
        #[arg(long)]
        http_listen: Option<String>,
    },
    /// Load CSV or JSON-lines files of assertions, over the wire or into a
    /// stopped data dir.
    Import {
        /// Files to load (.csv with a header row, or .jsonl/.ndjson).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Connection string of a running server.
        #[arg(long, default_value = stemedb::cli::DEFAULT_CONNECT)]
        connect: String,
        /// Import into this stopped node's data dir instead of a server.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Rows per COPY (each COPY is atomic).
        #[arg(long, default_value_t = 100_000)]
        batch_rows: usize,
    },
    /// Check a (stopped) data dir: recompute every id, check every index.
    Verify {
        #[arg(long, default_value = "./stemedb-data")]
        data_dir: PathBuf,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Online backups: create, list, verify, restore.
    Backup {
        #[command(subcommand)]
        action: stemedb::cli::backup::BackupCommand,
    },
    /// Ship the writes a running node accepted since its last archive
    /// round to URL now (`SELECT stemedb_archive(URL)`); the node also
    /// archives by itself with `[backup] archive_url`.
    Archive {
        /// Where to: file:///path or s3://bucket/prefix (the backups' URL).
        #[arg(long)]
        to: String,
        /// Connection string of the node.
        #[arg(long, default_value = stemedb::cli::DEFAULT_CONNECT)]
        connect: String,
    },
    /// Cluster operations, on a running node.
    Cluster {
        #[command(subcommand)]
        action: stemedb::cli::operator::ClusterCommand,
    },
    /// Certificates for TLS: a CA, node and client certificates.
    Cert {
        #[command(subcommand)]
        action: stemedb::cli::cert::CertCommand,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validate FILE (with the STEMEDB_* variables set now) and print the
    /// effective settings; exit 1 if something is wrong.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            data_dir,
            listen,
            http_listen,
        } => {
            let mut cfg = match Config::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("stemedb: {e}");
                    return ExitCode::from(2);
                }
            };
            cfg.data_dir = data_dir.unwrap_or(cfg.data_dir);
            cfg.listen = listen.unwrap_or(cfg.listen);
            cfg.http_listen = http_listen.unwrap_or(cfg.http_listen);
            cli::init_logging(&cfg.log, cfg.log_format);
            let runtime = match stemedb::server::runtime() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("stemedb: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(stemedb::server::run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("stemedb: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Import {
            files,
            connect,
            data_dir,
            batch_rows,
        } => cli::import::main(files, connect, data_dir, batch_rows),
        Command::Config {
            action: ConfigAction::Check { file },
        } => cli::config_check(&file),
        Command::Backup { action } => cli::backup::main(action),
        Command::Cluster { action } => cli::operator::cluster(action),
        Command::Archive { to, connect } => cli::operator::archive(to, connect),
        Command::Verify { data_dir } => cli::verify(&data_dir),
        Command::Cert { action } => cli::cert::main(action),
    }
}
