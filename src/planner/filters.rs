//! Filter pushdown: `subject` and/or `predicate` compared with constants —
//! `=`, `IN (…)`, `= ANY(array)` (which DataFusion simplifies into an IN
//! list once a parameter is bound) or an OR of equalities — becomes index
//! point scans, one seek per value. Only the first such filter on each
//! column is taken (as `Exact`, since the scan applies it fully);
//! DataFusion evaluates any other filter itself above the scan.

use std::collections::BTreeSet;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use crate::storage::ScanRange;

/// A text constant.
fn text(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s),
        _ => None,
    }
}

fn column(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column(c) => Some(c.name.as_str()),
        _ => None,
    }
}

/// `column = 'a'`, `column IN ('a', 'b')`, `column = 'a' OR column = 'b'`
/// → (column, the values it may take).
fn column_values(expr: &Expr) -> Option<(&str, BTreeSet<&str>)> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let (col, value) = match (column(left), column(right)) {
                (Some(c), None) => (c, text(right)?),
                (None, Some(c)) => (c, text(left)?),
                _ => return None,
            };
            Some((col, BTreeSet::from([value])))
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let (a, mut values) = column_values(left)?;
            let (b, more) = column_values(right)?;
            (a == b).then(|| {
                values.extend(more);
                (a, values)
            })
        }
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) => {
            let col = column(expr)?;
            let values = list.iter().map(text).collect::<Option<BTreeSet<_>>>()?;
            Some((col, values))
        }
        _ => None,
    }
}

/// Which filters the scan applies exactly.
pub fn pushdown_support(filters: &[&Expr]) -> Vec<TableProviderFilterPushDown> {
    let (mut subject, mut predicate) = (false, false);
    filters
        .iter()
        .map(|f| match column_values(f) {
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

/// The index ranges that implement the pushed-down filters.
pub fn scan_range(filters: &[Expr]) -> ScanRange {
    let mut subjects = None;
    let mut predicates = None;
    for f in filters {
        match column_values(f) {
            Some(("subject", v)) if subjects.is_none() => subjects = Some(v),
            Some(("predicate", v)) if predicates.is_none() => predicates = Some(v),
            _ => {}
        }
    }
    let ranges: Vec<ScanRange> = match (subjects, predicates) {
        (Some(subjects), Some(predicates)) => subjects
            .iter()
            .flat_map(|s| {
                predicates
                    .iter()
                    .map(|p| ScanRange::SubjectPredicate(s.to_string(), p.to_string()))
            })
            .collect(),
        (Some(subjects), None) => subjects
            .iter()
            .map(|s| ScanRange::Subject(s.to_string()))
            .collect(),
        (None, Some(predicates)) => predicates
            .iter()
            .map(|p| ScanRange::Predicate(p.to_string()))
            .collect(),
        (None, None) => return ScanRange::All,
    };
    ScanRange::of(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn equalities_in_lists_and_ors_become_point_scans() {
        let one = col("subject").eq(lit("a"));
        assert_eq!(scan_range(&[one]), ScanRange::Subject("a".into()));
        let list = col("subject").in_list(vec![lit("b"), lit("a"), lit("b")], false);
        assert_eq!(
            scan_range(&[list, col("predicate").eq(lit("p"))]),
            ScanRange::Each(vec![
                ScanRange::SubjectPredicate("a".into(), "p".into()),
                ScanRange::SubjectPredicate("b".into(), "p".into()),
            ])
        );
        let or = col("subject").eq(lit("a")).or(lit("c").eq(col("subject")));
        assert_eq!(
            scan_range(&[or]),
            ScanRange::Each(vec![
                ScanRange::Subject("a".into()),
                ScanRange::Subject("c".into())
            ])
        );
    }

    #[test]
    fn other_filters_are_left_to_datafusion() {
        let mixed = col("subject")
            .eq(lit("a"))
            .or(col("predicate").eq(lit("p")));
        let negated = col("subject").in_list(vec![lit("a")], true);
        let empty = col("subject").in_list(vec![], false);
        assert_eq!(
            pushdown_support(&[&mixed, &negated]),
            vec![TableProviderFilterPushDown::Unsupported; 2]
        );
        // An empty IN list matches nothing: no range to scan at all.
        assert_eq!(scan_range(&[empty]), ScanRange::Each(vec![]));
    }
}
