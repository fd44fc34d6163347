//! How a client's values become stored claims and retractions. [`ingest`]
//! is the one way a value becomes a field of a claim (COPY's text, an
//! INSERT's literals and parameters, INSERT … SELECT's Arrow columns);
//! [`copy`] decodes COPY FROM STDIN as it arrives; [`sinks`] are
//! DataFusion's INSERT sinks and the table INSERTs are planned against;
//! [`txn`] buffers a transaction block's writes; [`write_path`] hands
//! stamped writes to the store's group commit or to the cluster's owners.
//!
//! It may call the planner's shared vocabulary (schemas, settings, errors)
//! and the layers below the planner; nothing else of the planner.

pub(super) mod copy;
pub(super) mod ingest;
pub(super) mod sinks;
pub(super) mod txn;
pub(super) mod write_path;
