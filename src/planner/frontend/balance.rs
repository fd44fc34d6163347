//! Long `AND` / `OR` chains, rebalanced. sqlparser reads `a OR b OR c OR …`
//! into a left-deep tree as tall as the chain is long, and DataFusion's
//! planner spends time on every node in proportion to the size of the tree
//! below it (it names each expression by printing it), so a 3 000-term OR
//! list an ORM generates took seconds and a 10 000-term one minutes. Both
//! operators are associative, so the chain is rebuilt as a balanced tree
//! of the same operands in the same order: depth log₂(n), planning
//! O(n log n). Other operators keep their shape (`+` on floats is not
//! associative).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Statement, Value, VisitMut, VisitorMut,
};

/// Chains shorter than this are left as they are.
const MIN_CHAIN: usize = 8;

/// Rebalances every long AND / OR chain in `statement`.
pub fn rebalance(statement: &mut Statement) {
    let _ = statement.visit(&mut Balance);
}

struct Balance;

impl VisitorMut for Balance {
    type Break = ();

    // Before the children are visited: the visitor then walks the balanced
    // tree, never the tall one.
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::BinaryOp { op, .. } = expr
            && matches!(op, BinaryOperator::And | BinaryOperator::Or)
        {
            let op = op.clone();
            let operands = flatten(expr, &op);
            if operands.len() >= MIN_CHAIN {
                *expr = balanced(operands, &op);
            } else {
                *expr = left_deep(operands, &op);
            }
        }
        ControlFlow::Continue(())
    }
}

/// The operands of the chain of `op` rooted at `expr`, in order, taken
/// apart iteratively (a recursive walk or drop of a tall tree could
/// overflow the stack). A chain already balanced flattens to the same
/// operands, so rebalancing it again changes nothing.
fn flatten(expr: &mut Expr, op: &BinaryOperator) -> Vec<Expr> {
    let root = std::mem::replace(expr, Expr::value(Value::Null));
    let mut operands = Vec::new();
    let mut pending = vec![root];
    while let Some(node) = pending.pop() {
        match node {
            Expr::BinaryOp {
                left,
                op: ref o,
                right,
            } if o == op => {
                pending.push(*right);
                pending.push(*left);
            }
            leaf => operands.push(leaf),
        }
    }
    operands
}

fn join(left: Expr, op: &BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op: op.clone(),
        right: Box::new(right),
    }
}

fn left_deep(operands: Vec<Expr>, op: &BinaryOperator) -> Expr {
    let mut it = operands.into_iter();
    let first = it.next().unwrap_or_else(|| Expr::value(Value::Null));
    it.fold(first, |acc, e| join(acc, op, e))
}

fn balanced(mut operands: Vec<Expr>, op: &BinaryOperator) -> Expr {
    if operands.len() <= 2 {
        return left_deep(operands, op);
    }
    let right = operands.split_off(operands.len() / 2);
    join(balanced(operands, op), op, balanced(right, op))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(e: &Expr) -> usize {
        match e {
            Expr::BinaryOp { left, right, .. } => 1 + depth(left).max(depth(right)),
            _ => 0,
        }
    }

    #[test]
    fn long_chains_become_balanced_and_keep_their_order() {
        let terms: Vec<String> = (0..1000).map(|i| format!("s = '{i}'")).collect();
        let sql = format!("SELECT 1 FROM t WHERE {} AND x = 1", terms.join(" OR "));
        let mut statements = crate::planner::frontend::parse::parse(&sql).unwrap();
        let Statement::Query(q) = &mut statements[0] else {
            panic!()
        };
        let datafusion::sql::sqlparser::ast::SetExpr::Select(s) = q.body.as_mut() else {
            panic!()
        };
        let selection = s.selection.as_ref().unwrap();
        assert!(
            depth(selection) <= 16,
            "depth {} (was 1 000)",
            depth(selection)
        );
        let text = selection.to_string();
        assert!(text.starts_with("s = '0' OR s = '1' OR"), "{}", &text[..40]);
        assert!(
            text.ends_with("s = '999' AND x = 1"),
            "{}",
            &text[text.len() - 40..]
        );
    }
}
