//! Result column names and literal types as PostgreSQL reports them.
//!
//! DataFusion names an unaliased select item after its expression
//! (`count(*)`, `Int64(1)`), refuses two columns of the same name, and
//! types integer literals as bigint. Clients see all three: pandas and
//! dict-row cursors key rows by name, psql prints the header, node-postgres
//! returns bigint as a string. Before planning, the outermost select list is
//! rewritten so that DataFusion produces PostgreSQL's answer:
//!
//! - each unaliased item gets the name PostgreSQL gives it (its column,
//!   function or cast type name, else `?column?`);
//! - a name used twice gets a private suffix ([`MARKER`] + position) that
//!   the wire layer strips with [`display_name`];
//! - a bare integer literal that fits in 32 bits becomes `integer`.

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, Ident, Query, SelectItem, SetExpr, UnaryOperator, Value,
};

/// Separates a column's display name from the suffix that keeps it unique
/// for DataFusion (ASCII unit separator: never part of a real name).
pub const MARKER: char = '\u{1f}';

/// The name a client sees for a result field.
pub fn display_name(field: &str) -> &str {
    field.split(MARKER).next().unwrap_or(field)
}

/// Names the outermost select list of `query` as PostgreSQL would.
pub fn rewrite(query: &mut Query) {
    let Some(items) = projection(&mut query.body) else {
        return;
    };
    let names: Vec<Option<String>> = items.iter().map(item_name).collect();
    let mut seen = std::collections::HashSet::new();
    for (position, (item, name)) in items.iter_mut().zip(names).enumerate() {
        let Some(name) = name else { continue };
        let unique = if seen.insert(name.to_lowercase()) {
            name.clone()
        } else {
            format!("{name}{MARKER}{position}")
        };
        match item {
            SelectItem::UnnamedExpr(expr) => {
                let is_column = matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
                let literal = small_integer(expr);
                if literal.is_some() || !is_column || unique != name {
                    let expr = literal.unwrap_or_else(|| expr.clone());
                    *item = SelectItem::ExprWithAlias {
                        expr,
                        alias: Ident::with_quote('"', unique),
                    };
                }
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                if let Some(literal) = small_integer(expr) {
                    *expr = literal;
                }
                alias.value = unique;
            }
            _ => {}
        }
    }
}

/// The select list that names the result: the query's own, or the first
/// branch of a UNION.
fn projection(body: &mut SetExpr) -> Option<&mut Vec<SelectItem>> {
    match body {
        SetExpr::Select(select) => Some(&mut select.projection),
        SetExpr::SetOperation { left, .. } => projection(left),
        SetExpr::Query(query) => projection(&mut query.body),
        _ => None,
    }
}

/// The result name of a select item; `None` for wildcards.
fn item_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::UnnamedExpr(expr) => Some(expr_name(expr).unwrap_or_else(|| "?column?".into())),
        SelectItem::ExprWithAlias { alias, .. } => Some(ident_name(alias)),
        _ => None,
    }
}

/// PostgreSQL's `FigureColname`: the column, function or type an
/// expression is named after, if any.
fn expr_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(ident_name(ident)),
        Expr::CompoundIdentifier(parts) => parts.last().map(ident_name),
        Expr::Function(f) => f.name.0.last().and_then(|p| p.as_ident()).map(ident_name),
        Expr::Cast {
            expr,
            data_type,
            kind,
            ..
        } => expr_name(expr).or_else(|| match kind {
            CastKind::Cast | CastKind::DoubleColon | CastKind::TryCast | CastKind::SafeCast => {
                Some(type_name(data_type))
            }
        }),
        Expr::Nested(inner) => expr_name(inner),
        Expr::Case { .. } => Some("case".into()),
        Expr::Array(_) => Some("array".into()),
        Expr::Exists { .. } => Some("exists".into()),
        Expr::Subquery(query) => match query.body.as_ref() {
            SetExpr::Select(select) => select.projection.first().and_then(|item| match item {
                SelectItem::UnnamedExpr(e) => expr_name(e),
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                _ => None,
            }),
            _ => None,
        },
        _ => None,
    }
}

/// Unquoted identifiers fold to lower case, as in PostgreSQL.
fn ident_name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// PostgreSQL's internal name of a cast's target type (`int` → `int4`).
fn type_name(data_type: &DataType) -> String {
    // An array is named after its element type (`$1::int8[]` → `int8`).
    if let DataType::Array(
        datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(element, _)
        | datafusion::sql::sqlparser::ast::ArrayElemTypeDef::AngleBracket(element),
    ) = data_type
    {
        return type_name(element);
    }
    let written = data_type.to_string().to_lowercase();
    let base = written.split('(').next().unwrap_or(&written).trim();
    match base {
        "int" | "integer" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "double precision" | "float8" | "double" | "float" => "float8",
        "real" | "float4" => "float4",
        "boolean" | "bool" => "bool",
        "decimal" | "numeric" => "numeric",
        "varchar" | "character varying" => "varchar",
        "char" | "character" | "bpchar" => "bpchar",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "timestamp" | "timestamp without time zone" => "timestamp",
        other => other,
    }
    .to_string()
}

/// `1` (or `-1`) as `CAST(1 AS INTEGER)` when it fits in 32 bits.
fn small_integer(expr: &Expr) -> Option<Expr> {
    let (digits, negative) = match expr {
        Expr::Value(v) => (&v.value, false),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            Expr::Value(v) => (&v.value, true),
            _ => return None,
        },
        _ => return None,
    };
    let Value::Number(digits, _) = digits else {
        return None;
    };
    let value: i64 = digits.parse().ok()?;
    let value = if negative { -value } else { value };
    i32::try_from(value).ok()?;
    Some(Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr.clone()),
        data_type: DataType::Integer(None),
        array: false,
        format: None,
    })
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn named(sql: &str) -> String {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        let Statement::Query(query) = &mut statements[0] else {
            panic!("not a query")
        };
        rewrite(query);
        statements[0].to_string()
    }

    #[test]
    fn names_items_like_postgres() {
        assert_eq!(
            named(
                "SELECT count(*), a.subject, tier::text, 1.5::numeric, 'x', CASE WHEN true THEN 1 END FROM a"
            ),
            "SELECT count(*) AS \"count\", a.subject, tier::TEXT AS \"tier\", 1.5::NUMERIC AS \"numeric\", \
             'x' AS \"?column?\", CASE WHEN true THEN 1 END AS \"case\" FROM a"
        );
    }

    #[test]
    fn duplicates_get_a_private_suffix_and_small_integers_are_int4() {
        let sql = named("SELECT subject, subject, 1, 1 AS n, 5000000000");
        assert_eq!(
            sql,
            format!(
                "SELECT subject, subject AS \"subject{MARKER}1\", CAST(1 AS INTEGER) AS \"?column?\", \
                 CAST(1 AS INTEGER) AS n, 5000000000 AS \"?column?{MARKER}4\""
            )
        );
        assert_eq!(display_name(&format!("subject{MARKER}1")), "subject");
    }
}
