//! Types of `$n` parameters that DataFusion leaves open, inferred the way
//! PostgreSQL infers them, so that Describe reports what a driver must
//! send and Bind decodes it into the right value:
//!
//! - `$1::int8[]`, `CAST($1 AS text)`: the type of the cast;
//! - `x = ANY($1)` (planned as `array_has($1, x)`): an array of `x`'s type;
//! - `x = ANY(ARRAY[$1, $2])`: each element `x`'s type.
//!
//! `unnest($1)` needs its type from the driver or a cast
//! (`unnest($1::text[])`), as in PostgreSQL.
//!
//! A parameter typed anywhere in the statement gets that type everywhere,
//! so every occurrence agrees.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::{Cast, Placeholder, ScalarFunction, TryCast};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};

/// Functions whose first argument is the array `= ANY(...)` searches.
const ARRAY_SEARCH: &[&str] = &["array_has", "array_contains", "list_has"];

/// `plan` with every parameter whose type can be inferred typed.
pub fn infer(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut types: HashMap<String, FieldRef> = HashMap::new();
    plan.apply_with_subqueries(|node| {
        let schema = input_schema(node);
        node.apply_expressions(|e| {
            e.apply(|e| {
                for (id, field) in inferred(e, &schema) {
                    types.entry(id).or_insert(field);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    if types.is_empty() {
        return Ok(plan);
    }
    plan.transform_up_with_subqueries(|node| {
        node.map_expressions(|e| {
            e.transform_up(|e| match e {
                Expr::Placeholder(Placeholder { id, field: None }) if types.contains_key(&id) => {
                    let field = types.get(&id).cloned();
                    Ok(Transformed::yes(Expr::Placeholder(
                        Placeholder::new_with_field(id, field),
                    )))
                }
                other => Ok(Transformed::no(other)),
            })
        })
    })
    .map(|t| t.data)
}

/// The parameters `e` types, and their types: a typed placeholder, a cast
/// of an untyped one, or an array searched for a value (the array, or each
/// element of one written out).
fn inferred(e: &Expr, schema: &DFSchema) -> Vec<(String, FieldRef)> {
    match e {
        Expr::Placeholder(Placeholder {
            id,
            field: Some(field),
        }) => vec![(id.clone(), field.clone())],
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => untyped(expr)
            .map(|id| (id, Arc::new(field.as_ref().clone().with_nullable(true))))
            .into_iter()
            .collect(),
        Expr::ScalarFunction(ScalarFunction { func, args })
            if ARRAY_SEARCH.contains(&func.name()) && args.len() == 2 =>
        {
            let Ok(element) = args[1].get_type(schema) else {
                return vec![];
            };
            if let Some(id) = untyped(&args[0]) {
                return vec![(id, list_of(element))];
            }
            let field = Arc::new(Field::new("", element, true));
            match &args[0] {
                Expr::ScalarFunction(ScalarFunction { func, args })
                    if func.name() == "make_array" =>
                {
                    args.iter()
                        .filter_map(untyped)
                        .map(|id| (id, field.clone()))
                        .collect()
                }
                _ => vec![],
            }
        }
        _ => vec![],
    }
}

/// The id of an untyped placeholder.
fn untyped(e: &Expr) -> Option<String> {
    match e {
        Expr::Placeholder(Placeholder { id, field: None }) => Some(id.clone()),
        _ => None,
    }
}

fn list_of(element: DataType) -> FieldRef {
    Arc::new(Field::new(
        "",
        DataType::List(Arc::new(Field::new_list_field(element, true))),
        true,
    ))
}

/// The schema a node's expressions are evaluated against.
fn input_schema(node: &LogicalPlan) -> DFSchema {
    let inputs = node.inputs();
    let Some((first, rest)) = inputs.split_first() else {
        return node.schema().as_ref().clone();
    };
    let mut schema = first.schema().as_ref().clone();
    for other in rest {
        schema.merge(other.schema());
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{SessionConfig, SessionContext};

    async fn types(sql: &str) -> Vec<Option<DataType>> {
        let mut config = SessionConfig::new();
        config.options_mut().sql_parser.map_string_types_to_utf8view = false;
        let ctx = SessionContext::new_with_config(config);
        ctx.sql("CREATE TABLE t (s VARCHAR, n BIGINT)")
            .await
            .unwrap();
        let plan = ctx.state().create_logical_plan(sql).await.unwrap();
        let plan = infer(plan).unwrap();
        let mut found: Vec<_> = plan.get_parameter_types().unwrap().into_iter().collect();
        found.sort();
        found.into_iter().map(|(_, t)| t).collect()
    }

    fn list(dt: DataType) -> Option<DataType> {
        Some(DataType::List(Arc::new(Field::new_list_field(dt, true))))
    }

    #[tokio::test]
    async fn casts_type_their_parameter() {
        assert_eq!(
            types("SELECT $1::bigint[]").await,
            vec![list(DataType::Int64)]
        );
        assert_eq!(
            types("SELECT CAST($1 AS int)").await,
            vec![Some(DataType::Int32)]
        );
    }

    #[tokio::test]
    async fn any_takes_an_array_of_the_column() {
        assert_eq!(
            types("SELECT * FROM t WHERE s = ANY($1)").await,
            vec![list(DataType::Utf8)]
        );
        assert_eq!(
            types("SELECT * FROM t WHERE n = ANY($1)").await,
            vec![list(DataType::Int64)]
        );
        assert_eq!(
            types("SELECT * FROM t WHERE s = ANY(ARRAY[$1, $2])").await,
            vec![Some(DataType::Utf8), Some(DataType::Utf8)]
        );
    }

    #[tokio::test]
    async fn unnest_in_a_subquery_takes_its_cast() {
        assert_eq!(
            types("SELECT * FROM t WHERE s IN (SELECT unnest($1::text[]))").await,
            vec![list(DataType::Utf8)]
        );
    }

    #[tokio::test]
    async fn every_occurrence_gets_the_type() {
        assert_eq!(
            types("SELECT $1::int AS a, $1 AS b").await,
            vec![Some(DataType::Int32)]
        );
    }
}
