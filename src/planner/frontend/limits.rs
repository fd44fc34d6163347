//! Limits on a statement's shape: how deep it nests and which parameter
//! numbers it names. How deep a statement may nest: sqlparser reads a chain like
//! `a = 1 OR a = 2 OR …` in a loop, but the tree it builds is as deep as the
//! chain is long, and everything after it — the rewrites, DataFusion's
//! planner and optimizer, expression evaluation, even dropping the tree —
//! recurses over that tree, some of it in time quadratic in the depth. ORMs
//! generate AND / OR chains by the thousand: those are rebalanced first
//! ([`super::balance`]) and are never deep. Any other tree is planned up to
//! [`MAX_EXPRESSION_DEPTH`] levels (runtime threads have large stacks, see
//! [`crate::runtime::THREAD_STACK_BYTES`]) and rejected beyond with `54001`,
//! as PostgreSQL does when its stack runs out. Long statements are parsed and measured on a stack
//! grown for them, so measuring (or dropping) a 100 000-level tree cannot
//! overflow the thread either.
//!
//! Parameters: the wire protocol counts them in 16 bits, so `$65536` and
//! above can never be bound; naming one is `42P02` (as in PostgreSQL) at
//! once, before anything sizes a list by the highest number.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, Visit, Visitor};

use crate::error::{Error, Result, sqlstate};

/// The deepest expression tree a statement may hold.
/// A 1 000-term `1 + 1 + …` plans in about half a second (release);
/// DataFusion's time grows with the square of the depth.
pub const MAX_EXPRESSION_DEPTH: usize = 1_000;

/// The highest parameter number a statement may use (`$1` … `$65535`).
pub const MAX_PARAMETER: usize = u16::MAX as usize;

/// Statements shorter than this cannot nest deep enough to matter (each
/// level takes at least two characters) and parse on the thread's stack.
const LONG_STATEMENT_BYTES: usize = 16 << 10;

/// Stack for parsing one long statement: room for walking a tree far
/// deeper than the limit (only the pages used are touched).
const LONG_STATEMENT_STACK_BYTES: usize = 1 << 30;

/// Runs `parse` (which parses and checks depth with [`check`]) on a grown
/// stack when `sql` is long.
pub fn on_stack_for<T>(sql: &str, parse: impl FnOnce() -> T) -> T {
    if sql.len() < LONG_STATEMENT_BYTES {
        parse()
    } else {
        stacker::grow(LONG_STATEMENT_STACK_BYTES, parse)
    }
}

/// `54001` if any statement nests deeper than [`MAX_EXPRESSION_DEPTH`],
/// `42P02` if one names a parameter above [`MAX_PARAMETER`].
pub fn check(statements: &[Statement]) -> Result<()> {
    for statement in statements {
        let mut shape = Shape::default();
        let _ = statement.visit(&mut shape);
        if shape.max_depth > MAX_EXPRESSION_DEPTH {
            return Err(too_deep(shape.max_depth));
        }
        if let Some(p) = shape.bad_parameter {
            return Err(Error::new(
                sqlstate::UNDEFINED_PARAMETER,
                format!(
                    "there is no parameter {p}: parameters are numbered $1 to ${MAX_PARAMETER}"
                ),
            ));
        }
    }
    Ok(())
}

pub fn too_deep(depth: usize) -> Error {
    Error::new(
        sqlstate::STATEMENT_TOO_COMPLEX,
        format!(
            "stack depth limit exceeded: the statement nests expressions {depth} levels deep; \
             the limit is {MAX_EXPRESSION_DEPTH} (write a long OR list as IN (…) or = ANY(…))"
        ),
    )
}

#[derive(Default)]
struct Shape {
    depth: usize,
    max_depth: usize,
    bad_parameter: Option<String>,
}

impl Visitor for Shape {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        self.depth += 1;
        self.max_depth = self.max_depth.max(self.depth);
        if let Expr::Value(v) = e
            && let Value::Placeholder(p) = &v.value
            && parameter_number(p).is_none_or(|n| n == 0 || n > MAX_PARAMETER)
        {
            self.bad_parameter.get_or_insert_with(|| p.clone());
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// The number of a `$n` placeholder (None for other spellings, or a number
/// too long to be one).
fn parameter_number(placeholder: &str) -> Option<usize> {
    let digits = placeholder.strip_prefix('$')?;
    if digits.len() > 6 {
        return Some(usize::MAX);
    }
    digits.parse().ok()
}
