//! SQL text to classified statements. Everything that turns text into a
//! tree enters through [`parse`]: sqlparser's PostgreSQL dialect with the
//! catalog-query rewrites of `datafusion-pg-catalog`, long AND / OR chains
//! rebalanced ([`balance`]), the depth and parameter-number limits checked
//! ([`limits`]), drivers' unplannable catalog queries substituted
//! ([`driver_queries`]), correlated subqueries rewritten
//! ([`subqueries`]) and LIKE's other escape characters translated
//! ([`like_escape`]), `stemedb.explain(…)` calls turned into reads of the
//! `stemedb.explain` table ([`explain_call`]). [`classify`] then says what
//! a statement is: a query or INSERT for DataFusion, a session statement,
//! COPY, or something refused with its SQLSTATE; writes to
//! `stemedb.source_trust` become plans DataFusion can run
//! ([`trust_writes`]). [`parameters`] infers the `$n` types DataFusion
//! leaves open, [`column_names`] names result columns as PostgreSQL does.
//!
//! It may call `catalog` (whose rewrites it applies), `write` and `read`
//! (the shapes of COPY and INSERT), `roles` and `views` (the statements
//! they define), and the planner's shared vocabulary.

pub(super) mod array_literal;
pub(super) mod balance;
pub(super) mod classify;
pub(super) mod column_names;
pub(super) mod driver_queries;
pub(super) mod explain_call;
pub(super) mod like_escape;
pub(super) mod limits;
pub(super) mod parameters;
pub(super) mod parse;
pub(super) mod subqueries;
pub(super) mod trust_writes;
