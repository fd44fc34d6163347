//! `LIKE … ESCAPE 'c'` with an escape character other than the backslash,
//! which DataFusion refuses (SQLAlchemy's schema listing writes `NOT LIKE
//! 'pg/_%' ESCAPE '/'`): the pattern is translated to backslash escapes —
//! every `\` doubled, then every `c` made a `\` — which means the same,
//! whether the pattern is a literal or a parameter.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, visit_expressions_mut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Rewrites every such LIKE / ILIKE in `statement`.
pub fn rewrite(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |e| {
        let (Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        }) = e
        else {
            return ControlFlow::<()>::Continue(());
        };
        let Some(Value::SingleQuotedString(c)) = escape_char.as_ref().map(|v| &v.value) else {
            return ControlFlow::Continue(());
        };
        if c == "\\" || c.chars().count() != 1 {
            return ControlFlow::Continue(());
        }
        let c = c.replace('\'', "''");
        let sql = format!("replace(replace(({pattern}), '\\', '\\\\'), '{c}', '\\')");
        if let Ok(translated) = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_expr())
        {
            **pattern = translated;
            *escape_char = None;
        }
        ControlFlow::Continue(())
    });
}
