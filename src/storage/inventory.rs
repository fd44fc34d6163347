//! What a data directory holds, read without opening it as a store: the
//! ids of its claims and retractions, and of the writes it holds as hints
//! for other nodes. It opens the directory read-only (no lock, the WAL
//! read, nothing written), so it works on a running node's directory and
//! on a stopped one alike. The cluster's simulation (tests/sim/) counts the
//! durable copies of every acknowledged write with it.

use std::collections::BTreeSet;
use std::path::Path;

use rocksdb::{DB, IteratorMode, Options};

use super::keys::{ALL_CFS, CF_ASSERTIONS, CF_HINTS, CF_RETRACTIONS, take_part};
use super::{Write, cf, decode_write};
use crate::error::{Error, Result};
use crate::model::Id;

#[derive(Debug, Default)]
pub struct Inventory {
    pub claims: BTreeSet<Id>,
    /// Claims retracted here (the retracted claim's id).
    pub retractions: BTreeSet<Id>,
    /// Claims held as hints for another node.
    pub hinted_claims: BTreeSet<Id>,
    /// The same, with the node each is held for.
    pub hints_for: BTreeSet<(String, Id)>,
    /// Retractions held as hints (the retracted claim's id).
    pub hinted_retractions: BTreeSet<Id>,
}

/// The inventory of the data directory `dir`.
pub fn inventory(dir: &Path) -> Result<Inventory> {
    let families = DB::list_cf(&Options::default(), dir)
        .map_err(|e| Error::internal(format!("cannot read {}: {e}", dir.display())))?;
    let present: Vec<&str> = ALL_CFS
        .iter()
        .copied()
        .filter(|name| families.iter().any(|f| f == name))
        .collect();
    let db = DB::open_cf_for_read_only(&Options::default(), dir, present, false)
        .map_err(|e| Error::internal(format!("cannot open {}: {e}", dir.display())))?;
    let mut found = Inventory::default();
    let ids = |name: &str| -> Result<BTreeSet<Id>> {
        let mut ids = BTreeSet::new();
        for item in db.iterator_cf(cf(&db, name)?, IteratorMode::Start) {
            let (key, _) = item?;
            ids.extend(Id::from_slice(&key));
        }
        Ok(ids)
    };
    found.claims = ids(CF_ASSERTIONS)?;
    found.retractions = ids(CF_RETRACTIONS)?;
    for item in db.iterator_cf(cf(&db, CF_HINTS)?, IteratorMode::Start) {
        let (key, value) = item?;
        match decode_write(&value)? {
            Write::Assertion(a) => {
                if let Some((target, _)) = take_part(&key) {
                    found.hints_for.insert((target, a.id));
                }
                found.hinted_claims.insert(a.id)
            }
            Write::Retraction(r) => found.hinted_retractions.insert(r.assertion_id),
            Write::Claim(_) | Write::Retract(_) => false,
        };
    }
    Ok(found)
}
