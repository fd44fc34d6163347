//! Schemas and views: named queries over the lenses, for dbt models and
//! the saved questions of BI tools (docs/sql.md, "Views and schemas").
//!
//! A definition is stored once, in the cluster-wide catalog
//! ([`crate::storage::CatalogEntry`], keys `schema/NAME` and
//! `view/SCHEMA.NAME`), so it reaches every node, is kept in backups and
//! is caught up by a node that was down — the same way as roles. No rows
//! are stored: a view is its query, planned again in each session
//! ([`register`]) and inlined into the statements that read it, so the
//! reader's `stemedb.lens` and `stemedb.as_of` apply, and a point lookup
//! through a view takes the same fast path as one on the lens itself.
//!
//! [`statements`] turns `CREATE SCHEMA`, `DROP SCHEMA`, `CREATE [OR
//! REPLACE] VIEW`, `DROP VIEW` and the renames into catalog changes;
//! [`register`] keeps a session's DataFusion catalog in step with them.
//! `public` always exists and holds StemeDB's seven tables, which no view
//! may shadow.
//!
//! It may call storage, `read` (the table names) and the planner's errors.

pub mod register;
pub mod statements;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::{CatalogEntry, Store};

/// The schema every session starts in, holding the seven tables.
pub const PUBLIC: &str = "public";
/// The database (DataFusion catalog) name: three-part names start with it.
pub const DATABASE: &str = "stemedb";

const SCHEMA_KEY: &str = "schema/";
const VIEW_KEY: &str = "view/";
/// `schema_create/SCHEMA/ROLE`: the role may define views in the schema.
const CREATOR_KEY: &str = "schema_create/";

/// A view as stored: its query's text and the column names it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub query: String,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub owner: String,
}

/// Every schema and view the catalog holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Definitions {
    /// User schemas (not `public`).
    pub schemas: BTreeSet<String>,
    /// (schema, name) → view.
    pub views: BTreeMap<(String, String), View>,
    /// (schema, role): the role may define views in the schema (`GRANT
    /// CREATE ON SCHEMA`).
    pub creators: BTreeSet<(String, String)>,
}

impl Definitions {
    /// Reads them from `store`'s catalog.
    pub fn load(store: &Store) -> Result<Definitions> {
        let mut out = Definitions::default();
        for entry in store.catalog()? {
            let Some(value) = entry.value else { continue };
            if let Some(name) = entry.key.strip_prefix(SCHEMA_KEY) {
                out.schemas.insert(name.to_string());
            } else if let Some(pair) = entry.key.strip_prefix(CREATOR_KEY)
                && let Some((schema, role)) = pair.split_once('/')
            {
                out.creators.insert((schema.to_string(), role.to_string()));
            } else if let Some(qualified) = entry.key.strip_prefix(VIEW_KEY)
                && let Some((schema, name)) = qualified.split_once('.')
            {
                let view: View = serde_json::from_slice(&value)
                    .map_err(|e| Error::internal(format!("view {qualified} is damaged: {e}")))?;
                out.views
                    .insert((schema.to_string(), name.to_string()), view);
            }
        }
        Ok(out)
    }

    pub fn has_schema(&self, schema: &str) -> bool {
        schema == PUBLIC || self.schemas.contains(schema)
    }

    pub fn view(&self, schema: &str, name: &str) -> Option<&View> {
        self.views.get(&(schema.to_string(), name.to_string()))
    }

    /// The views of `schema`, by name.
    pub fn views_in<'a>(&'a self, schema: &'a str) -> impl Iterator<Item = (&'a str, &'a View)> {
        self.views
            .iter()
            .filter(move |((s, _), _)| s == schema)
            .map(|((_, n), v)| (n.as_str(), v))
    }
}

fn schema_key(name: &str) -> String {
    format!("{SCHEMA_KEY}{name}")
}

fn creator_key(schema: &str, role: &str) -> String {
    format!("{CREATOR_KEY}{schema}/{role}")
}

fn view_key(schema: &str, name: &str) -> String {
    format!("{VIEW_KEY}{schema}.{name}")
}

/// A catalog entry setting `key` to `value` (or deleting it), stamped now.
fn entry(store: &Store, key: String, value: Option<Vec<u8>>) -> CatalogEntry {
    CatalogEntry {
        key,
        hlc: store.clock().now(),
        value,
    }
}
