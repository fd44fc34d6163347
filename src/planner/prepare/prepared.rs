//! A prepared statement: parsed, classified and, for queries and INSERTs,
//! planned once — so each Execute only binds parameters. How it runs:
//!
//! - a point lookup on a lens ([`PointQuery`], recognised on the optimised
//!   plan) reads storage directly;
//! - a plain `INSERT … VALUES` ([`PlainInsert`]) builds claims directly;
//! - an INSERT … SELECT over a point lookup ([`PointWrite`]) reads the
//!   lookup and hands its rows to the table's sink;
//! - any other query or INSERT … SELECT keeps its optimised logical plan and
//!   builds only the physical plan per Execute ([`super::prepared_plan`]);
//! - the rest (RETURNING, plans reading the clock) is planned again from
//!   its logical plan at each Execute.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::logical_expr::{DmlStatement, LogicalPlan, WriteOp};

use crate::monitor::Kind;
use crate::planner::fast::plain_insert::PlainInsert;
use crate::planner::fast::point_query::PointQuery;
use crate::planner::fast::point_write::PointWrite;
use crate::planner::frontend::classify::Action;

#[derive(Debug, Clone)]
pub struct Prepared {
    pub(in crate::planner) action: Action,
    pub(in crate::planner) plan: Option<LogicalPlan>,
    pub(in crate::planner) returning_plan: Option<LogicalPlan>,
    /// The plan optimised at prepare time, when it can be kept.
    pub(in crate::planner) optimised: Option<LogicalPlan>,
    pub(in crate::planner) point: Option<PointQuery>,
    pub(in crate::planner) point_write: Option<PointWrite>,
    pub(in crate::planner) insert: Option<PlainInsert>,
    /// Parameters described with another type than the plan infers
    /// ([`crate::planner::write::sinks::described_parameters`], PREPARE's declared types).
    pub(in crate::planner) described: Vec<(usize, DataType)>,
    /// For `EXECUTE name`: the statement it runs.
    pub(in crate::planner) target: Option<Box<Prepared>>,
}

impl Prepared {
    /// A statement the session runs itself (SET, BEGIN, EXECUTE, …).
    pub(in crate::planner) fn unplanned(action: Action, target: Option<Box<Prepared>>) -> Prepared {
        Prepared {
            action,
            plan: None,
            returning_plan: None,
            optimised: None,
            point: None,
            point_write: None,
            insert: None,
            described: vec![],
            target,
        }
    }

    /// What the statement is, for the statement metrics.
    pub(in crate::planner) fn kind(&self) -> Kind {
        if self.point.is_some() {
            return Kind::Point;
        }
        if self.insert.is_some() {
            return Kind::Write;
        }
        match &self.action {
            Action::Plan { .. } if self.plan.as_ref().is_some_and(is_insert) => Kind::Write,
            Action::Plan { .. } | Action::CopyOut { .. } => Kind::Scan,
            Action::Commit => Kind::Write,
            Action::CopyIn { .. } => Kind::Copy,
            Action::ExecuteSql { .. } => self.target.as_ref().map_or(Kind::Other, |t| t.kind()),
            _ => Kind::Other,
        }
    }

    /// Declares parameter `i` (from 0) to be of type `t`.
    pub(in crate::planner) fn declare(&mut self, i: usize, t: DataType) {
        self.described.retain(|(j, _)| *j != i);
        self.described.push((i, t));
    }

    /// Types of `$n` parameters, in order (`None` when not inferable).
    pub fn parameter_types(&self) -> Vec<Option<DataType>> {
        if let Some(insert) = &self.insert {
            return insert.parameter_types();
        }
        let Some(plan) = &self.plan else {
            return vec![];
        };
        let Ok(types) = plan.get_parameter_types() else {
            return vec![];
        };
        let mut out: Vec<(usize, Option<DataType>)> = types
            .into_iter()
            .filter_map(|(k, v)| Some((k.trim_start_matches('$').parse().ok()?, v)))
            .collect();
        out.sort_by_key(|(i, _)| *i);
        let n = out.last().map(|(i, _)| *i).unwrap_or(0);
        (1..=n)
            .map(|i| {
                if let Some((_, t)) = self.described.iter().find(|(j, _)| *j == i - 1) {
                    return Some(t.clone());
                }
                out.iter()
                    .find(|(j, _)| *j == i)
                    .and_then(|(_, t)| t.clone())
            })
            .collect()
    }

    /// The shape of the rows the statement returns, if it returns rows.
    pub fn result_schema(&self) -> Option<SchemaRef> {
        if let Some(target) = &self.target {
            return target.result_schema();
        }
        if let Some(point) = &self.point {
            return Some(point.schema());
        }
        if self.insert.is_some() {
            return None;
        }
        match (&self.action, &self.plan) {
            (Action::Show(name), _) if name == "all" => Some(show_all_schema()),
            (Action::Show(name), _) => Some(show_schema(name)),
            (_, Some(_)) if self.returning_plan.is_some() => self
                .returning_plan
                .as_ref()
                .map(|p| Arc::new(p.schema().as_arrow().clone())),
            (_, Some(plan)) if is_insert(plan) => None,
            (_, Some(plan)) => Some(Arc::new(plan.schema().as_arrow().clone())),
            _ => None,
        }
    }
}

pub(in crate::planner) fn is_insert(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Dml(DmlStatement {
            op: WriteOp::Insert(_),
            ..
        })
    )
}

/// `SHOW ALL`'s columns, as PostgreSQL names them.
pub(in crate::planner) fn show_all_schema() -> SchemaRef {
    let text = |name| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("name"),
        text("setting"),
        text("description"),
    ]))
}

pub(in crate::planner) fn show_schema(name: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, true)]))
}
