//! Per-source trust for the `consensus` lens (`stemedb.source_trust`,
//! docs/sql.md): catalog entries `trust/PREFIX` whose value is the weight
//! as 8 big-endian bytes of an f64. Being catalog entries, they reach
//! every node and are kept in backups like roles and views. Readers take
//! them parsed once per catalog version ([`Store::source_trust`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{CatalogEntry, Store};
use crate::error::{Error, Result};
use crate::lens::SourceTrust;

const TRUST_KEY: &str = "trust/";

/// The catalog key of a prefix's trust.
pub fn trust_key(prefix: &str) -> String {
    format!("{TRUST_KEY}{prefix}")
}

/// The value stored for a weight.
pub fn trust_value(weight: f64) -> Vec<u8> {
    weight.to_be_bytes().to_vec()
}

/// The trust table the catalog holds now, read from storage.
fn load(store: &Store) -> Result<SourceTrust> {
    let mut by_prefix = BTreeMap::new();
    for entry in store.catalog()? {
        let (Some(prefix), Some(value)) = (entry.key.strip_prefix(TRUST_KEY), entry.value) else {
            continue;
        };
        let bytes: [u8; 8] = value
            .as_slice()
            .try_into()
            .map_err(|_| Error::corrupted(format!("source trust of {prefix:?} is damaged")))?;
        by_prefix.insert(prefix.to_string(), f64::from_be_bytes(bytes));
    }
    Ok(SourceTrust::new(by_prefix))
}

/// The parsed trust table and the catalog version it was read at.
#[derive(Default)]
pub(super) struct TrustCache(std::sync::Mutex<Option<(u64, Arc<SourceTrust>)>>);

impl Store {
    /// Per-source trust as the catalog holds it now.
    pub fn source_trust(&self) -> Result<Arc<SourceTrust>> {
        let version = self.catalog_version();
        let mut cached = self.trust.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, trust)) = cached.as_ref()
            && *v == version
        {
            return Ok(trust.clone());
        }
        let trust = Arc::new(load(self)?);
        *cached = Some((version, trust.clone()));
        Ok(trust)
    }

    /// Sets (`Some`) or removes (`None`) the trust of `prefix`, stamped now
    /// on this node's clock; the caller sends the entry to the cluster.
    pub fn trust_entry(&self, prefix: &str, weight: Option<f64>) -> CatalogEntry {
        CatalogEntry {
            key: trust_key(prefix),
            hlc: self.clock().now(),
            value: weight.map(trust_value),
        }
    }
}
