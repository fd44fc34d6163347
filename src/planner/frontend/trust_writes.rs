//! Writes to `stemedb.source_trust`, the one table clients change rows
//! of: `INSERT … ON CONFLICT (source_prefix) DO UPDATE SET weight =
//! EXCLUDED.weight` (an upsert) and `DELETE … WHERE …`. DataFusion plans
//! neither `ON CONFLICT` nor, for a plain table, a replacing insert, so the
//! upsert is rewritten to SQLite's `INSERT OR REPLACE`, which DataFusion
//! passes to the table as [`InsertOp::Replace`]; the table does the rest
//! (`crate::planner::system::source_trust`).
//!
//! [`InsertOp::Replace`]: datafusion::logical_expr::dml::InsertOp::Replace

use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, ConflictTarget, Delete, Expr, FromTable, Insert, ObjectName, OnConflict,
    OnConflictAction, OnInsert, SqliteOnConflict, TableFactor, TableObject,
};

use crate::error::{Error, Result, sqlstate};

/// The table's name, as its schema and name.
const TABLE: (&str, &str) = ("stemedb", "source_trust");

/// Whether `name` is `stemedb.source_trust` (schema-qualified: the
/// `stemedb` schema is not on the search path).
fn is_trust(name: &ObjectName) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.to_string().trim_matches('"').to_ascii_lowercase())
        .collect();
    matches!(parts.as_slice(), [.., schema, table] if schema == TABLE.0 && table == TABLE.1)
}

/// For an INSERT into the trust table: the statement as DataFusion can
/// plan it (`None`: another table).
pub fn insert(insert: &mut Insert) -> Option<Result<()>> {
    let TableObject::TableName(name) = &insert.table else {
        return None;
    };
    if !is_trust(name) {
        return None;
    }
    Some(upsert(insert))
}

fn upsert(insert: &mut Insert) -> Result<()> {
    let unsupported = |what: &str| {
        Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!(
                "{what} on stemedb.source_trust is not supported: write INSERT … ON CONFLICT \
                 (source_prefix) DO UPDATE SET weight = EXCLUDED.weight"
            ),
        )
    };
    if insert.returning.is_some() {
        return Err(unsupported("RETURNING"));
    }
    let Some(on) = insert.on.take() else {
        return Ok(()); // a plain insert: a prefix already there is 23505
    };
    let OnInsert::OnConflict(OnConflict {
        conflict_target,
        action,
    }) = on
    else {
        return Err(unsupported("ON DUPLICATE KEY"));
    };
    match conflict_target {
        None => {}
        Some(ConflictTarget::Columns(c))
            if c.len() == 1 && c[0].value.eq_ignore_ascii_case("source_prefix") => {}
        Some(_) => return Err(unsupported("a conflict target other than (source_prefix)")),
    }
    let OnConflictAction::DoUpdate(update) = action else {
        return Err(unsupported("ON CONFLICT DO NOTHING"));
    };
    let sets_weight_to_excluded = update.selection.is_none()
        && update.assignments.len() == 1
        && matches!(&update.assignments[0].target,
            AssignmentTarget::ColumnName(n) if n.to_string().eq_ignore_ascii_case("weight"))
        && matches!(&update.assignments[0].value,
            Expr::CompoundIdentifier(p) if p.len() == 2
                && p[0].value.eq_ignore_ascii_case("excluded")
                && p[1].value.eq_ignore_ascii_case("weight"));
    if !sets_weight_to_excluded {
        return Err(unsupported(
            "DO UPDATE other than SET weight = EXCLUDED.weight",
        ));
    }
    insert.or = Some(SqliteOnConflict::Replace);
    Ok(())
}

/// Whether a DELETE is one from the trust table (the only table rows are
/// deleted from; anything else is refused by the caller).
pub fn is_trust_delete(delete: &Delete) -> bool {
    let tables = match &delete.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    delete.using.is_none()
        && delete.returning.is_none()
        && tables.len() == 1
        && tables[0].joins.is_empty()
        && matches!(&tables[0].relation, TableFactor::Table { name, .. } if is_trust(name))
}
