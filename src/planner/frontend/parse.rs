//! The one entry from SQL text to statements: sqlparser's PostgreSQL
//! dialect with `datafusion-pg-catalog`'s rewrites of tools' catalog
//! queries, then StemeDB's own — long AND / OR chains rebalanced, the
//! depth and parameter limits checked, the catalog rewrites applied.
//! Everything that turns text into a tree goes through [`parse`], so the
//! limits hold for every statement, whatever path runs it.

use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{
    Array, DataType as SqlType, Expr as SqlExpr, ObjectName, SelectItem, SetExpr, Statement,
    TableFactor, Value, ValueWithSpan, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use crate::error::{Error, Result, sqlstate};

/// The parser: sqlparser's PostgreSQL dialect plus rewrites of catalog
/// queries into forms DataFusion plans. Built once (it pre-tokenises its
/// rewrite table).
static PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// Parses `sql`, rebalances long AND / OR chains ([`super::balance`]),
/// rejects statements nested too deeply to plan (`54001`, see
/// [`super::limits`]) and applies StemeDB's rewrites.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    let substituted = super::driver_queries::substitute(sql);
    let sql = substituted.as_deref().unwrap_or(sql);
    let renamed = alter_view_rename(sql);
    let sql = renamed.as_deref().unwrap_or(sql);
    super::limits::on_stack_for(sql, || {
        let strict = strict_array_literals(sql)?;
        let sql = strict.as_deref().unwrap_or(sql);
        let mut statements = PARSER.parse(sql).map_err(parse_error)?;
        statements.iter_mut().for_each(super::balance::rebalance);
        super::limits::check(&statements)?;
        for statement in &mut statements {
            super::explain_call::rewrite(statement)?;
            crate::planner::catalog::overlay::rewrite(statement);
            super::subqueries::rewrite(statement);
            super::like_escape::rewrite(statement);
            crate::planner::catalog::information_schema::rewrite(statement);
        }
        Ok(statements)
    })
}

/// `ALTER VIEW v RENAME TO w` as `ALTER TABLE v RENAME TO w` (which
/// PostgreSQL also takes for a view, and sqlparser parses; its ALTER VIEW
/// knows only `AS query`); `None` when `sql` has none.
fn alter_view_rename(sql: &str) -> Option<String> {
    const ALTER_VIEW: &str = "alter view";
    let lower = sql.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(ALTER_VIEW) {
        let start = from + at;
        let before = lower[..start].trim_end();
        let rest = &lower[start..];
        let statement = &rest[..rest.find(';').unwrap_or(rest.len())];
        if (before.is_empty() || before.ends_with(';')) && statement.contains(" rename to ") {
            let mut text = sql.to_string();
            text.replace_range(start..start + ALTER_VIEW.len(), "ALTER TABLE");
            return Some(alter_view_rename(&text).unwrap_or(text));
        }
        from = start + ALTER_VIEW.len();
    }
    None
}

/// `sql` with every `'{a,"b c",NULL}'::text[]` written as `ARRAY['a', 'b c',
/// NULL]::text[]`, read by PostgreSQL's array input
/// ([`super::array_literal`]); `None` when it has none. The compatibility
/// parser's own rewrite of such casts splits at commas and keeps quotes, and
/// DataFusion's cast from text to a list takes `'{a,b'` for `{a,b}`: a
/// malformed literal is `22P02` here, before either sees it. Only text with
/// a `[` is looked at twice.
fn strict_array_literals(sql: &str) -> Result<Option<String>> {
    if !sql.contains('[') {
        return Ok(None);
    }
    // Left to the compatibility parser when plain sqlparser cannot read it.
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return Ok(None);
    };
    let mut changed = false;
    for statement in &mut statements {
        changed |= array_literals(statement)?;
    }
    Ok(changed.then(|| {
        statements
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }))
}

/// Rewrites the array literals of `statement`; whether it had one.
fn array_literals(statement: &mut Statement) -> Result<bool> {
    let mut failed = None;
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |e| {
        let SqlExpr::Cast {
            expr,
            data_type: SqlType::Array(_),
            ..
        } = e
        else {
            return ControlFlow::Continue(());
        };
        let SqlExpr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(text),
            ..
        }) = expr.as_ref()
        else {
            return ControlFlow::Continue(());
        };
        match super::array_literal::parse_array(text) {
            Err(error) => {
                failed = Some(error);
                ControlFlow::Break(())
            }
            // `'{}'`: DataFusion's cast already makes an empty list.
            Ok(items) if items.is_empty() => ControlFlow::Continue(()),
            Ok(items) => {
                let elem = items
                    .into_iter()
                    .map(|item| {
                        SqlExpr::value(match item {
                            Some(text) => Value::SingleQuotedString(text.into_owned()),
                            None => Value::Null,
                        })
                    })
                    .collect();
                **expr = SqlExpr::Array(Array { elem, named: true });
                changed = true;
                ControlFlow::Continue(())
            }
        }
    });
    failed.map_or(Ok(changed), Err)
}

/// `SELECT items [FROM table]` as a tree: the statements StemeDB runs for a
/// client's parts — a RETURNING list, EXECUTE's arguments, PREPARE's
/// types, `COPY table TO` — are assembled from the parts the client's
/// statement was parsed into, never formatted to SQL and read again.
pub fn select(items: Vec<SelectItem>, from: Option<ObjectName>) -> Statement {
    static TEMPLATE: LazyLock<Statement> = LazyLock::new(|| {
        Parser::parse_sql(&PostgreSqlDialect {}, "SELECT 1 FROM t")
            .expect("a fixed SELECT parses")
            .remove(0)
    });
    let mut statement = TEMPLATE.clone();
    if let Statement::Query(query) = &mut statement
        && let SetExpr::Select(select) = query.body.as_mut()
    {
        select.projection = items;
        match from {
            None => select.from.clear(),
            Some(table) => {
                if let Some(TableFactor::Table { name, .. }) =
                    select.from.first_mut().map(|f| &mut f.relation)
                {
                    *name = table;
                }
            }
        }
    }
    statement
}

fn parse_error(e: ParserError) -> Error {
    match e {
        ParserError::RecursionLimitExceeded => Error::new(
            sqlstate::STATEMENT_TOO_COMPLEX,
            "stack depth limit exceeded: the statement nests parentheses, functions or \
             subqueries too deeply",
        ),
        other => Error::new(sqlstate::SYNTAX_ERROR, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::frontend::limits::MAX_EXPRESSION_DEPTH;

    fn chain(terms: usize) -> String {
        let mut sql = String::from("SELECT 1");
        for _ in 1..terms {
            sql.push_str("+1");
        }
        sql
    }

    #[test]
    fn deep_chains_are_measured_and_rejected_without_overflowing() {
        let ok = chain(MAX_EXPRESSION_DEPTH);
        assert!(parse(&ok).is_ok());
        let deep = chain(100_000);
        let err = parse(&deep).unwrap_err();
        assert_eq!(err.code, "54001", "{}", err.message);
    }

    /// A text cast to an array is read by PostgreSQL's array input: a
    /// malformed literal is `22P02`, a good one its elements.
    #[test]
    fn array_literals_are_read_strictly() {
        for bad in ["SELECT '{a,b'::text[]", "SELECT '{\"a}'::text[]"] {
            assert_eq!(parse(bad).unwrap_err().code, "22P02", "{bad}");
        }
        let good = parse("SELECT '{a,\"b c\",NULL}'::text[]").unwrap();
        assert_eq!(
            good[0].to_string(),
            "SELECT ARRAY['a', 'b c', NULL]::TEXT[]"
        );
    }

    #[test]
    fn selects_are_built_as_trees() {
        let item = |sql: &str| match parse(&format!("SELECT {sql}")).unwrap().remove(0) {
            Statement::Query(q) => match *q.body {
                SetExpr::Select(s) => s.projection[0].clone(),
                _ => unreachable!(),
            },
            _ => unreachable!(),
        };
        let from = ObjectName::from(vec![datafusion::sql::sqlparser::ast::Ident::new("r")]);
        assert_eq!(
            select(vec![item("a + 1"), item("'x' AS y")], Some(from)).to_string(),
            "SELECT a + 1, 'x' AS y FROM r"
        );
        assert_eq!(select(vec![item("2")], None).to_string(), "SELECT 2");
    }

    #[test]
    fn parameter_numbers_stop_at_65535() {
        let parse = |sql: &str| parse(sql).map(|_| ());
        assert!(parse("SELECT $65535").is_ok());
        for bad in [
            "SELECT $65536",
            "SELECT $20000000",
            "SELECT $99999999999999999999",
            "SELECT $0",
        ] {
            assert_eq!(parse(bad).unwrap_err().code, "42P02", "{bad}");
        }
    }
}
