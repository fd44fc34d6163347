//! What crosses between nodes: the gRPC messages and service
//! (`proto/cluster.proto`, compiled by `build.rs`), the header the token of
//! every call travels in ([`super::keyring`]), and the size bound on one
//! message. The client side is [`super::peers`], the serving side
//! [`super::rpc`] and [`super::service`].

/// Largest message a call sends or takes: a transaction block or a COPY
/// chunk for one owner goes in one call (blocks are bounded far below).
pub const MAX_MESSAGE_BYTES: usize = 512 << 20;

#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("stemedb.cluster.v1");
}

use crate::storage::CatalogEntry;

pub const TOKEN_HEADER: &str = "x-stemedb-cluster";

/// Catalog entries ([`crate::storage::CatalogEntry`]) on the wire.
pub fn catalog_to_proto(entries: &[CatalogEntry]) -> Vec<proto::CatalogEntry> {
    entries
        .iter()
        .map(|e| proto::CatalogEntry {
            key: e.key.clone(),
            physical: e.hlc.physical,
            logical: e.hlc.logical,
            present: e.value.is_some(),
            value: e.value.clone().unwrap_or_default(),
        })
        .collect()
}

pub fn catalog_from_proto(entries: Vec<proto::CatalogEntry>) -> Vec<CatalogEntry> {
    entries
        .into_iter()
        .map(|e| CatalogEntry {
            key: e.key,
            hlc: crate::model::Hlc::new(e.physical, e.logical),
            value: e.present.then_some(e.value),
        })
        .collect()
}
