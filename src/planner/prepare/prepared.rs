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
//!
//! Which of these it is is the statement's [`Route`], chosen once; every
//! DataFusion run of any route goes through one function,
//! [`super::prepared_plan::start`], which runs it off the connection's
//! thread ([`super::offload`]).

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
    /// How each Execute runs it.
    pub(in crate::planner) route: Route,
    /// Parameters described with another type than the plan infers
    /// ([`crate::planner::write::sinks::described_parameters`], PREPARE's declared types).
    pub(in crate::planner) described: Vec<(usize, DataType)>,
}

/// The one way a prepared statement runs, chosen when it is prepared.
// Most prepared statements are plans: boxing the large variant would add
// an allocation to the common case.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(in crate::planner) enum Route {
    /// The session runs it itself (SET, BEGIN, COPY FROM STDIN, PREPARE, …).
    Session,
    /// `EXECUTE name`: the named statement, its arguments bound.
    Execute(Box<Prepared>),
    /// `INSERT … VALUES` of constants and parameters, built into claims
    /// without DataFusion.
    PlainInsert(PlainInsert),
    /// A DataFusion plan: queries, INSERT … SELECT, COPY (query) TO.
    Plan(Planned),
}

/// A statement DataFusion planned.
#[derive(Debug, Clone)]
pub(in crate::planner) struct Planned {
    /// The statement's logical plan: what Describe reports, and what runs
    /// (planned again) when it could not be optimised once.
    pub(in crate::planner) plan: LogicalPlan,
    /// The plan optimised at prepare time, when it can be kept; each
    /// Execute binds it and builds only its physical plan.
    pub(in crate::planner) optimised: Option<LogicalPlan>,
    /// A path that skips DataFusion's execution, tried first.
    pub(in crate::planner) fast: Option<Fast>,
    /// The RETURNING list, planned over the table's columns.
    pub(in crate::planner) returning: Option<LogicalPlan>,
    /// It reads StemeDB's data (not only the catalog): a role needs
    /// `pg_read_all_data` to run it ([`Prepared::needs`]).
    pub(in crate::planner) reads_data: bool,
}

/// The fast paths of a planned statement ([`crate::planner::fast`]); each
/// may decline at execution (a wide range, a cluster read), and the plan
/// runs instead.
#[derive(Debug, Clone)]
pub(in crate::planner) enum Fast {
    Point(PointQuery),
    Write(PointWrite),
}

impl Prepared {
    /// A statement the session runs itself (SET, BEGIN, EXECUTE, …).
    pub(in crate::planner) fn unplanned(action: Action, target: Option<Box<Prepared>>) -> Prepared {
        Prepared {
            action,
            route: target.map_or(Route::Session, Route::Execute),
            described: vec![],
        }
    }

    /// Its fast path, if it has one (tests ask which was recognised).
    #[cfg(test)]
    pub(in crate::planner) fn fast(&self) -> Option<&Fast> {
        match &self.route {
            Route::Plan(planned) => planned.fast.as_ref(),
            _ => None,
        }
    }

    /// What a role must hold to run it ([`crate::planner::roles`]).
    pub(in crate::planner) fn needs(&self) -> Option<crate::planner::roles::Privilege> {
        use crate::planner::roles::Privilege;
        match (&self.route, &self.action) {
            (Route::PlainInsert(_), _) => Some(Privilege::Write),
            (Route::Plan(p), Action::Plan { .. }) if writes_trust(&p.plan) => {
                Some(Privilege::Admin)
            }
            (Route::Plan(p), Action::Plan { .. }) if changes_rows(&p.plan) => {
                Some(Privilege::Write)
            }
            (Route::Plan(p), _) => p.reads_data.then_some(Privilege::Read),
            (Route::Session, Action::CopyIn { .. }) => Some(Privilege::Write),
            _ => None,
        }
    }

    /// What the statement is, for the statement metrics.
    pub(in crate::planner) fn kind(&self) -> Kind {
        match (&self.route, &self.action) {
            (
                Route::Plan(Planned {
                    fast: Some(Fast::Point(_)),
                    ..
                }),
                _,
            ) => Kind::Point,
            (Route::PlainInsert(_), _) => Kind::Write,
            (Route::Execute(target), _) => target.kind(),
            (Route::Plan(p), Action::Plan { .. }) if changes_rows(&p.plan) => Kind::Write,
            (Route::Plan(_), _) => Kind::Scan,
            (Route::Session, Action::Commit) => Kind::Write,
            (Route::Session, Action::CopyIn { .. }) => Kind::Copy,
            (Route::Session, _) => Kind::Other,
        }
    }

    /// Declares parameter `i` (from 0) to be of type `t`.
    pub(in crate::planner) fn declare(&mut self, i: usize, t: DataType) {
        self.described.retain(|(j, _)| *j != i);
        self.described.push((i, t));
    }

    /// Types of `$n` parameters, in order (`None` when not inferable).
    pub fn parameter_types(&self) -> Vec<Option<DataType>> {
        let plan = match &self.route {
            Route::PlainInsert(insert) => return insert.parameter_types(),
            Route::Plan(planned) => &planned.plan,
            Route::Session | Route::Execute(_) => return vec![],
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
        let schema = |p: &LogicalPlan| Some(Arc::new(p.schema().as_arrow().clone()));
        match (&self.route, &self.action) {
            (Route::Execute(target), _) => target.result_schema(),
            (Route::PlainInsert(_), _) => None,
            (
                Route::Plan(Planned {
                    fast: Some(Fast::Point(q)),
                    ..
                }),
                _,
            ) => Some(q.schema()),
            (
                Route::Plan(Planned {
                    returning: Some(r), ..
                }),
                _,
            ) => schema(r),
            (Route::Plan(p), _) if changes_rows(&p.plan) => None,
            (Route::Plan(p), _) => schema(&p.plan),
            (Route::Session, Action::Show(name)) if name == "all" => Some(show_all_schema()),
            (Route::Session, Action::Show(name)) => Some(show_schema(name)),
            (Route::Session, _) => None,
        }
    }
}

/// Whether `plan` scans one of StemeDB's data tables, or the claims
/// through `stemedb.changes` or `stemedb.explain` (subqueries too).
pub(in crate::planner) fn reads_data(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    const DATA: [&str; 7] = crate::planner::read::tables::TABLE_NAMES;
    const CLAIMS: [&str; 2] = ["changes", "explain"];
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && (DATA.contains(&scan.table_name.table())
                || (scan.table_name.schema() == Some("stemedb")
                    && CLAIMS.contains(&scan.table_name.table())))
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Whether the plan inserts or deletes rows.
pub(in crate::planner) fn changes_rows(plan: &LogicalPlan) -> bool {
    dml_tag(plan).is_some()
}

/// Whether the plan writes `stemedb.source_trust` (administrators only).
fn writes_trust(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Dml(d) if d.table_name.table() == "source_trust"
        && d.table_name.schema() == Some("stemedb"))
}

/// For a plan that changes rows, its command tag without the count
/// (`INSERT 0`, `DELETE`).
pub(in crate::planner) fn dml_tag(plan: &LogicalPlan) -> Option<&'static str> {
    match plan {
        LogicalPlan::Dml(DmlStatement {
            op: WriteOp::Insert(_),
            ..
        }) => Some("INSERT 0"),
        LogicalPlan::Dml(DmlStatement {
            op: WriteOp::Delete,
            ..
        }) => Some("DELETE"),
        _ => None,
    }
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
