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

pub const TOKEN_HEADER: &str = "x-stemedb-cluster";
