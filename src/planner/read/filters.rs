//! Filter pushdown: `subject` and/or `predicate` compared with constants or
//! parameters — `=`, `IN (…)`, `= ANY(array)`, `= ANY(ARRAY[…])` or an OR
//! of equalities — becomes index point scans, one seek per value. Only the first such filter on each
//! column is taken (as `Exact`, since the scan applies it fully);
//! DataFusion evaluates any other filter itself above the scan.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::{Cast, InList, ScalarFunction, TryCast};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};

use crate::storage::ScanRange;

/// `expr` without casts to text (or to a text array) around it:
/// `$1::text`, `CAST($1 AS varchar)`, `'a'::text` — every spelling of the
/// same value pushes down alike.
fn uncast(expr: &Expr) -> &Expr {
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
    match expr {
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field })
            if text(field.data_type())
                || matches!(field.data_type(), DataType::List(f) if text(f.data_type())) =>
        {
            uncast(expr)
        }
        _ => expr,
    }
}

/// A text constant.
fn text(expr: &Expr) -> Option<&str> {
    match uncast(expr) {
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

/// A NULL constant (equal to nothing).
fn null(expr: &Expr) -> bool {
    matches!(uncast(expr), Expr::Literal(v, _) if v.is_null())
}

/// `array_has(haystack, column)` — how DataFusion plans `column = ANY(…)`.
fn array_search(expr: &Expr) -> Option<(&Expr, &str)> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = expr else {
        return None;
    };
    match (func.name(), args.as_slice()) {
        ("array_has", [haystack, needle]) => Some((haystack, column(needle)?)),
        _ => None,
    }
}

/// The elements of an `ARRAY[…]` written out (`make_array(…)`).
fn array_elements(haystack: &Expr) -> Option<&[Expr]> {
    match uncast(haystack) {
        Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == "make_array" => {
            Some(args)
        }
        _ => None,
    }
}

/// Text constants, NULLs and parameters only, at least one a parameter.
fn values_and_parameters(items: &[Expr]) -> bool {
    let parameter = |e: &Expr| matches!(uncast(e), Expr::Placeholder(_));
    items.iter().any(parameter)
        && items
            .iter()
            .all(|e| parameter(e) || text(e).is_some() || null(e))
}

/// The text values of `items`, NULLs (equal to nothing) left out; `None`
/// if one is not a constant.
fn texts(items: &[Expr]) -> Option<Vec<&str>> {
    items
        .iter()
        .filter(|e| !null(e))
        .map(text)
        .collect::<Option<Vec<_>>>()
}

/// `column = $n`, `column = ANY($n)`, `column IN ($1, 'a')`, `column =
/// ANY(ARRAY[$1, $2])`: pushed down before the parameters are bound (a
/// prepared plan is optimised once); the scan sees the bound values.
fn column_equals_parameter(expr: &Expr) -> Option<&str> {
    if let Some((haystack, col)) = array_search(expr) {
        let bound_later = matches!(uncast(haystack), Expr::Placeholder(_))
            || array_elements(haystack).is_some_and(values_and_parameters);
        return bound_later.then_some(col);
    }
    if let Expr::InList(InList {
        expr,
        list,
        negated: false,
    }) = expr
    {
        return column(expr).filter(|_| values_and_parameters(list));
    }
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = expr
    else {
        return None;
    };
    match (uncast(left), uncast(right)) {
        (Expr::Column(c), Expr::Placeholder(_)) | (Expr::Placeholder(_), Expr::Column(c)) => {
            Some(c.name.as_str())
        }
        _ => None,
    }
}

/// The text values of a bound array (NULL elements match nothing).
fn list_values(haystack: &Expr) -> Option<Vec<&str>> {
    let Expr::Literal(ScalarValue::List(list), _) = uncast(haystack) else {
        return None;
    };
    if list.is_null(0) {
        return Some(Vec::new());
    }
    let offsets = list.value_offsets();
    let strings = list.values().as_string_opt::<i32>()?;
    Some(
        (offsets[0] as usize..offsets[1] as usize)
            .filter(|&i| strings.is_valid(i))
            .map(|i| strings.value(i))
            .collect(),
    )
}

/// `column = 'a'`, `column IN ('a', 'b')`, `column = 'a' OR column = 'b'`
/// → (column, the values it may take, unsorted and maybe repeated; none
/// for `column = NULL`).
fn column_values(expr: &Expr) -> Option<(&str, Vec<&str>)> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let (col, value) = match (column(left), column(right)) {
                (Some(c), None) if null(right) => return Some((c, Vec::new())),
                (None, Some(c)) if null(left) => return Some((c, Vec::new())),
                (Some(c), None) => (c, text(right)?),
                (None, Some(c)) => (c, text(left)?),
                _ => return None,
            };
            Some((col, vec![value]))
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
        Expr::ScalarFunction(_) => {
            let (haystack, col) = array_search(expr)?;
            let values = match array_elements(haystack) {
                Some(items) => texts(items)?,
                None => list_values(haystack)?,
            };
            Some((col, values))
        }
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) => Some((column(expr)?, texts(list)?)),
        _ => None,
    }
}

/// The column a filter compares with constants or parameters only (the
/// scan applies it once they are bound): any of the forms above, or an OR
/// of them on one column (how DataFusion plans a short `IN ($1, 'a')`).
fn pushable(expr: &Expr) -> Option<&str> {
    if let Some((col, _)) = column_values(expr) {
        return Some(col);
    }
    if let Some(col) = column_equals_parameter(expr) {
        return Some(col);
    }
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Or,
        right,
    }) = expr
    else {
        return None;
    };
    let col = pushable(left)?;
    (pushable(right)? == col).then_some(col)
}

/// The one value a pushed-down filter gives `column` (`column = 'a'`, or
/// a parameter bound since); `None` without such a filter, or for a
/// filter allowing several values.
pub fn only_value<'a>(filters: &'a [Expr], column: &str) -> Option<&'a str> {
    filters.iter().find_map(|f| match column_values(f) {
        Some((c, values)) if c == column && values.len() == 1 => Some(values[0]),
        _ => None,
    })
}

/// Whether a filter compares `column` with constants or parameters only.
pub fn constrains(expr: &Expr, column: &str) -> bool {
    pushable(expr) == Some(column)
}

/// One end of a range on a text column: the value, and whether it is
/// included.
pub type End = (String, bool);

/// `column` compared with a text constant by `<`, `<=`, `>`, `>=` or `=`
/// (either way round): the lower and upper ends it gives (`=` gives both).
fn text_comparison(expr: &Expr, column: &str) -> Option<(Option<End>, Option<End>)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    let (op, value) = match (self::column(left), self::column(right)) {
        (Some(c), None) if c == column => (*op, text(right)?),
        (None, Some(c)) if c == column => (op.swap()?, text(left)?),
        _ => return None,
    };
    let v = || {
        Some((
            value.to_string(),
            matches!(op, Operator::GtEq | Operator::LtEq | Operator::Eq),
        ))
    };
    Some(match op {
        Operator::Gt | Operator::GtEq => (v(), None),
        Operator::Lt | Operator::LtEq => (None, v()),
        Operator::Eq => (v(), v()),
        _ => return None,
    })
}

/// The tightest range the filters comparing `column` with text constants
/// give it: (lower end, upper end).
pub fn text_range(filters: &[Expr], column: &str) -> (Option<End>, Option<End>) {
    let (mut lower, mut upper): (Option<End>, Option<End>) = (None, None);
    for (lo, hi) in filters.iter().filter_map(|f| text_comparison(f, column)) {
        if let Some(lo) = lo
            && lower.as_ref().is_none_or(|l| (&lo.0, !lo.1) > (&l.0, !l.1))
        {
            lower = Some(lo);
        }
        if let Some(hi) = hi
            && upper.as_ref().is_none_or(|u| (&hi.0, hi.1) < (&u.0, u.1))
        {
            upper = Some(hi);
        }
    }
    (lower, upper)
}

/// Whether a filter compares `column` with NULL by `<`, `<=`, `>`, `>=`
/// or `=` (true for no row: a parameter bound to NULL, say).
pub fn compared_with_null(filters: &[Expr], column: &str) -> bool {
    filters.iter().any(|f| {
        let Expr::BinaryExpr(BinaryExpr { left, right, .. }) = f else {
            return false;
        };
        compares_text(f, column) && (null(left) || null(right))
    })
}

/// Whether a filter compares `column` with a text constant or a
/// parameter by `<`, `<=`, `>`, `>=` or `=` ([`text_range`] reads it once
/// the parameter is bound).
pub fn compares_text(expr: &Expr, column: &str) -> bool {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return false;
    };
    let value =
        |e: &Expr| text(e).is_some() || null(e) || matches!(uncast(e), Expr::Placeholder(_));
    let ordered = matches!(
        op,
        Operator::Gt | Operator::GtEq | Operator::Lt | Operator::LtEq | Operator::Eq
    );
    ordered
        && match (self::column(left), self::column(right)) {
            (Some(c), None) => c == column && value(right),
            (None, Some(c)) => c == column && value(left),
            _ => false,
        }
}

/// Which filters the scan applies exactly.
pub fn pushdown_support(filters: &[&Expr]) -> Vec<TableProviderFilterPushDown> {
    let (mut subject, mut predicate) = (false, false);
    filters
        .iter()
        .map(|f| match pushable(f) {
            Some("subject") if !subject => {
                subject = true;
                TableProviderFilterPushDown::Exact
            }
            Some("predicate") if !predicate => {
                predicate = true;
                TableProviderFilterPushDown::Exact
            }
            _ => TableProviderFilterPushDown::Unsupported,
        })
        .collect()
}

/// `values` sorted, each once.
fn distinct(mut values: Vec<&str>) -> Vec<&str> {
    values.sort_unstable();
    values.dedup();
    values
}

/// The index ranges that implement the pushed-down filters.
pub fn scan_range(filters: &[Expr]) -> ScanRange {
    let mut subjects = None;
    let mut predicates = None;
    for f in filters {
        match column_values(f).map(|(c, v)| (c, distinct(v))) {
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
    fn parameters_push_down_and_null_matches_nothing() {
        use datafusion::logical_expr::expr::Placeholder;
        let param = Expr::Placeholder(Placeholder::new_with_field("$1".into(), None));
        let equals = col("subject").eq(param);
        assert_eq!(
            pushdown_support(&[&equals]),
            vec![TableProviderFilterPushDown::Exact]
        );
        let null = col("subject").eq(Expr::Literal(ScalarValue::Utf8(None), None));
        assert_eq!(scan_range(&[null]), ScanRange::Each(vec![]));
    }

    /// `subject IN ($1)` and `subject = ANY(ARRAY[$1])` push down before
    /// binding as `subject = $1` does, and scan the bound values.
    #[test]
    fn in_lists_and_written_arrays_of_parameters_push_down() {
        use datafusion::functions_nested::expr_fn::{array_has, make_array};
        use datafusion::logical_expr::expr::Placeholder;
        let param = |n: &str| Expr::Placeholder(Placeholder::new_with_field(n.into(), None));
        let in_list = col("subject").in_list(vec![param("$1")], false);
        let or = col("predicate")
            .eq(param("$2"))
            .or(col("predicate").eq(lit("q")));
        assert_eq!(
            pushdown_support(&[&or]),
            vec![TableProviderFilterPushDown::Exact]
        );
        let any_array = array_has(make_array(vec![param("$1"), lit("b")]), col("predicate"));
        assert_eq!(
            pushdown_support(&[&in_list, &any_array]),
            vec![TableProviderFilterPushDown::Exact; 2]
        );
        let bound_in = col("subject").in_list(vec![lit("a"), lit(ScalarValue::Utf8(None))], false);
        let bound_array = array_has(make_array(vec![lit("c"), lit("b")]), col("predicate"));
        assert_eq!(
            scan_range(&[bound_in, bound_array]),
            ScanRange::Each(vec![
                ScanRange::SubjectPredicate("a".into(), "b".into()),
                ScanRange::SubjectPredicate("a".into(), "c".into()),
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
