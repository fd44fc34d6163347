//! Correlated scalar subqueries in tools' catalog queries, rewritten into
//! forms DataFusion decorrelates.
//!
//! Drivers reflect columns with queries like SQLAlchemy's
//! `CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid)
//! FROM pg_attrdef d WHERE a.atthasdef AND d.adrelid = a.attrelid …) END`.
//! PostgreSQL runs the subquery per row; DataFusion turns it into a join and
//! needs two things the tools do not write:
//!
//! 1. the subquery aggregated, so it provably yields one row — the single
//!    projected value is wrapped in `max()` (same answer whenever the
//!    subquery yields at most one row, which catalog lookups by OID do);
//! 2. no predicate on outer columns alone inside it — such conjuncts are
//!    lifted into `CASE WHEN <outer predicate> THEN (subquery) END`, which
//!    is equivalent (an empty aggregate is NULL, as is a CASE with no match).
//!
//! 3. outer columns in the projected value are not decorrelated at all; the
//!    one place tools put them is a lookup in `pg_sequence` (SQLAlchemy's
//!    identity options), a table StemeDB never fills (it has no sequences),
//!    so a subquery reading only `pg_sequence` is replaced by its answer,
//!    NULL.
//!
//! Only subqueries that read `pg_catalog` / `information_schema` relations
//! are touched: a user's own subquery keeps PostgreSQL's "more than one row"
//! error rather than silently taking a maximum.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Query, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins, Visit,
    Visitor, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Aggregates that already make a subquery single-row.
const AGGREGATES: &[&str] = &[
    "max",
    "min",
    "count",
    "sum",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "first_value",
    "last_value",
    "json_agg",
    "jsonb_agg",
];

/// Rewrites every catalog scalar subquery of `statement` in place.
pub fn rewrite(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Subquery(query) = expr
            && let Some(rewritten) = rewrite_subquery(query)
        {
            *expr = rewritten;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The replacement for one scalar subquery, or `None` to leave it alone.
fn rewrite_subquery(query: &Query) -> Option<Expr> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let inner = relation_names(&select.from);
    if reads_only(&select.from, "pg_sequence") {
        return parse_expr("NULL");
    }
    if !reads_catalog(&select.from)
        || select.projection.len() != 1
        || has_group_by(&select.group_by)
    {
        return None;
    }
    let mut query = query.clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let mut changed = false;
    let item = &mut select.projection[0];
    if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item
        && !calls_aggregate(e)
    {
        *e = parse_expr(&format!("max({e})"))?;
        changed = true;
    }
    let mut lifted = Vec::new();
    if let Some(selection) = select.selection.take() {
        let (outer, rest): (Vec<Expr>, Vec<Expr>) = conjuncts(selection)
            .into_iter()
            .partition(|c| references_only_outer(c, &inner));
        lifted = outer;
        select.selection = rest.into_iter().reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
            right: Box::new(b),
        });
    }
    if lifted.is_empty() {
        return changed.then(|| Expr::Subquery(Box::new(query)));
    }
    let condition = lifted
        .iter()
        .map(|c| format!("({c})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    parse_expr(&format!("CASE WHEN {condition} THEN ({query}) END"))
}

fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .ok()?
        .parse_expr()
        .ok()
}

fn has_group_by(group_by: &GroupByExpr) -> bool {
    match group_by {
        GroupByExpr::All(_) => true,
        GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
    }
}

/// Splits `a AND b AND c` into its conjuncts.
fn conjuncts(expr: Expr) -> Vec<Expr> {
    match expr {
        Expr::BinaryOp {
            left,
            op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
            right,
        } => {
            let mut all = conjuncts(*left);
            all.extend(conjuncts(*right));
            all
        }
        Expr::Nested(inner) if matches!(*inner, Expr::BinaryOp { .. }) => conjuncts(*inner),
        other => vec![other],
    }
}

/// Every relation of a FROM clause with its joins.
fn factors(from: &[TableWithJoins]) -> impl Iterator<Item = &TableFactor> {
    from.iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
}

/// The names a FROM clause's columns can be qualified with (lower case):
/// aliases and the last part of table names.
fn relation_names(from: &[TableWithJoins]) -> HashSet<String> {
    let mut names = HashSet::new();
    for factor in factors(from) {
        if let TableFactor::Table { name, alias, .. } = factor {
            if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                names.insert(last.value.to_lowercase());
            }
            if let Some(alias) = alias {
                names.insert(alias.name.value.to_lowercase());
            }
        }
    }
    names
}

/// True when the FROM clause is the single table `name` (in any schema).
fn reads_only(from: &[TableWithJoins], name: &str) -> bool {
    matches!(from, [TableWithJoins { relation: TableFactor::Table { name: table, .. }, joins }]
        if joins.is_empty()
            && table.0.last().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case(name)))
}

fn reads_catalog(from: &[TableWithJoins]) -> bool {
    factors(from).any(|factor| match factor {
        TableFactor::Table { name, .. } => name.0.iter().filter_map(|p| p.as_ident()).any(|i| {
            let v = i.value.to_lowercase();
            v == "pg_catalog" || v == "information_schema" || v.starts_with("pg_")
        }),
        _ => false,
    })
}

fn calls_aggregate(expr: &Expr) -> bool {
    struct Finder(bool);
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = expr
                && let Some(name) = f.name.0.last().and_then(|p| p.as_ident())
                && AGGREGATES.contains(&name.value.to_lowercase().as_str())
            {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(false);
    let _ = expr.visit(&mut finder);
    finder.0
}

/// True when every column `expr` names is qualified by a relation outside
/// the subquery (and it names at least one, and holds no subquery).
fn references_only_outer(expr: &Expr, inner: &HashSet<String>) -> bool {
    struct Columns<'a> {
        inner: &'a HashSet<String>,
        outer: usize,
        other: bool,
    }
    impl Visitor for Columns<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    let qualifier = parts[parts.len() - 2].value.to_lowercase();
                    if self.inner.contains(&qualifier) {
                        self.other = true;
                    } else {
                        self.outer += 1;
                    }
                }
                Expr::Identifier(_)
                | Expr::Subquery(_)
                | Expr::Exists { .. }
                | Expr::InSubquery { .. } => self.other = true,
                _ => {}
            }
            if self.other {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    let mut columns = Columns {
        inner,
        outer: 0,
        other: false,
    };
    let _ = expr.visit(&mut columns);
    !columns.other && columns.outer > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        rewrite(&mut statements[0]);
        statements[0].to_string()
    }

    #[test]
    fn wraps_catalog_lookups_in_max_and_lifts_outer_predicates() {
        let sql = "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid) \
                   FROM pg_catalog.pg_attrdef d WHERE a.atthasdef AND d.adrelid = a.attrelid) END \
                   FROM pg_catalog.pg_attribute a";
        assert_eq!(
            rewritten(sql),
            "SELECT CASE WHEN a.atthasdef THEN CASE WHEN (a.atthasdef) THEN (SELECT \
             max(pg_get_expr(d.adbin, d.adrelid)) FROM pg_catalog.pg_attrdef d WHERE \
             d.adrelid = a.attrelid) END END FROM pg_catalog.pg_attribute a"
        );
    }

    #[test]
    fn sequence_lookups_are_null() {
        let sql = "SELECT (SELECT json_build_object('always', a.attidentity = 'a', 'start', s.seqstart) \
                   FROM pg_catalog.pg_sequence s WHERE s.seqrelid = a.attrelid) FROM pg_attribute a";
        assert_eq!(rewritten(sql), "SELECT NULL FROM pg_attribute a");
    }

    #[test]
    fn leaves_user_subqueries_and_aggregates_alone() {
        let user = "SELECT (SELECT object FROM assertions WHERE subject = 'x')";
        assert_eq!(rewritten(user), user);
        let counted =
            "SELECT (SELECT count(*) FROM pg_catalog.pg_class c WHERE c.oid = t.oid) FROM t";
        assert_eq!(rewritten(counted), counted);
    }
}
