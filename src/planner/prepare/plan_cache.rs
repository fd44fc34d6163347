//! Plans a session keeps, so a statement sent again is not planned again
//! (DataFusion's planning and optimising cost more than running a point
//! lookup).
//!
//! - Extended protocol: a Parse of text the session planned before reuses
//!   that plan (drivers that never name their statements — psycopg's first
//!   executions, node-postgres, JDBC below its prepare threshold — send the
//!   same text again and again).
//! - Simple protocol: a query is keyed by its *normalised* text — every
//!   string or number literal compared with a column (`subject = 'a'`,
//!   `tier IN (1, 2)`) lifted into a parameter — so `WHERE subject = 'a'`
//!   and `WHERE subject = 'b'` share one plan and run as the prepared
//!   statement would. A shape whose lifted plan is not the literal one's
//!   equal (a parameter whose type is not inferred, a number compared with
//!   text, a plan that fails) is remembered and runs as written.
//!
//! Plans do not depend on session settings (the lens, `stemedb.as_of` and
//! the clock are read when a statement runs), as for named statements.

use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Statement as Sql, Value, VisitMut, VisitorMut, visit_expressions,
};
use lru::LruCache;

use crate::monitor::{self, PlanLookup};
use crate::planner::Prepared;
use crate::planner::frontend::classify::Action;

/// Plans kept per session.
const CAPACITY: usize = 64;

/// Statements longer than this are planned every time (an ORM's IN list of
/// thousands of values is rarely sent twice).
const MAX_KEY: usize = 8 * 1024;

#[derive(Clone)]
enum Entry {
    Plan(Arc<Prepared>),
    /// This shape runs as written.
    AsWritten,
}

/// A session's plans, least recently used dropped first.
pub(in crate::planner) struct PlanCache(Mutex<LruCache<String, Entry>>);

impl Default for PlanCache {
    fn default() -> Self {
        PlanCache(Mutex::new(LruCache::new(
            NonZeroUsize::new(CAPACITY).expect("non-zero"),
        )))
    }
}

impl PlanCache {
    fn lock(&self) -> MutexGuard<'_, LruCache<String, Entry>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &str) -> Option<Entry> {
        self.lock().get(key).cloned()
    }

    /// Forgets every plan (the views they read may have changed).
    pub(in crate::planner) fn clear(&self) {
        self.lock().clear();
    }

    fn put(&self, key: String, entry: Entry) {
        if key.len() <= MAX_KEY {
            self.lock().put(key, entry);
        }
    }
}

/// What the cache holds for a simple-protocol statement.
// A Miss lives for one statement's planning: boxing it buys nothing.
#[allow(clippy::large_enum_variant)]
pub(in crate::planner) enum Lookup {
    /// A plan of its shape, and the values to run it with.
    Hit(Arc<Prepared>, Vec<ScalarValue>),
    /// A shape not seen yet: plan [`Miss::action`], then [`PlanCache::settle`].
    Miss(Miss),
    /// Run the statement as written (not a liftable query, or a shape
    /// whose lifted plan does not fit).
    AsWritten,
}

/// A lifted shape to plan once and remember.
pub(in crate::planner) struct Miss(Lifted);

impl Miss {
    /// The lifted query, to plan.
    pub(in crate::planner) fn action(&self) -> Action {
        Action::Plan {
            statement: DfStatement::Statement(Box::new(self.0.statement.clone())),
            returning: None,
        }
    }
}

impl PlanCache {
    /// The plan of an extended-protocol Parse of `sql`, if the session
    /// planned the same text before.
    pub(in crate::planner) fn planned(&self, sql: &str) -> Option<Arc<Prepared>> {
        match self.get(sql)? {
            Entry::Plan(p) => {
                monitor::plan_cache(PlanLookup::Hit);
                Some(p)
            }
            Entry::AsWritten => None,
        }
    }

    /// Keeps the plan of an extended-protocol Parse of `sql`.
    pub(in crate::planner) fn keep(&self, sql: &str, prepared: &Arc<Prepared>) {
        if matches!(prepared.action, Action::Plan { .. }) {
            monitor::plan_cache(PlanLookup::Miss);
            self.put(sql.to_string(), Entry::Plan(prepared.clone()));
        }
    }

    /// Looks a simple-protocol statement up by its normalised text.
    pub(in crate::planner) fn lookup(&self, action: &Action) -> Lookup {
        let Some(lifted) = lift(action) else {
            return Lookup::AsWritten;
        };
        match self.get(&lifted.key) {
            Some(Entry::Plan(p)) => {
                monitor::plan_cache(PlanLookup::Hit);
                Self::bound(p, &lifted)
            }
            Some(Entry::AsWritten) => {
                monitor::plan_cache(PlanLookup::AsWritten);
                Lookup::AsWritten
            }
            None => {
                monitor::plan_cache(PlanLookup::Miss);
                Lookup::Miss(Miss(lifted))
            }
        }
    }

    /// Remembers how a missed shape planned (`None`: it failed — not the
    /// statement's failure, which running it as written reports) and
    /// answers as [`PlanCache::lookup`] would now.
    pub(in crate::planner) fn settle(&self, miss: Miss, planned: Option<Prepared>) -> Lookup {
        let Miss(lifted) = miss;
        let entry = match planned {
            Some(p) if fits(&p.parameter_types(), &lifted.literals) => Entry::Plan(Arc::new(p)),
            _ => Entry::AsWritten,
        };
        self.put(lifted.key.clone(), entry.clone());
        match entry {
            Entry::Plan(p) => Self::bound(p, &lifted),
            Entry::AsWritten => Lookup::AsWritten,
        }
    }

    /// `prepared` with the lifted literals as its values. A value the
    /// parameter's type cannot hold (`tier = 1.5`) runs as written, which
    /// answers as PostgreSQL would.
    fn bound(prepared: Arc<Prepared>, lifted: &Lifted) -> Lookup {
        match bind(&prepared.parameter_types(), &lifted.literals) {
            Some(values) => Lookup::Hit(prepared, values),
            None => Lookup::AsWritten,
        }
    }
}

/// A literal lifted out of a statement.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(String),
}

/// A query with its literals lifted into `$1`, `$2`, ….
struct Lifted {
    statement: Sql,
    literals: Vec<Literal>,
    /// The lifted text and the literals' kinds: `subject = 'a'` and
    /// `subject = 1` plan differently.
    key: String,
}

/// Lifts the literals of a plain query (no RETURNING, no parameters).
fn lift(action: &Action) -> Option<Lifted> {
    let Action::Plan {
        statement: DfStatement::Statement(s),
        returning: None,
    } = action
    else {
        return None;
    };
    if !matches!(s.as_ref(), Sql::Query(_)) {
        return None;
    }
    let has_parameters = visit_expressions(s.as_ref(), |e| match e {
        Expr::Value(v) if matches!(v.value, Value::Placeholder(_)) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    if has_parameters.is_break() {
        return None;
    }
    let mut statement = s.as_ref().clone();
    let mut lifter = Lifter::default();
    let _ = statement.visit(&mut lifter);
    let kinds: String = lifter
        .literals
        .iter()
        .map(|l| match l {
            Literal::Text(_) => 't',
            Literal::Number(_) => 'n',
        })
        .collect();
    let key = format!("{statement}\u{0}{kinds}");
    Some(Lifted {
        statement,
        literals: lifter.literals,
        key,
    })
}

#[derive(Default)]
struct Lifter {
    literals: Vec<Literal>,
}

impl Lifter {
    /// Replaces `expr` with the next parameter if it is a literal.
    fn take(&mut self, expr: &mut Expr) {
        let literal = match expr {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => Literal::Text(s.clone()),
                Value::Number(n, false) => Literal::Number(n.clone()),
                _ => return,
            },
            _ => return,
        };
        self.literals.push(literal);
        let name = format!("${}", self.literals.len());
        *expr = Expr::value(Value::Placeholder(name));
    }
}

fn is_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
}

impl VisitorMut for Lifter {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::BinaryOp {
                left,
                op:
                    BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq,
                right,
            } => {
                if is_column(left) {
                    self.take(right);
                } else if is_column(right) {
                    self.take(left);
                }
            }
            Expr::InList { expr, list, .. } if is_column(expr) => {
                list.iter_mut().for_each(|item| self.take(item));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn numeric(t: &DataType) -> bool {
    t.is_numeric()
}

/// Whether the lifted plan answers as the literal one: every parameter's
/// type is known, and a number is compared with a number.
fn fits(types: &[Option<DataType>], literals: &[Literal]) -> bool {
    types.len() == literals.len()
        && types.iter().zip(literals).all(|(t, l)| match (t, l) {
            (None, _) => false,
            (Some(t), Literal::Number(_)) => numeric(t),
            (Some(_), Literal::Text(_)) => true,
        })
}

/// The literals as values of their parameters' types (a text literal is
/// cast as DataFusion casts it beside a column of that type).
fn bind(types: &[Option<DataType>], literals: &[Literal]) -> Option<Vec<ScalarValue>> {
    types
        .iter()
        .zip(literals)
        .map(|(t, l)| {
            let (Literal::Text(s) | Literal::Number(s)) = l;
            ScalarValue::Utf8(Some(s.clone())).cast_to(t.as_ref()?).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifted(sql: &str) -> Option<(String, Vec<Literal>)> {
        let statement = crate::planner::frontend::parse::parse(sql)
            .unwrap()
            .remove(0);
        let action = Action::Plan {
            statement: DfStatement::Statement(Box::new(statement)),
            returning: None,
        };
        lift(&action).map(|l| (l.statement.to_string(), l.literals))
    }

    #[test]
    fn literals_compared_with_columns_become_parameters() {
        let (text, literals) = lifted(
            "SELECT object, 'x' AS k FROM recency WHERE subject = 'a' AND 3 < tier \
             AND predicate IN ('p', 'q') ORDER BY 1 LIMIT 5",
        )
        .unwrap();
        assert_eq!(
            text,
            "SELECT object, 'x' AS k FROM recency WHERE subject = $1 AND $2 < tier \
             AND predicate IN ($3, $4) ORDER BY 1 LIMIT 5"
        );
        assert_eq!(
            literals,
            vec![
                Literal::Text("a".into()),
                Literal::Number("3".into()),
                Literal::Text("p".into()),
                Literal::Text("q".into()),
            ]
        );
        assert!(lifted("SELECT object FROM recency WHERE subject = $1").is_none());
    }

    #[test]
    fn a_number_beside_text_runs_as_written() {
        let text = Some(DataType::Utf8);
        assert!(!fits(
            std::slice::from_ref(&text),
            &[Literal::Number("1".into())]
        ));
        assert!(fits(&[text], &[Literal::Text("1".into())]));
        assert!(!fits(&[None], &[Literal::Text("1".into())]));
        let int = [Some(DataType::Int16)];
        assert_eq!(
            bind(&int, &[Literal::Number("3".into())]),
            Some(vec![ScalarValue::Int16(Some(3))])
        );
        assert_eq!(bind(&int, &[Literal::Number("1.5".into())]), None);
    }
}
