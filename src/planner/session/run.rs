//! A connection's session: parses, plans and executes statements.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::datasource::empty::EmptyTable;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, Statement as Sql};
use futures::{StreamExt, TryStreamExt};

use super::lifetime;
use super::memory::QueryMemory;
use crate::error::{Error, Result};
use crate::planner::SessionShared;
use crate::planner::distributed::remote_point;
use crate::planner::errors::from_datafusion;
use crate::planner::frontend::classify::{Action, Returning, classify};
use crate::planner::output::{Output, TxnChange, command};
use crate::planner::prepare::plan_cache::{Lookup, PlanCache};
use crate::planner::prepare::prepared::{
    Fast, Planned, Prepared, Route, show_all_schema, show_schema,
};
use crate::planner::prepare::prepared_plan::start;
use crate::planner::read::tables;
use crate::planner::schema::{ASSERTIONS, RETRACTIONS};
use crate::planner::write::copy::CopyIn;
use crate::planner::write::txn::{Ended, aborted};

/// Most subjects a point lookup reads on the runtime's worker thread.
const POINTS_IN_PLACE: usize = 16;

/// Name under which the rows of an INSERT are visible to its RETURNING.
const RETURNING_TABLE: &str = "__stemedb_returning";

pub(in crate::planner) fn df(e: datafusion::error::DataFusionError) -> Error {
    from_datafusion(&e)
}

pub struct Session {
    ctx: SessionContext,
    pub(super) shared: Arc<SessionShared>,
    /// The running statement's memory budget.
    memory: Arc<QueryMemory>,
    /// Statements named by SQL-level PREPARE ([`super::prepared_sql`]).
    named: std::sync::Mutex<std::collections::HashMap<String, Prepared>>,
    /// Plans of statements sent before ([`crate::planner::prepare::plan_cache`]).
    plans: PlanCache,
    /// The schemas and views registered in `ctx` ([`super::definitions`]).
    pub(super) definitions: std::sync::Mutex<crate::planner::views::register::Registered>,
}

impl Drop for Session {
    fn drop(&mut self) {
        crate::planner::catalog::install::uninstall(&self.ctx);
    }
}

impl Session {
    pub(in crate::planner) fn new(shared: Arc<SessionShared>) -> Session {
        let config = crate::planner::datafusion_config()
            .with_information_schema(true)
            .with_default_catalog_and_schema("stemedb", "public");
        let memory = QueryMemory::new(shared.limits().query_memory_limit);
        let ctx = SessionContext::new_with_config_rt(config, memory.runtime());
        tables::register(&ctx, &shared).expect("registering tables in a fresh context");
        crate::planner::catalog::install::install(&ctx, &shared);
        Session {
            ctx,
            shared,
            memory,
            named: Default::default(),
            plans: Default::default(),
            definitions: Default::default(),
        }
    }

    pub fn shared(&self) -> &Arc<SessionShared> {
        &self.shared
    }

    pub(in crate::planner) fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub(super) fn plans(&self) -> &PlanCache {
        &self.plans
    }

    pub(in crate::planner) fn named(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Prepared>> {
        self.named.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The plan of an extended-protocol Parse of `sql`, if the session
    /// planned the same text before ([`crate::planner::prepare::plan_cache`]).
    pub fn planned(&self, sql: &str) -> Option<Arc<Prepared>> {
        self.forget_plans_if_definitions_moved();
        self.plans.planned(sql)
    }

    /// Keeps the plan of an extended-protocol Parse of `sql`.
    pub fn keep(&self, sql: &str, prepared: &Arc<Prepared>) {
        self.plans.keep(sql, prepared)
    }

    /// Prepares a simple-protocol statement: a query through the plan of
    /// its normalised text (planned on first sight), anything else as
    /// [`Session::prepare`]. Returns the parameter values to run it with.
    pub async fn prepare_simple(
        &self,
        action: Action,
    ) -> Result<(Arc<Prepared>, Vec<ScalarValue>)> {
        self.forget_plans_if_definitions_moved();
        let mut found = self.plans.lookup(&action);
        if let Lookup::Miss(miss) = found {
            // Not `prepare`: a failure here is not the statement's.
            let planned = self.plan(miss.action()).await.ok();
            found = self.plans.settle(miss, planned);
        }
        match found {
            Lookup::Hit(prepared, values) => Ok((prepared, values)),
            _ => Ok((Arc::new(self.prepare(action).await?), vec![])),
        }
    }

    pub fn in_transaction(&self) -> bool {
        self.shared.txn.in_block()
    }

    /// Shows `sql` as the connection's statement in `pg_stat_activity`
    /// until [`Session::finished`] (or until dropped, if cancelled).
    pub fn running(&self, sql: &str) -> Option<crate::connections::Running<'_>> {
        let backend = self.shared.backend.get()?;
        Some(backend.running(sql, self.in_transaction()))
    }

    /// The statement shown by [`Session::running`] ended.
    pub fn finished(&self, running: Option<crate::connections::Running<'_>>) {
        if let Some(running) = running {
            let txn = &self.shared.txn;
            running.finish((!txn.is_failed()).then(|| txn.in_block()));
        }
    }

    /// Parses `sql` into its statements, without planning them.
    pub fn parse(&self, sql: &str) -> Result<Vec<Action>> {
        use crate::planner::roles::statements::{Piece, pieces};
        if let Some(pieces) = pieces(sql) {
            let mut actions = Vec::new();
            for piece in pieces {
                match piece {
                    Piece::Role(role) => actions.push(Action::Role(role?)),
                    Piece::Sql(text) => actions.extend(self.parse(&text)?),
                }
            }
            return Ok(actions);
        }
        let statements = crate::planner::frontend::parse::parse(sql)?;
        statements.into_iter().map(classify).collect()
    }

    /// Plans one statement (queries and INSERTs) so it can be described and
    /// executed, possibly many times.
    pub async fn prepare(&self, action: Action) -> Result<Prepared> {
        let result = self.plan(action).await;
        if result.is_err() {
            self.shared.txn.fail();
        }
        result
    }

    pub(in crate::planner) async fn plan(&self, action: Action) -> Result<Prepared> {
        self.refresh_definitions().await?;
        let (statement, returning) = match &action {
            Action::Plan {
                statement,
                returning,
            } => (statement, returning),
            Action::CopyOut { statement, .. } => (statement, &None),
            _ => {
                let target = match &action {
                    Action::ExecuteSql { name, .. } => Some(Box::new(self.named_statement(name)?)),
                    _ => None,
                };
                return Ok(Prepared::unplanned(action, target));
            }
        };
        self.refuse_write_to_view(statement)?;
        let insert = match (statement, returning) {
            (DfStatement::Statement(s), None) => crate::planner::fast::plain_insert::recognise(s),
            _ => None,
        };
        if let Some(insert) = insert {
            return Ok(Prepared {
                route: Route::PlainInsert(insert),
                ..Prepared::unplanned(action, None)
            });
        }
        let plan =
            crate::planner::frontend::parameters::infer(self.plan_statement(statement).await?)
                .map_err(df)?;
        let optimised = match action {
            Action::Plan { .. } => {
                crate::planner::prepare::prepared_plan::optimise_once(&self.ctx, &plan)
            }
            _ => None,
        };
        let point = optimised
            .as_ref()
            .and_then(crate::planner::fast::point_query::recognise)
            .map(Fast::Point);
        let fast = match returning {
            None => point.or_else(|| {
                optimised
                    .as_ref()
                    .and_then(crate::planner::fast::point_write::recognise)
                    .map(Fast::Write)
            }),
            Some(_) => point,
        };
        let returning = match returning {
            None => None,
            Some(r) => {
                let schema = if r.table == "assertions" {
                    ASSERTIONS.clone()
                } else {
                    RETRACTIONS.clone()
                };
                Some(
                    self.plan_returning(r, Arc::new(EmptyTable::new(schema)))
                        .await?,
                )
            }
        };
        let described = match statement {
            DfStatement::Statement(s) => match s.as_ref() {
                Sql::Insert(insert) => crate::planner::write::sinks::described_parameters(insert),
                _ => vec![],
            },
            _ => vec![],
        };
        Ok(Prepared {
            route: Route::Plan(Planned {
                reads_data: crate::planner::prepare::prepared::reads_data(&plan),
                plan,
                optimised,
                fast,
                returning,
            }),
            described,
            ..Prepared::unplanned(action, None)
        })
    }

    /// Plans a statement with DataFusion. An INSERT into `assertions` is
    /// planned against the ingest table, registered only meanwhile.
    async fn plan_statement(&self, statement: &DfStatement) -> Result<LogicalPlan> {
        let ingest = matches!(
            statement,
            DfStatement::Statement(s) if matches!(s.as_ref(), Sql::Insert(i) if i.table.to_string() == crate::planner::write::sinks::INGEST_TABLE)
        );
        if ingest {
            let table = Arc::new(crate::planner::write::sinks::IngestTable::new(
                self.shared.clone(),
            ));
            self.ctx
                .register_table(crate::planner::write::sinks::INGEST_TABLE, table)
                .map_err(df)?;
        }
        let plan = self.ctx.state().statement_to_plan(statement.clone()).await;
        if ingest {
            self.ctx
                .deregister_table(crate::planner::write::sinks::INGEST_TABLE)
                .map_err(df)?;
        }
        plan.map_err(df)
    }

    /// Plans `SELECT <returning> FROM <rows>`.
    async fn plan_returning(
        &self,
        r: &Returning,
        rows: Arc<dyn datafusion::datasource::TableProvider>,
    ) -> Result<LogicalPlan> {
        self.ctx.register_table(RETURNING_TABLE, rows).map_err(df)?;
        let table = ObjectName::from(vec![Ident::new(RETURNING_TABLE)]);
        let statement = crate::planner::frontend::parse::select(r.items.clone(), Some(table));
        let plan = self
            .ctx
            .state()
            .statement_to_plan(DfStatement::Statement(Box::new(statement)))
            .await;
        self.ctx.deregister_table(RETURNING_TABLE).map_err(df)?;
        plan.map_err(df)
    }

    /// Executes a prepared statement with its parameter values.
    pub async fn execute(&self, p: &Prepared, params: Vec<ScalarValue>) -> Result<Output> {
        let txn = &self.shared.txn;
        if txn.is_failed()
            && !matches!(
                p.action,
                Action::Commit | Action::Rollback | Action::RollbackTo(_)
            )
        {
            return Err(aborted());
        }
        self.shared.next_statement();
        // COMMIT is not timed: once its batch is handed to the writer it
        // lands, so it must not report a timeout (as in PostgreSQL).
        let limits = self.shared.limits();
        let timeout = match p.action {
            Action::Commit => None,
            _ => limits.statement_timeout,
        };
        let ending = match lifetime::begin(&self.shared, p.kind(), limits) {
            Ok(ending) => ending,
            Err(e) => {
                txn.fail();
                return Err(e);
            }
        };
        let result = lifetime::within(timeout, self.run(p, params)).await;
        let result = match (result, ending) {
            (Ok(output), Some(ending)) => Ok(lifetime::holding(output, ending)),
            (Err(e), Some(ending)) => {
                ending.failed();
                Err(e)
            }
            (result, None) => result,
        };
        self.shared.next_statement();
        if result.is_err() {
            txn.fail();
        }
        result
    }

    async fn run(&self, p: &Prepared, params: Vec<ScalarValue>) -> Result<Output> {
        if let Some(privilege) = p.needs() {
            let shared = &self.shared;
            crate::planner::roles::check_cached(
                &shared.store,
                &shared.user,
                privilege,
                &shared.role,
            )?;
        }
        match &p.route {
            Route::PlainInsert(i) => {
                let n = i.execute(&self.shared, &params).await?;
                Ok(command(format!("INSERT 0 {n}")))
            }
            Route::Plan(planned) => self.run_plan(&p.action, planned, params).await,
            Route::Execute(target) => {
                let Action::ExecuteSql { name, arguments } = &p.action else {
                    return Err(Error::internal("a named statement run without EXECUTE"));
                };
                let values = self.arguments(name, target, arguments).await?;
                Box::pin(self.run(target, values)).await
            }
            Route::Session => self.run_in_session(&p.action).await,
        }
    }

    /// A planned statement: its fast path if it has one and it answers,
    /// else its plan, started through [`start`] (off this thread).
    async fn run_plan(
        &self,
        action: &Action,
        planned: &Planned,
        params: Vec<ScalarValue>,
    ) -> Result<Output> {
        let shared = &self.shared;
        match &planned.fast {
            Some(Fast::Point(q)) => {
                let range = q.range(&params)?;
                if shared.reads_alone(&range) {
                    // Seeks to a few pairs' heads: microseconds from the
                    // block cache, so it runs in place — a hop to a blocking
                    // thread and back cost more than the read. A list of
                    // many subjects (each a seek that may read the disk)
                    // streams from a blocking thread.
                    let view = shared.view();
                    if !range.is_wide() && range.points() <= POINTS_IN_PLACE {
                        return Ok(Output::Rows(single_batch(q.execute(shared, view, &range)?)));
                    }
                    let stream = q.stream(shared, view, range)?;
                    return Ok(Output::Rows(first_batch_ready(stream).await?));
                }
                if let Some(batch) = remote_point::read(shared, q, &range, POINTS_IN_PLACE).await? {
                    return Ok(Output::Rows(single_batch(batch)));
                }
            }
            Some(Fast::Write(w)) => {
                if let Some(rows) = w.execute(shared, &params, POINTS_IN_PLACE).await? {
                    let count = drain_count(rows).await?;
                    return Ok(command(format!("INSERT 0 {count}")));
                }
            }
            None => {}
        }
        let runtime = shared.query_runtime.as_ref();
        let (stream, insert) = start(&self.ctx, runtime, planned, params).await?;
        match action {
            Action::CopyOut { options, .. } => Ok(Output::CopyOut {
                rows: first_batch_ready(stream).await?,
                options: options.clone(),
            }),
            Action::Plan { returning, .. } => {
                let Some(tag) = insert else {
                    return Ok(Output::Rows(first_batch_ready(stream).await?));
                };
                let count = drain_count(stream).await?;
                match returning {
                    None => Ok(command(format!("{tag} {count}"))),
                    Some(r) => self.returning(r).await,
                }
            }
            _ => Err(Error::internal(
                "a statement planned for DataFusion that is not a query",
            )),
        }
    }

    /// The statements the session runs itself.
    async fn run_in_session(&self, action: &Action) -> Result<Output> {
        let shared = &self.shared;
        match action {
            Action::Set { name, value } => {
                shared
                    .settings
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .set(name, value)?;
                self.memory.set_limit(shared.limits().query_memory_limit);
                if name.eq_ignore_ascii_case("application_name")
                    && let Some(backend) = shared.backend.get()
                {
                    backend.set_application_name(value);
                }
                Ok(command("SET"))
            }
            Action::Show(name) if name == "all" => {
                let all = shared.settings().all();
                let column = |f: fn(&(String, String)) -> &str| -> ArrayRef {
                    Arc::new(all.iter().map(|s| Some(f(s))).collect::<StringArray>())
                };
                let description: ArrayRef =
                    Arc::new(StringArray::from(vec![None::<&str>; all.len()]));
                let batch = RecordBatch::try_new(
                    show_all_schema(),
                    vec![column(|s| &s.0), column(|s| &s.1), description],
                )
                .map_err(|e| Error::internal(e.to_string()))?;
                Ok(Output::Rows(single_batch(batch)))
            }
            Action::Reset(name) => {
                shared
                    .settings
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .reset(name.as_deref());
                self.memory.set_limit(shared.limits().query_memory_limit);
                Ok(command("RESET"))
            }
            Action::Show(name) => {
                let value = shared.settings().show(name)?;
                let column: ArrayRef = Arc::new(StringArray::from(vec![value]));
                let batch = RecordBatch::try_new(show_schema(name), vec![column])
                    .map_err(|e| Error::internal(e.to_string()))?;
                Ok(Output::Rows(single_batch(batch)))
            }
            Action::Begin => {
                if !shared.txn.begin() {
                    tracing::debug!("BEGIN inside a transaction block: ignored");
                }
                Ok(Output::Command {
                    tag: "BEGIN".into(),
                    txn: Some(TxnChange::Started),
                })
            }
            Action::Commit => {
                if shared.txn.has_writes() {
                    shared.writable()?;
                }
                let tag = match shared.txn.commit(&shared.writes).await? {
                    Ended::Committed => "COMMIT",
                    Ended::RolledBack => "ROLLBACK",
                };
                Ok(Output::Command {
                    tag: tag.into(),
                    txn: Some(TxnChange::Ended),
                })
            }
            Action::Rollback => {
                shared.txn.rollback();
                Ok(Output::Command {
                    tag: "ROLLBACK".into(),
                    txn: Some(TxnChange::Ended),
                })
            }
            Action::NoOp(tag) => Ok(command(*tag)),
            Action::Listen(channel) => {
                if let Some(backend) = shared.backend.get() {
                    let newest = shared.cluster.resolved().borrow().newest.clone();
                    backend.listening.listen(channel, newest);
                }
                Ok(command("LISTEN"))
            }
            Action::Unlisten(channel) => {
                if let Some(backend) = shared.backend.get() {
                    backend.listening.unlisten(channel.as_deref());
                }
                Ok(command("UNLISTEN"))
            }
            Action::Definition(statement) => self.define(statement).await,
            Action::Role(statement) => {
                use crate::planner::roles;
                roles::check(&shared.store, &shared.user, roles::Privilege::Admin)?;
                let entries = roles::statements::changes(&shared.store, statement)?;
                shared.cluster.publish_catalog(entries).await?;
                tracing::info!(
                    target: "stemedb::audit",
                    user = shared.user,
                    statement = %statement.describe(),
                    "role changed"
                );
                Ok(command(statement.tag()))
            }
            Action::PrepareSql {
                name,
                types,
                statement,
            } => self.prepare_sql(name, types, statement).await,
            Action::Deallocate(name) => self.deallocate(name.as_deref()),
            Action::Savepoint(name) => shared.txn.savepoint(name).map(|_| command("SAVEPOINT")),
            Action::RollbackTo(name) => shared.txn.rollback_to(name).map(|_| command("ROLLBACK")),
            Action::Release(name) => shared.txn.release(name).map(|_| command("RELEASE")),
            Action::CopyIn { columns, options } => {
                shared.writable()?;
                let copy = CopyIn::new(
                    options.clone(),
                    columns.clone(),
                    &shared.user,
                    (!shared.txn.in_block()).then(|| shared.store.clone()),
                );
                let columns = copy.columns();
                *shared.copy.lock().unwrap_or_else(|e| e.into_inner()) = Some(copy);
                Ok(Output::CopyIn { columns })
            }
            Action::Plan { .. } | Action::CopyOut { .. } | Action::ExecuteSql { .. } => Err(
                Error::internal("a statement with a route of its own run by the session"),
            ),
        }
    }

    /// Runs an INSERT's RETURNING list over the rows it wrote.
    async fn returning(&self, r: &Returning) -> Result<Output> {
        let batch = self
            .shared
            .last_inserted
            .take()
            .ok_or_else(|| Error::internal("INSERT recorded no rows for RETURNING"))?;
        let rows = || MemTable::try_new(batch.schema(), vec![vec![batch.clone()]]).map_err(df);
        let plan = self.plan_returning(r, Arc::new(rows()?)).await?;
        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        // The plan refers to the table by name: register it while it runs.
        self.ctx
            .register_table(RETURNING_TABLE, Arc::new(rows()?))
            .map_err(df)?;
        // Like every plan: started through the one offload-aware runner.
        let ctx = self.ctx.clone();
        let run = async move {
            let frame = ctx.execute_logical_plan(plan).await.map_err(df)?;
            frame.execute_stream().await.map_err(df)
        };
        let runtime = self.shared.query_runtime.as_ref();
        let batches = match crate::planner::prepare::offload::run_plan(runtime, run).await {
            Ok(stream) => stream.try_collect::<Vec<_>>().await.map_err(df),
            Err(e) => Err(e),
        };
        self.ctx.deregister_table(RETURNING_TABLE).map_err(df)?;
        let batches = batches?;
        let stream = futures::stream::iter(batches.into_iter().map(Ok));
        Ok(Output::Rows(Box::pin(RecordBatchStreamAdapter::new(
            schema, stream,
        ))))
    }
}

/// Waits for the first batch before answering, so that errors surface as
/// the statement's error (not mid-stream) and a cancel request arriving
/// while the query computes (an aggregate, a sort) interrupts it.
async fn first_batch_ready(
    mut stream: SendableRecordBatchStream,
) -> Result<SendableRecordBatchStream> {
    let schema = stream.schema();
    let first = match stream.next().await {
        None => {
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::empty(),
            )));
        }
        Some(first) => first.map_err(df)?,
    };
    let rest = futures::stream::iter([Ok(first)]).chain(stream);
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rest)))
}

fn single_batch(batch: RecordBatch) -> SendableRecordBatchStream {
    let schema = batch.schema();
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter([Ok(batch)]),
    ))
}

/// Runs an INSERT plan to completion and returns the number of rows.
async fn drain_count(mut stream: SendableRecordBatchStream) -> Result<u64> {
    let mut count = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(df)?;
        if let Some(c) = batch
            .columns()
            .first()
            .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        {
            count += c.iter().flatten().sum::<u64>();
        }
    }
    Ok(count)
}
