//! The node-to-node service: what a member answers when another calls it
//! (the calls are authenticated before they get here, see [`super::rpc`]).

use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use futures::{Stream, StreamExt};

use tonic::{Request, Response, Status};

use super::anti_entropy;
use super::digests::{Current, Digests};
use super::layout::Layout;
use super::members::Membership;
use super::replicas::ReadService;
use super::resize::Layouts;
use super::scan_wire::{encode_batch, from_proto, point_from_proto};
use super::wire::proto;
use super::wire::proto::node_server::Node;
use super::wire::proto::{
    CatalogEntries, CatalogRequest, DigestReply, DigestRequest, FetchRequest, HelloReply,
    HelloRequest, HintRequest, ItemsReply, ItemsRequest, LayoutRequest, LocateReply, LocateRequest,
    Located, MoveRequest, PointRequest, ScanChunk, ScanRequest, Stored, Writes,
};
use crate::error::Error;
use crate::model::{Hlc, Id};
use crate::storage::{Store, Write, decode_write};

pub struct Service {
    pub membership: Arc<Membership>,
    pub store: Arc<Store>,
    /// The SQL layer, once the node serves SQL (scans run through it).
    pub reads: Arc<OnceLock<Arc<dyn ReadService>>>,
    /// The Merkle trees, once built ([`super::digests`]).
    pub digests: Arc<Current>,
    pub layouts: Arc<Layouts>,
}

type Reply<T> = std::result::Result<Response<T>, Status>;

/// A peer's writes, decoded; a record that does not decode refuses the
/// whole call (nothing of it is stored).
fn decode(writes: &[Vec<u8>]) -> std::result::Result<Vec<Write>, Status> {
    writes
        .iter()
        .map(|w| decode_write(w).map_err(|e| Status::invalid_argument(e.message)))
        .collect()
}

/// An error of this node's, carrying its SQLSTATE to the caller (who sees
/// the statement's own error, not an internal one).
fn internal(e: Error) -> Status {
    super::protocol::status_of(e)
}

impl Service {
    fn digests(&self) -> std::result::Result<Arc<Digests>, Status> {
        self.digests
            .get()
            .ok_or_else(|| Status::unavailable("this node's Merkle trees are not built yet"))
    }

    fn reads(&self) -> std::result::Result<Arc<dyn ReadService>, Status> {
        self.reads
            .get()
            .cloned()
            .ok_or_else(|| Status::unavailable("this node does not serve SQL yet"))
    }
}

#[tonic::async_trait]
impl Node for Service {
    type ScanStream = Pin<Box<dyn Stream<Item = std::result::Result<ScanChunk, Status>> + Send>>;

    async fn scan(&self, request: Request<ScanRequest>) -> Reply<Self::ScanStream> {
        let reads = self.reads()?;
        let request =
            from_proto(request.into_inner()).map_err(|e| Status::invalid_argument(e.message))?;
        let rows = reads.serve_scan(request).await.map_err(internal)?;
        let chunks = rows.map(|batch| {
            let batch = batch.map_err(internal)?;
            let ipc = encode_batch(&batch).map_err(internal)?;
            Ok(ScanChunk { ipc })
        });
        Ok(Response::new(Box::pin(chunks)))
    }

    async fn point(&self, request: Request<PointRequest>) -> Reply<ScanChunk> {
        let reads = self.reads()?;
        let request = point_from_proto(request.into_inner())
            .map_err(|e| Status::invalid_argument(e.message))?;
        let batch = reads.serve_point(request).map_err(internal)?;
        let ipc = encode_batch(&batch).map_err(internal)?;
        Ok(Response::new(ScanChunk { ipc }))
    }

    async fn digest(&self, request: Request<DigestRequest>) -> Reply<DigestReply> {
        let r = request.into_inner();
        let digests = self.digests()?;
        if digests.epoch() != r.epoch {
            return Err(Status::failed_precondition(format!(
                "trees built for another layout (epoch {} here, {} there); retry once both \
                 hold the same",
                digests.epoch(),
                r.epoch
            )));
        }
        let level = digests.level(&r.owners, r.depth);
        let hashes = if r.nodes.is_empty() {
            level.iter().map(|h| h.to_vec()).collect()
        } else {
            let at = |n: &u32| level.get(*n as usize).map(|h| h.to_vec());
            r.nodes
                .iter()
                .map(at)
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    Status::invalid_argument(format!("no such node at depth {}", r.depth))
                })?
        };
        Ok(Response::new(DigestReply { hashes }))
    }

    async fn items(&self, request: Request<ItemsRequest>) -> Reply<ItemsReply> {
        let r = request.into_inner();
        let digests = self.digests()?;
        let store = self.store.clone();
        let items = crate::runtime::blocking::run(move || {
            anti_entropy::items(&store, &digests, &r.owners, &r.leaves)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(internal)?;
        Ok(Response::new(ItemsReply { items }))
    }

    async fn fetch(&self, request: Request<FetchRequest>) -> Reply<Writes> {
        let r = request.into_inner();
        let store = self.store.clone();
        let writes = crate::runtime::blocking::run(move || {
            anti_entropy::records(&store, &r.claims, &r.retractions)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(internal)?;
        Ok(Response::new(Writes {
            from: self.membership.me().id.clone(),
            writes,
        }))
    }

    async fn hello(&self, request: Request<HelloRequest>) -> Reply<HelloReply> {
        let me = self.membership.me();
        let seen_from = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        Ok(Response::new(HelloReply {
            node_id: me.id.clone(),
            generation: me.generation,
            seen_from,
        }))
    }

    async fn replicate(&self, request: Request<Writes>) -> Reply<Stored> {
        let writes = decode(&request.get_ref().writes)?;
        let count = writes.len() as u64;
        self.store.commit_replica(writes).await.map_err(internal)?;
        Ok(Response::new(Stored { count }))
    }

    async fn hint(&self, request: Request<HintRequest>) -> Reply<Stored> {
        let request = request.into_inner();
        let writes = decode(&request.writes)?;
        let store = self.store.clone();
        let target = request.target;
        let count = writes.len() as u64;
        crate::runtime::blocking::run(move || store.hint(&target, &writes))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(internal)?;
        Ok(Response::new(Stored { count }))
    }

    async fn locate(&self, request: Request<LocateRequest>) -> Reply<LocateReply> {
        let ids = request.into_inner().ids;
        let store = self.store.clone();
        let found = crate::runtime::blocking::run(move || {
            let mut found = Vec::new();
            for raw in ids {
                let Some(id) = Id::from_slice(&raw) else {
                    continue;
                };
                if let Some(subject) = store.subject_of(&id)? {
                    found.push(Located { id: raw, subject });
                }
            }
            Ok::<_, Error>(found)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(internal)?;
        Ok(Response::new(LocateReply { found }))
    }

    async fn catalog(&self, request: Request<CatalogRequest>) -> Reply<CatalogEntries> {
        let digest = self.store.catalog_digest().map_err(internal)?;
        let entries = match request.get_ref().digest.as_slice() == digest.as_slice() {
            true => Vec::new(),
            false => super::wire::catalog_to_proto(&self.store.catalog().map_err(internal)?),
        };
        Ok(Response::new(CatalogEntries {
            digest: digest.to_vec(),
            entries,
        }))
    }

    async fn put_catalog(&self, request: Request<CatalogEntries>) -> Reply<Stored> {
        let entries = super::wire::catalog_from_proto(request.into_inner().entries);
        let count = self.store.catalog_put(&entries).map_err(internal)? as u64;
        Ok(Response::new(Stored { count }))
    }

    async fn synced(&self, request: Request<proto::SyncedReport>) -> Reply<Stored> {
        let report = request.into_inner();
        self.membership
            .record_sync(&report.from, report.in_sync, report.repaired);
        Ok(Response::new(Stored { count: 0 }))
    }

    async fn closed(&self, request: Request<proto::ClosedRequest>) -> Reply<proto::ClosedReply> {
        let bound = Hlc::from_key(&request.into_inner().bound);
        let store = self.store.clone();
        let (closed, newest) = crate::runtime::blocking::run(move || {
            let newest = match bound {
                Some(bound) => store.read_point().newest_change(bound)?,
                None => None,
            };
            Ok::<_, Error>((store.closed(), newest))
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(internal)?;
        Ok(Response::new(proto::ClosedReply {
            closed: closed.to_key().to_vec(),
            newest: newest.unwrap_or_default(),
        }))
    }

    async fn get_layout(&self, _: Request<LayoutRequest>) -> Reply<proto::Layout> {
        let held = self.membership.layout();
        Ok(Response::new(
            held.map(|l| l.to_proto()).unwrap_or_default(),
        ))
    }

    async fn set_layout(&self, request: Request<proto::Layout>) -> Reply<proto::Layout> {
        let layout = Layout::from_proto(request.into_inner())
            .ok_or_else(|| Status::invalid_argument("not a layout"))?;
        let held = self.layouts.adopt(layout).await.map_err(internal)?;
        Ok(Response::new(held.to_proto()))
    }

    async fn r#move(&self, request: Request<MoveRequest>) -> Reply<Stored> {
        let epoch = request.into_inner().epoch;
        let count = self
            .layouts
            .move_subjects(epoch)
            .await
            .map_err(|e| Status::failed_precondition(e.message))?;
        Ok(Response::new(Stored { count }))
    }
}
