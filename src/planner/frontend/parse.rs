//! The one entry from SQL text to statements: sqlparser's PostgreSQL
//! dialect with `datafusion-pg-catalog`'s rewrites of tools' catalog
//! queries, then StemeDB's own — long AND / OR chains rebalanced, the
//! depth and parameter limits checked, the catalog rewrites applied.
//! Everything that turns text into a tree goes through [`parse`], so the
//! limits hold for every statement, whatever path runs it.

use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use crate::error::{Error, Result, sqlstate};

/// The parser: sqlparser's PostgreSQL dialect plus rewrites of catalog
/// queries into forms DataFusion plans. Built once (it pre-tokenises its
/// rewrite table).
static PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// Parses `sql`, rebalances long AND / OR chains ([`crate::planner::frontend::balance`]),
/// rejects statements nested too deeply to plan (`54001`, see
/// [`crate::planner::frontend::limits`]) and applies StemeDB's rewrites.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    let sql = crate::planner::frontend::driver_queries::substitute(sql).unwrap_or(sql);
    crate::planner::frontend::limits::on_stack_for(sql, || {
        let mut statements = PARSER.parse(sql).map_err(parse_error)?;
        statements
            .iter_mut()
            .for_each(crate::planner::frontend::balance::rebalance);
        crate::planner::frontend::limits::check(&statements)?;
        for statement in &mut statements {
            crate::planner::catalog::overlay::rewrite(statement);
            crate::planner::frontend::subqueries::rewrite(statement);
            crate::planner::catalog::information_schema::rewrite(statement);
        }
        Ok(statements)
    })
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
