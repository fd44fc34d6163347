//! Filter pushdown: equality on `subject` and/or `predicate` becomes an
//! index range scan. Only the first such filter on each column is taken
//! (as `Exact`, since the range applies it fully); DataFusion evaluates any
//! other filter itself above the scan.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use crate::storage::ScanRange;

/// `column = 'literal'` (either way round) → (column, literal).
fn column_equals(expr: &Expr) -> Option<(&str, &str)> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = expr
    else {
        return None;
    };
    let (col, lit) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c)) => (c, v),
        _ => return None,
    };
    let value = match lit {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => s,
        _ => return None,
    };
    Some((col.name.as_str(), value.as_str()))
}

/// Which filters the scan applies exactly.
pub fn pushdown_support(filters: &[&Expr]) -> Vec<TableProviderFilterPushDown> {
    let (mut subject, mut predicate) = (false, false);
    filters
        .iter()
        .map(|f| match column_equals(f) {
            Some(("subject", _)) if !subject => {
                subject = true;
                TableProviderFilterPushDown::Exact
            }
            Some(("predicate", _)) if !predicate => {
                predicate = true;
                TableProviderFilterPushDown::Exact
            }
            _ => TableProviderFilterPushDown::Unsupported,
        })
        .collect()
}

/// The index range that implements the pushed-down filters.
pub fn scan_range(filters: &[Expr]) -> ScanRange {
    let mut subject = None;
    let mut predicate = None;
    for f in filters {
        match column_equals(f) {
            Some(("subject", v)) if subject.is_none() => subject = Some(v.to_string()),
            Some(("predicate", v)) if predicate.is_none() => predicate = Some(v.to_string()),
            _ => {}
        }
    }
    match (subject, predicate) {
        (Some(s), Some(p)) => ScanRange::SubjectPredicate(s, p),
        (Some(s), None) => ScanRange::Subject(s),
        (None, Some(p)) => ScanRange::Predicate(p),
        (None, None) => ScanRange::All,
    }
}
