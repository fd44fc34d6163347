//! `stemedb.explain(subject, predicate[, lens])` in a FROM clause becomes
//! a read of the `stemedb.explain` table with those arguments as filters:
//!
//! ```sql
//! (SELECT rank, assertion_id, … FROM stemedb.explain
//!   WHERE subject = $1 AND predicate = $2 [AND lens = $3]) AS explain
//! ```
//!
//! so parameters bind as in any other filter (DataFusion plans a table
//! function's arguments before they are bound), and the function's own
//! columns are what `*` returns. It runs after the parser has dropped
//! table functions' schemas, so a bare `explain(…)` is the same call.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    FunctionArg, FunctionArgExpr, Statement, TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{Error, Result, sqlstate};
use crate::planner::read::tables::explain::COLUMNS;

/// Rewrites every call in `statement`.
pub fn rewrite(statement: &mut Statement) -> Result<()> {
    let mut calls = Calls(None);
    let _ = statement.visit(&mut calls);
    calls.0.map_or(Ok(()), Err)
}

struct Calls(Option<Error>);

impl VisitorMut for Calls {
    type Break = ();

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            args: Some(args),
            alias,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| p.to_string().to_ascii_lowercase())
            .collect();
        // The parser has dropped the schema of table functions by now
        // (DataFusion resolves them by bare name): `explain(…)` is ours.
        if !matches!(parts.as_slice(), [f] | [.., _, f] if f == "explain")
            || !(parts.len() == 1 || parts[parts.len() - 2] == "stemedb")
        {
            return ControlFlow::Continue(());
        }
        match read_of(&args.args, alias.as_ref().map(ToString::to_string)) {
            Ok(read) => *factor = read,
            Err(e) => {
                self.0 = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// The derived table a call with `args` reads.
fn read_of(args: &[FunctionArg], alias: Option<String>) -> Result<TableFactor> {
    let usage = || {
        Error::new(
            sqlstate::UNDEFINED_FUNCTION,
            "function stemedb.explain takes (subject text, predicate text[, lens text])",
        )
    };
    if !(2..=3).contains(&args.len()) {
        return Err(usage());
    }
    let mut filters = Vec::new();
    for (arg, column) in args.iter().zip(["subject", "predicate", "lens"]) {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg else {
            return Err(usage());
        };
        filters.push(format!("{column} = CAST({e} AS TEXT)"));
    }
    let sql = format!(
        "SELECT * FROM (SELECT {} FROM stemedb.explain WHERE {}) AS {}",
        COLUMNS.join(", "),
        filters.join(" AND "),
        alias.unwrap_or_else(|| "explain".to_string())
    );
    let parsed = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| Error::new(sqlstate::SYNTAX_ERROR, e.to_string()))?;
    let derived = match *parsed.body {
        datafusion::sql::sqlparser::ast::SetExpr::Select(select) => {
            select.from.into_iter().next().map(|t| t.relation)
        }
        _ => None,
    };
    derived.ok_or_else(|| Error::internal("stemedb.explain's rewrite lost its table"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_call_becomes_a_filtered_read() {
        let s = crate::planner::frontend::parse::parse(
            "SELECT * FROM stemedb.explain('a', $1) e WHERE rank = 1",
        )
        .unwrap();
        let text = s[0].to_string();
        assert!(
            text.contains("FROM stemedb.explain WHERE subject = CAST('a' AS TEXT) AND predicate = CAST($1 AS TEXT)) AS e"),
            "{text}"
        );
    }
}
