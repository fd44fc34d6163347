//! Operator functions run on a node over the wire: `stemedb archive` and
//! `stemedb cluster sync|add|remove` each call one SQL function
//! (`stemedb_archive`, `stemedb_sync`, `stemedb_add_member`,
//! `stemedb_remove_member`) and print the report it returns.

use std::process::ExitCode;

use clap::Subcommand;

use crate::error::Error;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Compare this node's replicas with every live peer now and repair
    /// what differs (`SELECT stemedb_sync()`); exit 1 if a peer failed.
    Sync {
        /// Connection string of the node.
        #[arg(long, default_value = super::DEFAULT_CONNECT)]
        connect: String,
    },
    /// Add NODE (started with this cluster's seeds and secret) to the
    /// members: copies it the subjects it will own, then moves reads to
    /// it (`SELECT stemedb_add_member(NODE)`).
    Add {
        node: String,
        /// Connection string of any member.
        #[arg(long, default_value = super::DEFAULT_CONNECT)]
        connect: String,
    },
    /// Remove NODE from the members: its subjects go to their new owners
    /// and it ends up holding nothing; stop it afterwards
    /// (`SELECT stemedb_remove_member(NODE)`).
    Remove {
        node: String,
        /// Connection string of any member.
        #[arg(long, default_value = super::DEFAULT_CONNECT)]
        connect: String,
    },
}

/// Runs a cluster operation's SQL function on a node; prints its report.
pub fn cluster(command: ClusterCommand) -> ExitCode {
    let (name, sql, arg, connect) = match command {
        ClusterCommand::Sync { connect } => {
            ("cluster sync", "SELECT stemedb_sync()", None, connect)
        }
        ClusterCommand::Add { node, connect } => (
            "cluster add",
            "SELECT stemedb_add_member($1)",
            Some(node),
            connect,
        ),
        ClusterCommand::Remove { node, connect } => (
            "cluster remove",
            "SELECT stemedb_remove_member($1)",
            Some(node),
            connect,
        ),
    };
    on_node(name, sql, arg, connect)
}

/// `stemedb archive --to URL`: ships what the node accepted since its last
/// archive round now.
pub fn archive(to: String, connect: String) -> ExitCode {
    on_node("archive", "SELECT stemedb_archive($1)", Some(to), connect)
}

/// Runs an operator function (`sql`, with `arg` as `$1`) on the node at
/// `connect`; prints its report. A report line "…: failed: …" exits 1.
fn on_node(name: &str, sql: &str, arg: Option<String>, connect: String) -> ExitCode {
    let connect = super::with_password(connect);
    let done = tokio::runtime::Runtime::new()
        .map_err(|e| Error::internal(e.to_string()))
        .and_then(|r| {
            r.block_on(async {
                let client = super::connect(&connect).await?;
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = match &arg {
                    Some(a) => vec![a],
                    None => vec![],
                };
                let row = client
                    .query_one(sql, &params)
                    .await
                    .map_err(super::server_error)?;
                Ok::<String, Error>(row.get(0))
            })
        });
    match done {
        Ok(report) => {
            println!("{report}");
            match report.lines().any(|l| l.contains(": failed:")) {
                true => ExitCode::FAILURE,
                false => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("stemedb {name}: {e}");
            ExitCode::FAILURE
        }
    }
}
