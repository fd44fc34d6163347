//! The `stemedb` binary: parses the command line and wires the layers
//! together. See `lib.rs` for the architecture.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stemedb::config::{Config, LogFormat};

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
        #[arg(long, default_value = stemedb::import::DEFAULT_CONNECT)]
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
        action: stemedb::backup::cli::BackupCommand,
    },
    /// Ship the writes a running node accepted since its last archive
    /// round to URL now (`SELECT stemedb_archive(URL)`); the node also
    /// archives by itself with `[backup] archive_url`.
    Archive {
        /// Where to: file:///path or s3://bucket/prefix (the backups' URL).
        #[arg(long)]
        to: String,
        /// Connection string of the node.
        #[arg(long, default_value = stemedb::import::DEFAULT_CONNECT)]
        connect: String,
    },
    /// Cluster operations, on a running node.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Compare this node's replicas with every live peer now and repair
    /// what differs (`SELECT stemedb_sync()`); exit 1 if a peer failed.
    Sync {
        /// Connection string of the node.
        #[arg(long, default_value = stemedb::import::DEFAULT_CONNECT)]
        connect: String,
    },
    /// Add NODE (started with this cluster's seeds and secret) to the
    /// members: copies it the subjects it will own, then moves reads to
    /// it (`SELECT stemedb_add_member(NODE)`).
    Add {
        node: String,
        /// Connection string of any member.
        #[arg(long, default_value = stemedb::import::DEFAULT_CONNECT)]
        connect: String,
    },
    /// Remove NODE from the members: its subjects go to their new owners
    /// and it ends up holding nothing; stop it afterwards
    /// (`SELECT stemedb_remove_member(NODE)`).
    Remove {
        node: String,
        /// Connection string of any member.
        #[arg(long, default_value = stemedb::import::DEFAULT_CONNECT)]
        connect: String,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validate FILE (with the STEMEDB_* variables set now) and print the
    /// effective settings; exit 1 if something is wrong.
    Check { file: PathBuf },
}

fn init_logging(filter: &str, format: LogFormat) {
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
            init_logging(&cfg.log, cfg.log_format);
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
        } => import(files, connect, data_dir, batch_rows),
        Command::Config {
            action: ConfigAction::Check { file },
        } => {
            let checked = Config::load(Some(&file)).and_then(|c| c.check().map(|()| c));
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
        Command::Backup { action } => stemedb::backup::cli::main(action),
        Command::Cluster { action } => cluster(action),
        Command::Archive { to, connect } => {
            on_node("archive", "SELECT stemedb_archive($1)", Some(to), connect)
        }
        Command::Verify { data_dir } => match stemedb::storage::verify(&data_dir) {
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
        },
    }
}

/// `connect` with `STEMEDB_PASSWORD` added, if set and not given.
fn with_password(mut connect: String) -> String {
    if let Ok(password) = std::env::var("STEMEDB_PASSWORD")
        && !connect.contains("password=")
    {
        connect.push_str(&format!(" password='{}'", password.replace('\'', "\\'")));
    }
    connect
}

/// Runs a cluster operation's SQL function on a node; prints its report.
fn cluster(action: ClusterAction) -> ExitCode {
    let (name, sql, arg, connect) = match action {
        ClusterAction::Sync { connect } => ("cluster sync", "SELECT stemedb_sync()", None, connect),
        ClusterAction::Add { node, connect } => (
            "cluster add",
            "SELECT stemedb_add_member($1)",
            Some(node),
            connect,
        ),
        ClusterAction::Remove { node, connect } => (
            "cluster remove",
            "SELECT stemedb_remove_member($1)",
            Some(node),
            connect,
        ),
    };
    on_node(name, sql, arg, connect)
}

/// Runs an operator function (`sql`, with `arg` as `$1`) on the node at
/// `connect`; prints its report. A report line "…: failed: …" exits 1.
fn on_node(name: &str, sql: &str, arg: Option<String>, connect: String) -> ExitCode {
    let connect = with_password(connect);
    let done = tokio::runtime::Runtime::new().map(|r| {
        r.block_on(async {
            let client = stemedb::import::connect(&connect).await?;
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = match &arg {
                Some(a) => vec![a],
                None => vec![],
            };
            let row = client
                .query_one(sql, &params)
                .await
                .map_err(|e| stemedb::error::Error::internal(e.to_string()))?;
            Ok::<String, stemedb::error::Error>(row.get(0))
        })
    });
    match done {
        Ok(Ok(report)) => {
            println!("{report}");
            match report.lines().any(|l| l.contains(": failed:")) {
                true => ExitCode::FAILURE,
                false => ExitCode::SUCCESS,
            }
        }
        Ok(Err(e)) => {
            eprintln!("stemedb {name}: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("stemedb {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn import(
    files: Vec<PathBuf>,
    connect: String,
    data_dir: Option<PathBuf>,
    batch_rows: usize,
) -> ExitCode {
    use stemedb::import::{ImportOptions, Target};
    init_logging("warn", LogFormat::Text);
    let connect = with_password(connect);
    let target = match data_dir {
        Some(dir) => Target::DataDir(dir),
        None => Target::Server(connect),
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
    match runtime.block_on(stemedb::import::run(options)) {
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
