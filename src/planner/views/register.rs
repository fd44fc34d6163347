//! A view as DataFusion reads it: its planned query as a `ViewTable`
//! (which the analyzer inlines into every statement reading it, so filters
//! reach the lens tables underneath), with the column names the view gave.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, col};

use super::{Definitions, View};
use crate::error::{Error, Result};

/// What a session has registered: the definitions as of a catalog version.
#[derive(Default)]
pub struct Registered {
    pub version: Option<u64>,
    pub definitions: Definitions,
}

/// `plan` (the view's query, planned in the reading session) as a table,
/// its columns renamed to the view's own names where it gave them.
pub fn view_table(plan: LogicalPlan, view: &View) -> Result<Arc<dyn TableProvider>> {
    let plan = if view.columns.is_empty() {
        plan
    } else {
        let names: Vec<_> = plan
            .schema()
            .columns()
            .into_iter()
            .enumerate()
            .map(|(i, c)| match view.columns.get(i) {
                Some(name) => col(c).alias(name),
                None => col(c),
            })
            .collect();
        LogicalPlanBuilder::from(plan)
            .project(names)
            .and_then(LogicalPlanBuilder::build)
            .map_err(|e| Error::internal(format!("renaming a view's columns: {e}")))?
    };
    Ok(Arc::new(ViewTable::new(plan, Some(view.query.clone()))))
}
