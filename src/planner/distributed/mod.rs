//! The planner's side of a cluster's reads: a point lookup sent to a live
//! owner of its subjects ([`remote_point`]) and the serving side of the
//! scans and lookups other nodes send this one ([`remote_scan`], where the
//! engine implements `cluster::ReadService`). The coordinator's side of a
//! scan is a table (`read::tables::cluster_scan`).
//!
//! It may call `fast` (the point lookup it forwards) and `read`.

pub(super) mod remote_point;
pub(super) mod remote_scan;
