//! What crosses between nodes: the gRPC messages and service
//! (`proto/cluster.proto`, compiled by `build.rs`), the token every call
//! carries, and the size bound on one message. The client side is
//! [`super::peers`], the serving side [`super::rpc`] and [`super::service`].

/// Largest message a call sends or takes: a transaction block or a COPY
/// chunk for one owner goes in one call (blocks are bounded far below).
pub const MAX_MESSAGE_BYTES: usize = 512 << 20;

#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("stemedb.cluster.v1");
}

pub const TOKEN_HEADER: &str = "x-stemedb-cluster";

/// The token calls carry: a key derived from the cluster secret, in hex.
pub fn rpc_token(secret: Option<&str>) -> String {
    let key = blake3::derive_key(
        "stemedb 2026 cluster rpc v1",
        secret.unwrap_or("").as_bytes(),
    );
    blake3::Hash::from(key).to_hex().to_string()
}
