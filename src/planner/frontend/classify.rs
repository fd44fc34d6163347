//! Classifies parsed SQL. Session statements (SET, SHOW, RESET, BEGIN,
//! COMMIT, ROLLBACK, …) are handled by the session itself; queries and
//! INSERTs are planned by DataFusion; anything that would modify or
//! redefine the immutable tables is refused with `0A000`.

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    CopySource, CopyTarget, DataType as SqlType, Expr, Ident, Insert, ObjectName, SelectItem, Set,
    Statement as Sql, TableObject, Value, WildcardAdditionalOptions,
};

use super::parse::select;
use crate::planner::write::copy::{CopyOptions, copy_columns};

use crate::error::{Error, Result, sqlstate};
use crate::planner::schema::{GENERATED_ASSERTION_COLUMNS, GENERATED_RETRACTION_COLUMNS};
use crate::planner::write::sinks::INGEST_TABLE;

/// What to do with one statement.
#[derive(Debug, Clone)]
pub enum Action {
    /// Plan and run with DataFusion; `returning` is the RETURNING list of
    /// an INSERT, run over the inserted rows afterwards.
    Plan {
        statement: DfStatement,
        returning: Option<Returning>,
    },
    Set {
        name: String,
        value: String,
    },
    /// `RESET name`, or `RESET ALL` when `None`.
    Reset(Option<String>),
    Show(String),
    Begin,
    Commit,
    Rollback,
    Savepoint(String),
    RollbackTo(String),
    Release(String),
    /// Accepted and ignored, answering with this command tag.
    NoOp(&'static str),
    /// `COPY assertions (columns) FROM STDIN`.
    CopyIn {
        columns: Vec<String>,
        options: CopyOptions,
    },
    /// `COPY (query) TO STDOUT` / `COPY table TO STDOUT`.
    CopyOut {
        statement: DfStatement,
        options: CopyOptions,
    },
    /// SQL-level `PREPARE name (types) AS statement`.
    PrepareSql {
        name: String,
        types: Vec<SqlType>,
        statement: Box<Action>,
    },
    /// SQL-level `EXECUTE name (arguments)`.
    ExecuteSql {
        name: String,
        arguments: Vec<Expr>,
    },
    /// `DEALLOCATE name`, or `DEALLOCATE ALL` when `None`.
    Deallocate(Option<String>),
    /// `LISTEN channel`.
    Listen(String),
    /// `UNLISTEN channel`, or `UNLISTEN *` when `None`.
    Unlisten(Option<String>),
    /// CREATE / ALTER / DROP ROLE, GRANT / REVOKE of a role.
    Role(crate::planner::roles::statements::RoleStatement),
    /// CREATE / DROP / ALTER of a schema or a view.
    Definition(crate::planner::views::statements::DefinitionStatement),
}

/// The RETURNING clause of an INSERT.
#[derive(Debug, Clone)]
pub struct Returning {
    /// `assertions` or `retractions`.
    pub table: &'static str,
    /// The select list, as parsed.
    pub items: Vec<SelectItem>,
}

const IMMUTABLE: &str = "assertions are immutable: nothing is ever updated or deleted. \
    To withdraw a claim, INSERT INTO retractions (assertion_id, reason); \
    to revise it, insert a new assertion with supersedes = its id";

/// The refusal of a statement StemeDB does not run, with its real reason.
fn unsupported(what: &str) -> Error {
    let first = what
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    let reason = match first.as_str() {
        "CREATE" | "DROP" | "ALTER" | "COMMENT" | "RENAME"
            if what.to_ascii_uppercase().contains("TABLE") =>
        {
            "claims are the only stored rows (insert them into assertions); for a named \
             query use CREATE VIEW (in dbt: materialized='view' or 'ephemeral')"
        }
        "CREATE" | "DROP" | "ALTER" | "COMMENT" | "RENAME" => {
            "StemeDB's seven tables are fixed (assertions, retractions and the lens views \
             recency, authority, consensus, beliefs, conflicts); besides them there are only schemas \
             and views (CREATE SCHEMA, CREATE VIEW)"
        }
        "GRANT" | "REVOKE" => {
            "StemeDB grants roles, not privileges on objects: GRANT pg_read_all_data | \
             pg_write_all_data | stemedb_admin TO a role"
        }
        "VACUUM" | "ANALYZE" | "REINDEX" | "CLUSTER" | "CHECKPOINT" => {
            "StemeDB maintains its storage itself (RocksDB compaction); there is nothing to run"
        }
        "NOTIFY" => {
            "only the server notifies, on stemedb_changes when new changes resolve \
             (LISTEN stemedb_changes)"
        }
        "CALL" | "DO" => "StemeDB has no stored procedures or server-side code",
        "LOCK" => "StemeDB never locks tables: claims are only ever added",
        _ => "StemeDB does not implement this statement",
    };
    Error::new(
        sqlstate::FEATURE_NOT_SUPPORTED,
        format!("{what} is not supported: {reason}"),
    )
}

fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| p.to_string().trim_matches('"').to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// The value of a SET as PostgreSQL would see it (quotes removed).
fn setting_value(values: &[Expr]) -> String {
    values
        .iter()
        .map(|e| match e {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                Value::Number(n, _) => n.to_string(),
                Value::Boolean(b) => b.to_string(),
                other => other.to_string(),
            },
            Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Maps multi-word SHOW names to their parameter.
fn show_name(words: &str) -> String {
    match words.to_ascii_lowercase().as_str() {
        "transaction isolation level" => "transaction_isolation".into(),
        "time zone" => "timezone".into(),
        // `SHOW stemedb.lens` arrives as the identifiers [stemedb, lens].
        other => other.replace(' ', "."),
    }
}

pub fn classify(sql: Sql) -> Result<Action> {
    if let Some(role) = crate::planner::roles::statements::from_sql(&sql) {
        return Ok(Action::Role(role?));
    }
    if let Some(definition) = crate::planner::views::statements::from_sql(&sql) {
        return Ok(Action::Definition(definition?));
    }
    Ok(match sql {
        Sql::Query(mut query) => {
            super::column_names::rewrite(&mut query);
            Action::Plan {
                statement: DfStatement::Statement(Box::new(Sql::Query(query))),
                returning: None,
            }
        }
        Sql::Explain { .. } => Action::Plan {
            statement: DfStatement::Statement(Box::new(sql)),
            returning: None,
        },
        Sql::Insert(mut insert) => {
            if let Some(upsert) = super::trust_writes::insert(&mut insert) {
                upsert?;
                return Ok(Action::Plan {
                    statement: DfStatement::Statement(Box::new(Sql::Insert(insert))),
                    returning: None,
                });
            }
            let returning = check_insert(&mut insert)?;
            Action::Plan {
                statement: DfStatement::Statement(Box::new(Sql::Insert(insert))),
                returning,
            }
        }
        Sql::Set(set) => match set {
            Set::SingleAssignment {
                variable, values, ..
            } => Action::Set {
                name: object_name(&variable),
                value: setting_value(&values),
            },
            Set::SetTimeZone { value, .. } => Action::Set {
                name: "timezone".into(),
                value: setting_value(&[value]),
            },
            _ => Action::NoOp("SET"),
        },
        Sql::ShowVariable { variable } => Action::Show(show_name(
            &variable
                .iter()
                .map(|i| i.value.clone())
                .collect::<Vec<_>>()
                .join(" "),
        )),
        Sql::Reset(r) => match r.reset {
            datafusion::sql::sqlparser::ast::Reset::ALL => Action::Reset(None),
            datafusion::sql::sqlparser::ast::Reset::ConfigurationParameter(n) => {
                reset(&object_name(&n))
            }
        },
        Sql::StartTransaction { .. } => Action::Begin,
        Sql::Commit { .. } => Action::Commit,
        Sql::Rollback {
            savepoint: None, ..
        } => Action::Rollback,
        Sql::Rollback {
            savepoint: Some(name),
            ..
        } => Action::RollbackTo(name.value),
        Sql::Savepoint { name } => Action::Savepoint(name.value),
        Sql::ReleaseSavepoint { name } => Action::Release(name.value),
        Sql::Discard { .. } => Action::NoOp("DISCARD ALL"),
        Sql::LISTEN { channel } => Action::Listen(channel_name(channel)),
        Sql::UNLISTEN { channel } if channel.quote_style.is_none() && channel.value == "*" => {
            Action::Unlisten(None)
        }
        Sql::UNLISTEN { channel } => Action::Unlisten(Some(channel_name(channel))),
        Sql::Deallocate { name, .. } => Action::Deallocate(
            (!name.value.eq_ignore_ascii_case("all")).then(|| name.value.to_lowercase()),
        ),
        Sql::Prepare {
            name,
            data_types,
            statement,
        } => Action::PrepareSql {
            name: name.value.to_lowercase(),
            types: data_types.clone(),
            statement: Box::new(classify(*statement)?),
        },
        Sql::Execute {
            name: Some(name),
            parameters,
            immediate: false,
            ..
        } => Action::ExecuteSql {
            name: object_name(&name).to_lowercase(),
            arguments: parameters.clone(),
        },
        Sql::Copy {
            source,
            to,
            target,
            options,
            legacy_options,
            ..
        } => copy(
            source,
            to,
            target,
            CopyOptions::parse(&options, &legacy_options)?,
        )?,
        Sql::Update(_) => return Err(immutable("UPDATE")),
        Sql::Delete(d) if super::trust_writes::is_trust_delete(&d) => Action::Plan {
            statement: DfStatement::Statement(Box::new(Sql::Delete(d))),
            returning: None,
        },
        Sql::Delete(_) => return Err(immutable("DELETE")),
        Sql::Truncate(_) => return Err(immutable("TRUNCATE")),
        Sql::AlterTable(_) => return Err(immutable("ALTER TABLE")),
        Sql::Merge { .. } => return Err(immutable("MERGE")),
        other => {
            let text = other.to_string();
            let verb: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(unsupported(&verb));
        }
    })
}

/// A channel's name as PostgreSQL keeps it: folded to lower case unless
/// quoted.
fn channel_name(channel: Ident) -> String {
    match channel.quote_style {
        Some(_) => channel.value,
        None => channel.value.to_lowercase(),
    }
}

fn copy(source: CopySource, to: bool, target: CopyTarget, options: CopyOptions) -> Result<Action> {
    let server_file = || {
        Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "COPY to or from a file or program on the server is not supported: use STDIN/STDOUT (psql's \\copy)",
        )
    };
    match (source, to, target) {
        (
            CopySource::Table {
                table_name,
                columns,
            },
            false,
            CopyTarget::Stdin,
        ) => {
            let table = object_name(&table_name).to_ascii_lowercase();
            if table.rsplit('.').next() != Some("assertions") {
                return Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    format!("COPY FROM is supported for assertions, not \"{table}\""),
                ));
            }
            let columns = columns
                .iter()
                .map(|c| c.value.to_ascii_lowercase())
                .collect::<Vec<_>>();
            Ok(Action::CopyIn {
                columns: copy_columns(&columns)?,
                options,
            })
        }
        (
            CopySource::Table {
                table_name,
                columns,
            },
            true,
            CopyTarget::Stdout,
        ) => {
            let items = if columns.is_empty() {
                vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())]
            } else {
                columns
                    .into_iter()
                    .map(|c| SelectItem::UnnamedExpr(Expr::Identifier(c)))
                    .collect()
            };
            let statement = select(items, Some(table_name));
            Ok(Action::CopyOut {
                statement: DfStatement::Statement(Box::new(statement)),
                options,
            })
        }
        (CopySource::Query(q), true, CopyTarget::Stdout) => Ok(Action::CopyOut {
            statement: DfStatement::Statement(Box::new(Sql::Query(q))),
            options,
        }),
        (_, _, CopyTarget::Stdin | CopyTarget::Stdout) => Err(Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "COPY (query) works only TO STDOUT",
        )),
        _ => Err(server_file()),
    }
}

fn reset(name: &str) -> Action {
    Action::Reset((!name.eq_ignore_ascii_case("all")).then(|| name.to_string()))
}

fn immutable(verb: &str) -> Error {
    Error::new(
        sqlstate::FEATURE_NOT_SUPPORTED,
        format!("{verb} is not allowed: {IMMUTABLE}"),
    )
}

/// Checks an INSERT's column list against the table's rules and takes its
/// RETURNING clause off (DataFusion plans the INSERT, StemeDB the RETURNING).
fn check_insert(insert: &mut Insert) -> Result<Option<Returning>> {
    let TableObject::TableName(name) = &insert.table else {
        return Err(unsupported("INSERT INTO a table function"));
    };
    let table = object_name(name).to_ascii_lowercase();
    let table = table.rsplit('.').next().unwrap_or_default().to_string();
    let (table, generated, required): (&'static str, &[&str], &[&str]) = match table.as_str() {
        "assertions" => (
            "assertions",
            &GENERATED_ASSERTION_COLUMNS,
            &["subject", "predicate", "object", "source"],
        ),
        "retractions" => (
            "retractions",
            &GENERATED_RETRACTION_COLUMNS,
            &["assertion_id"],
        ),
        "recency" | "authority" | "consensus" | "beliefs" | "conflicts" => {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!(
                    "cannot insert into view \"{table}\": lenses are computed; insert claims into assertions"
                ),
            ));
        }
        // Unknown tables: let the planner report 42P01.
        _ => return Ok(None),
    };
    if insert.columns.is_empty() {
        return Err(Error::new(
            sqlstate::GENERATED_ALWAYS,
            format!(
                "INSERT INTO {table} must name its columns: {} are generated by the server",
                generated.join(", ")
            ),
        ));
    }
    let columns: Vec<String> = insert
        .columns
        .iter()
        .map(|c| object_name(c).to_ascii_lowercase())
        .collect();
    if let Some(g) = columns.iter().find(|c| generated.contains(&c.as_str())) {
        return Err(Error::new(
            sqlstate::GENERATED_ALWAYS,
            format!("cannot insert a value into column \"{g}\": it is generated by the server"),
        ));
    }
    if let Some(missing) = required.iter().find(|r| !columns.iter().any(|c| c == *r)) {
        return Err(Error::new(
            sqlstate::NOT_NULL_VIOLATION,
            format!(
                "null value in column \"{missing}\" of relation \"{table}\" violates not-null constraint (the column is required)"
            ),
        ));
    }
    if table == "assertions" {
        // Planned against the ingest table (see write/sinks/ingest_table.rs).
        insert.table = TableObject::TableName(ObjectName::from(vec![Ident::new(INGEST_TABLE)]));
    }
    Ok(insert
        .returning
        .take()
        .map(|items| Returning { table, items }))
}
