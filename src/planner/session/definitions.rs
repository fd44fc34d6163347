//! Schemas and views in a session: running the statements that define
//! them ([`Session::define`]) and keeping the session's DataFusion catalog
//! in step with the definitions the cluster holds
//! ([`Session::refresh_definitions`], before every statement is planned:
//! a view made on another node is there as soon as its definition has
//! arrived here).

use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Query, Statement as Sql, TableObject};

use super::run::{Session, df};
use crate::error::{Error, Result, sqlstate};
use crate::planner::output::{Output, command};
use crate::planner::roles;
use crate::planner::views::register::{Registered, view_table};
use crate::planner::views::statements::{DefinitionStatement, changes, qualified};
use crate::planner::views::{DATABASE, Definitions, PUBLIC, View};

impl Session {
    /// Registers the schemas and views the catalog holds now, if it moved
    /// since the last time; plans a view only once the views it reads are
    /// registered (a view that cannot be planned — what it read was
    /// dropped — is left out, and reading it says it does not exist).
    pub(in crate::planner) async fn refresh_definitions(&self) -> Result<()> {
        let version = self.shared.store.catalog_version();
        let old = {
            let registered = self.registered();
            if registered.version == Some(version) {
                return Ok(());
            }
            registered.definitions.clone()
        };
        let new = Definitions::load(&self.shared.store)?;
        if new != old {
            self.register(&old, &new).await?;
            self.plans().clear();
        }
        let mut registered = self.registered();
        registered.version = Some(version);
        registered.definitions = new;
        Ok(())
    }

    /// Forgets the session's plans when the catalog moved since its views
    /// were registered: a plan holds the views it read as they were. (The
    /// next statement planned registers them again.)
    pub(in crate::planner) fn forget_plans_if_definitions_moved(&self) {
        let version = self.shared.store.catalog_version();
        if self.registered().version != Some(version) {
            self.plans().clear();
        }
    }

    async fn register(&self, old: &Definitions, new: &Definitions) -> Result<()> {
        let catalog = self
            .context()
            .catalog(DATABASE)
            .ok_or_else(|| Error::internal("the session has no stemedb catalog"))?;
        for (schema, name) in old.views.keys() {
            if let Some(provider) = catalog.schema(schema) {
                provider.deregister_table(name).map_err(df)?;
            }
        }
        for gone in old.schemas.difference(&new.schemas) {
            catalog.deregister_schema(gone, true).map_err(df)?;
        }
        for schema in &new.schemas {
            if catalog.schema(schema).is_none() {
                catalog
                    .register_schema(schema, Arc::new(MemorySchemaProvider::new()))
                    .map_err(df)?;
            }
        }
        let mut pending: Vec<(&(String, String), &View)> = new.views.iter().collect();
        loop {
            let before = pending.len();
            let mut left = Vec::new();
            for (key, view) in pending {
                match self.plan_view(view).await {
                    Ok(table) => {
                        if let Some(provider) = catalog.schema(&key.0) {
                            provider.register_table(key.1.clone(), table).map_err(df)?;
                        }
                    }
                    Err(_) => left.push((key, view)),
                }
            }
            pending = left;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        for ((schema, name), _) in pending {
            tracing::warn!(
                schema,
                view = name,
                "a view reads what no longer exists: left out"
            );
        }
        Ok(())
    }

    /// The view's query planned in this session, as a table.
    async fn plan_view(&self, view: &View) -> Result<Arc<dyn TableProvider>> {
        let statements = crate::planner::frontend::parse::parse(&view.query)?;
        let [Sql::Query(query)] = statements.as_slice() else {
            return Err(Error::internal("a view's definition is not one query"));
        };
        let plan = self.plan_query(query).await?;
        view_table(plan, view)
    }

    async fn plan_query(&self, query: &Query) -> Result<LogicalPlan> {
        let mut query = Box::new(query.clone());
        crate::planner::frontend::column_names::rewrite(&mut query);
        let statement = DfStatement::Statement(Box::new(Sql::Query(query)));
        self.context()
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(df)
    }

    /// Runs a statement defining a schema or a view.
    pub(in crate::planner) async fn define(
        &self,
        statement: &DefinitionStatement,
    ) -> Result<Output> {
        let shared = &self.shared;
        self.refresh_definitions().await?;
        self.may_define(statement)?;
        if let DefinitionStatement::CreateView { query, columns, .. } = statement {
            // It must plan here and now (what it reads exists, its types
            // agree), and name no more columns than it has.
            let plan = self.plan_query(query).await?;
            let has = plan.schema().fields().len();
            if columns.len() > has {
                return Err(Error::new(
                    "42601",
                    format!(
                        "CREATE VIEW specifies {} column names, but the query has {has} columns",
                        columns.len()
                    ),
                ));
            }
        }
        let definitions = self.registered().definitions.clone();
        let entries = changes(&shared.store, &definitions, statement, &shared.user)?;
        if !entries.is_empty() {
            shared.cluster.publish_catalog(entries).await?;
        }
        self.refresh_definitions().await?;
        tracing::info!(
            target: "stemedb::audit",
            user = &shared.user,
            statement = statement.tag(),
            schema = statement.schema(),
            "definition changed"
        );
        Ok(command(statement.tag()))
    }

    /// Whether the session's user may run `statement`: `stemedb_admin`
    /// may run every one; a role granted `CREATE ON SCHEMA s` may define,
    /// rename and drop the views of `s`.
    fn may_define(&self, statement: &DefinitionStatement) -> Result<()> {
        let shared = &self.shared;
        let admin = roles::check(&shared.store, &shared.user, roles::Privilege::Admin);
        let in_schema = matches!(
            statement,
            DefinitionStatement::CreateView { .. }
                | DefinitionStatement::DropViews { .. }
                | DefinitionStatement::RenameView { .. }
        );
        let schema = statement.schema().to_string();
        let granted = self
            .registered()
            .definitions
            .creators
            .contains(&(schema.clone(), shared.user.clone()));
        match admin {
            Err(_) if in_schema && granted => Ok(()),
            Err(_) if in_schema => Err(Error::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!(
                    "permission denied for schema {schema}: role \"{}\" may not define views \
                     there (GRANT CREATE ON SCHEMA {schema} TO {})",
                    shared.user, shared.user
                ),
            )),
            other => other,
        }
    }

    /// An INSERT into a view: `0A000`, saying what to do instead.
    pub(in crate::planner) fn refuse_write_to_view(&self, statement: &DfStatement) -> Result<()> {
        let DfStatement::Statement(s) = statement else {
            return Ok(());
        };
        let Sql::Insert(insert) = s.as_ref() else {
            return Ok(());
        };
        let TableObject::TableName(name) = &insert.table else {
            return Ok(());
        };
        let Ok((schema, view)) = qualified(name) else {
            return Ok(());
        };
        if self.registered().definitions.view(&schema, &view).is_some() {
            let shown = if schema == PUBLIC {
                view
            } else {
                format!("{schema}.{view}")
            };
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!(
                    "cannot insert into view \"{shown}\": a view stores no rows (it is its \
                     query, run when read); insert claims into assertions"
                ),
            ));
        }
        Ok(())
    }
}

impl Session {
    fn registered(&self) -> std::sync::MutexGuard<'_, Registered> {
        self.definitions.lock().unwrap_or_else(|e| e.into_inner())
    }
}
