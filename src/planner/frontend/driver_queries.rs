//! Catalog queries of drivers that DataFusion cannot plan, answered by an
//! equivalent StemeDB can.
//!
//! asyncpg looks up every array type it meets (all but `text[]` and
//! `oid[]`) with a recursive query over `pg_type` (`WITH RECURSIVE
//! typeinfo_tree …`, scalar subqueries inside CASE). StemeDB has no
//! composite, domain, range or enum types, so the answer is the types
//! asked for with their element types — which the query below gives, with
//! the same columns. The array of OIDs asyncpg sends is described as
//! `oid[]` (an `INT UNSIGNED[]` cast), the one integer array asyncpg
//! decodes without asking.

/// asyncpg's type introspection, rewritten.
const ASYNCPG_TYPES: &str = "SELECT t.oid AS oid, 'pg_catalog' AS ns, t.typname AS name, \
    t.typtype AS kind, CAST(NULL AS INT) AS basetype, \
    CASE WHEN t.typelem = 0 THEN NULL ELSE t.typelem END AS elemtype, \
    e.typdelim AS elemdelim, CAST(NULL AS INT) AS range_subtype, \
    CAST(NULL AS TEXT[]) AS attrtypoids, CAST(NULL AS TEXT[]) AS attrnames, \
    CAST(0 AS INT) AS depth, CAST(NULL AS TEXT) AS basetype_name, \
    e.typname AS elemtype_name, CAST(NULL AS TEXT) AS range_subtype_name \
    FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type e ON t.typelem = e.oid \
    WHERE CAST(t.oid AS INT UNSIGNED) = ANY($1::INT UNSIGNED[])";

/// psql's `\du` lists each role's memberships with an `ARRAY(SELECT …)`
/// over `pg_auth_members`, which DataFusion cannot plan: the column is
/// answered empty (the roles themselves are listed).
const PSQL_MEMBER_OF: &str = "ARRAY(SELECT b.rolname";

/// `sql` with psql's member-of subquery replaced, if it has one.
fn psql_roles(sql: &str) -> Option<String> {
    let start = sql.find(PSQL_MEMBER_OF)?;
    let mut depth = 0;
    for (i, c) in sql[start..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 1 => {
                let end = start + i + 1;
                return Some(format!(
                    "{}CAST(NULL AS TEXT[]){}",
                    &sql[..start],
                    &sql[end..]
                ));
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// psql's `\d+` adds the TOAST table's storage options to the relation's
/// with an `array(select …)` DataFusion cannot plan; StemeDB's relations
/// have neither, so the relation's own (NULL) stand for both.
const PSQL_TOAST_OPTIONS: &str =
    "c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x)";

/// The statement to run instead of `sql`, if it is one of those queries.
pub fn substitute(sql: &str) -> Option<std::borrow::Cow<'static, str>> {
    let head = sql.trim_start();
    if head.starts_with("WITH RECURSIVE typeinfo_tree(") && head.contains("elemdelim") {
        return Some(ASYNCPG_TYPES.into());
    }
    if sql.contains(PSQL_TOAST_OPTIONS) {
        return Some(sql.replace(PSQL_TOAST_OPTIONS, "c.reloptions").into());
    }
    psql_roles(sql).map(Into::into)
}
