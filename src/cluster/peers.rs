//! Calling other members: one lazily connected gRPC channel per peer
//! address, reused by every call (tonic reconnects it after the peer
//! restarts). Calls leave from this node's own IP and carry the cluster
//! token; each has a deadline, so a frozen peer costs a bounded wait.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use super::keyring::Keyring;
use super::layout::Layout;
use super::scan_wire::decode_batches;
use super::tls::NodeTls;
use super::wire::proto::node_client::NodeClient;
use super::wire::proto::{
    CatalogEntries, CatalogRequest, DigestRequest, FetchRequest, HelloReply, HelloRequest,
    HintRequest, Item, ItemsRequest, LayoutRequest, LocateRequest, MoveRequest, PointRequest,
    ScanRequest, Writes,
};
use super::wire::{MAX_MESSAGE_BYTES, TOKEN_HEADER};
use crate::error::{Error, Result};
use crate::model::{Hlc, Id};
use crate::storage::{Write, decode_write, encode_write};

/// How long one call may take before the peer is treated as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// How often an idle connection to a peer is pinged, and how long the
/// answer may take before the connection is dropped.
#[cfg(not(feature = "sim"))]
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(2);
#[cfg(not(feature = "sim"))]
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a call that does a whole step of a membership change may take
/// (it copies or moves every claim the peer holds of some subjects). A
/// peer cut off meanwhile is found sooner by the HTTP/2 pings; the
/// simulation, which cannot run them, bounds the step instead (its steps
/// move a few hundred claims).
#[cfg(not(feature = "sim"))]
const STEP_TIMEOUT: Duration = Duration::from_secs(600);
#[cfg(feature = "sim")]
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Adds the cluster token (the keyring's first, as it is now) to every
/// call.
#[derive(Clone)]
pub struct AddToken(Arc<Keyring>);

impl Interceptor for AddToken {
    fn call(
        &mut self,
        mut request: Request<()>,
    ) -> std::result::Result<Request<()>, tonic::Status> {
        let token: MetadataValue<Ascii> = self
            .0
            .token()
            .parse()
            .map_err(|_| tonic::Status::internal("the cluster token is not ASCII"))?;
        request.metadata_mut().insert(TOKEN_HEADER, token);
        request
            .metadata_mut()
            .insert(super::protocol::HEADER, super::protocol::spoken().into());
        Ok(request)
    }
}

type Client = NodeClient<InterceptedService<Channel, AddToken>>;

/// A client's peer address, deadline and, on a connection thread, thread.
type ClientKey = (String, Duration, Option<ThreadId>);

/// A channel's tasks (tonic's request buffer, the HTTP/2 connection) run on
/// the runtime that made it, and every call hops to them. A connection
/// thread (a single-threaded runtime, [`crate::pgwire::threads`]) gets
/// channels of its own, so its calls — a point lookup sent to an owner, a
/// replication call — stay on it, instead of waking another thread that
/// may be busy answering its own clients; the multi-threaded runtime's
/// tasks share one channel per peer.
fn own_channel() -> Option<ThreadId> {
    let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
    matches!(flavor, Ok(tokio::runtime::RuntimeFlavor::CurrentThread))
        .then(|| std::thread::current().id())
}

/// The other members, as RPC clients.
pub struct Peers {
    /// This node's id (the `from` of its calls).
    me: String,
    from_ip: IpAddr,
    token: AddToken,
    /// Mutual TLS to every peer, when on.
    tls: Option<Arc<NodeTls>>,
    clients: Mutex<HashMap<ClientKey, Client>>,
}

impl Peers {
    pub fn new(me: &str, from_ip: IpAddr, keyring: Arc<Keyring>) -> Peers {
        Peers {
            me: me.to_string(),
            from_ip,
            token: AddToken(keyring),
            tls: None,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Calls go over mutual TLS with `tls` (none: in the clear).
    pub fn with_tls(mut self, tls: Option<Arc<NodeTls>>) -> Peers {
        self.tls = tls;
        self
    }

    /// The client for the member serving RPC on `addr`.
    fn client(&self, addr: &str) -> Result<Client> {
        self.client_with(addr, CALL_TIMEOUT)
    }

    fn client_with(&self, addr: &str, timeout: Duration) -> Result<Client> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let key = (addr.to_string(), timeout, own_channel());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| Error::internal(format!("RPC address {addr}: {e}")))?
            .local_address(Some(self.from_ip))
            .connect_timeout(Duration::from_secs(1))
            .timeout(timeout)
            .tcp_nodelay(true);
        // A connection whose packets stop arriving (the peer's host lost
        // power, a firewall dropped its state, a long partition) is found
        // dead by an unanswered HTTP/2 ping and replaced at the next call,
        // instead of failing every call on it by timeout until the kernel
        // gives up on it, minutes later.
        #[cfg(not(feature = "sim"))]
        let endpoint = endpoint
            .http2_keep_alive_interval(KEEP_ALIVE_EVERY)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let channel = match &self.tls {
            Some(tls) => tls.channel(endpoint, self.from_ip),
            None => crate::runtime::net::channel(endpoint),
        };
        let client = NodeClient::with_interceptor(channel, self.token.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        clients.insert(key, client.clone());
        Ok(client)
    }

    pub async fn hello(&self, addr: &str) -> Result<HelloReply> {
        let request = HelloRequest {
            from: self.me.clone(),
        };
        let reply = self.client(addr)?.hello(request).await;
        Ok(reply.map_err(|s| self.failed(addr, &s))?.into_inner())
    }

    /// Stores `writes` on the member at `addr`; returns once it holds them
    /// durably.
    pub async fn replicate(&self, addr: &str, writes: &[Write]) -> Result<()> {
        self.replicate_encoded(addr, encode(writes)?).await
    }

    /// [`Peers::replicate`] of writes already encoded.
    pub async fn replicate_encoded(&self, addr: &str, writes: Vec<Vec<u8>>) -> Result<()> {
        let request = Writes {
            from: self.me.clone(),
            writes,
        };
        meter(addr, SENT, request.encoded_len());
        let reply = self.client(addr)?.replicate(request).await;
        reply.map(drop).map_err(|s| self.failed(addr, &s))
    }

    /// Has the member at `addr` hold `writes` for `target`.
    pub async fn hint(&self, addr: &str, target: &str, writes: &[Write]) -> Result<()> {
        let request = HintRequest {
            from: self.me.clone(),
            target: target.to_string(),
            writes: encode(writes)?,
        };
        meter(addr, SENT, request.encoded_len());
        let reply = self.client(addr)?.hint(request).await;
        reply.map(drop).map_err(|s| self.failed(addr, &s))
    }

    /// The subjects of those of `ids` the member at `addr` stores.
    pub async fn locate(&self, addr: &str, ids: &[Id]) -> Result<Vec<(Id, String)>> {
        let request = LocateRequest {
            ids: ids.iter().map(|id| id.0.to_vec()).collect(),
        };
        let reply = self.client(addr)?.locate(request).await;
        let found = reply.map_err(|s| self.failed(addr, &s))?.into_inner().found;
        Ok(found
            .into_iter()
            .filter_map(|l| Some((Id::from_slice(&l.id)?, l.subject)))
            .collect())
    }

    /// Runs a cluster scan on the member at `addr`; its rows as they come.
    pub async fn scan(
        &self,
        addr: &str,
        request: ScanRequest,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let reply = self.client(addr)?.scan(request).await;
        let chunks = reply.map_err(|s| self.failed(addr, &s))?.into_inner();
        let addr = addr.to_string();
        let batches = chunks
            .map(move |chunk| {
                let chunk = chunk.map_err(|s| failed(&addr, &s))?;
                meter(&addr, RECEIVED, chunk.ipc.len());
                decode_batches(&chunk.ipc)
            })
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Ok(Box::pin(batches))
    }

    /// Runs a point lookup on the member at `addr`.
    pub async fn point(&self, addr: &str, request: PointRequest) -> Result<RecordBatch> {
        let reply = self.client(addr)?.point(request).await;
        let chunk = reply.map_err(|s| self.failed(addr, &s))?.into_inner();
        meter(addr, RECEIVED, chunk.ipc.len());
        let mut batches = decode_batches(&chunk.ipc)?;
        match batches.len() {
            1 => Ok(batches.remove(0)),
            n => Err(Error::internal(format!(
                "RPC to {addr}: a point lookup came back as {n} batches"
            ))),
        }
    }

    /// Hashes of the tree of `owners` at `depth` on the member at `addr`
    /// (of `nodes`; all when empty), and the bytes the call moved.
    pub async fn digest(
        &self,
        addr: &str,
        (epoch, owners): (u64, &[String]),
        depth: u32,
        nodes: &[u32],
    ) -> Result<(Vec<Vec<u8>>, usize)> {
        let request = DigestRequest {
            owners: owners.to_vec(),
            depth,
            nodes: nodes.to_vec(),
            epoch,
        };
        let sent = request.encoded_len();
        let reply = self.client(addr)?.digest(request).await;
        let reply = reply.map_err(|s| self.failed(addr, &s))?.into_inner();
        meter(addr, SENT, sent);
        meter(addr, RECEIVED, reply.encoded_len());
        Ok((reply.hashes.clone(), sent + reply.encoded_len()))
    }

    /// The records of `leaves` of the tree of `owners` on the member at
    /// `addr`.
    pub async fn items(&self, addr: &str, owners: &[String], leaves: &[u32]) -> Result<Vec<Item>> {
        let request = ItemsRequest {
            owners: owners.to_vec(),
            leaves: leaves.to_vec(),
        };
        let reply = self.client(addr)?.items(request).await;
        let reply = reply.map_err(|s| self.failed(addr, &s))?.into_inner();
        meter(addr, RECEIVED, reply.encoded_len());
        Ok(reply.items)
    }

    /// The writes behind records the member at `addr` holds.
    pub async fn fetch(
        &self,
        addr: &str,
        claims: Vec<Vec<u8>>,
        retractions: Vec<Vec<u8>>,
    ) -> Result<Vec<Write>> {
        let request = FetchRequest {
            claims,
            retractions,
        };
        let reply = self.client(addr)?.fetch(request).await;
        let reply = reply.map_err(|s| self.failed(addr, &s))?.into_inner();
        meter(addr, RECEIVED, reply.encoded_len());
        let writes = reply.writes;
        writes.iter().map(|w| decode_write(w)).collect()
    }
}

impl Peers {
    /// The layout the member at `addr` holds (`None`: it has none yet).
    /// The catalog digest of the member at `addr`, and its entries when
    /// `mine` differs.
    pub async fn catalog(
        &self,
        addr: &str,
        mine: &[u8; 32],
    ) -> Result<([u8; 32], Vec<crate::storage::CatalogEntry>)> {
        let request = CatalogRequest {
            digest: mine.to_vec(),
        };
        let reply = self.client(addr)?.catalog(request).await;
        let reply = reply.map_err(|s| self.failed(addr, &s))?.into_inner();
        let digest = reply.digest.as_slice().try_into().unwrap_or([0; 32]);
        Ok((digest, super::wire::catalog_from_proto(reply.entries)))
    }

    /// Has the member at `addr` keep `entries` (each if newer).
    pub async fn put_catalog(
        &self,
        addr: &str,
        entries: &[crate::storage::CatalogEntry],
    ) -> Result<()> {
        let request = CatalogEntries {
            digest: Vec::new(),
            entries: super::wire::catalog_to_proto(entries),
        };
        let reply = self.client(addr)?.put_catalog(request).await;
        reply.map(drop).map_err(|s| self.failed(addr, &s))
    }

    /// Tells the member at `addr` what an exchange with it found.
    pub async fn synced(&self, addr: &str, in_sync: bool, repaired: u64) -> Result<()> {
        let report = super::wire::proto::SyncedReport {
            from: self.me.clone(),
            in_sync,
            repaired,
        };
        let reply = self.client(addr)?.synced(report).await;
        reply.map(drop).map_err(|s| self.failed(addr, &s))
    }

    /// The member at `addr`'s closed timestamp, and its newest change
    /// stamped below `bound`.
    pub async fn closed(
        &self,
        addr: &str,
        bound: Option<Hlc>,
        timeout: Duration,
    ) -> Result<(Hlc, Option<String>)> {
        let request = super::wire::proto::ClosedRequest {
            bound: bound.map(|b| b.to_key().to_vec()).unwrap_or_default(),
        };
        let reply = self.client_with(addr, timeout)?.closed(request).await;
        let reply = reply.map_err(|s| self.failed(addr, &s))?.into_inner();
        let closed = Hlc::from_key(&reply.closed)
            .ok_or_else(|| Error::internal(format!("{addr} answered no closed timestamp")))?;
        Ok((closed, Some(reply.newest).filter(|n| !n.is_empty())))
    }

    pub async fn layout(&self, addr: &str) -> Result<Option<Layout>> {
        let reply = self.client(addr)?.get_layout(LayoutRequest {}).await;
        Ok(Layout::from_proto(
            reply.map_err(|s| self.failed(addr, &s))?.into_inner(),
        ))
    }

    /// Has the member at `addr` adopt `layout`; the layout it then holds.
    pub async fn set_layout(&self, addr: &str, layout: &Layout) -> Result<Option<Layout>> {
        let client = self.client_with(addr, STEP_TIMEOUT)?;
        let reply = client.clone().set_layout(layout.to_proto()).await;
        Ok(Layout::from_proto(
            reply.map_err(|s| self.failed(addr, &s))?.into_inner(),
        ))
    }

    /// Has the member at `addr` move its subjects under the layout of
    /// `epoch`; the claims it sent.
    pub async fn move_subjects(&self, addr: &str, epoch: u64) -> Result<u64> {
        let client = self.client_with(addr, STEP_TIMEOUT)?;
        let reply = client.clone().r#move(MoveRequest { epoch }).await;
        Ok(reply.map_err(|s| self.failed(addr, &s))?.into_inner().count)
    }
}

const SENT: &str = "sent";
const RECEIVED: &str = "received";

/// `stemedb_replication_bytes_total{peer, direction}`: the bytes of claims
/// and retractions this node sent to the member at `peer` (its RPC
/// address) — replicated writes and hints — and received from it — scans,
/// point lookups, anti-entropy's digests, records and repairs.
fn meter(peer: &str, direction: &'static str, bytes: usize) {
    metrics::counter!(
        "stemedb_replication_bytes_total",
        "peer" => peer.to_string(),
        "direction" => direction
    )
    .increment(bytes as u64);
}

fn encode(writes: &[Write]) -> Result<Vec<Vec<u8>>> {
    writes.iter().map(encode_write).collect()
}

/// A failed call's error: what the peer said with its SQLSTATE when it
/// sent one (a statement's own error — a bad argument, a limit — stays the
/// client's to see as it is), else an internal error naming the peer.
pub(super) fn failed(addr: &str, status: &tonic::Status) -> Error {
    match super::protocol::sqlstate_of(status) {
        Some(code) => Error::new(code, status.message()),
        None => Error::internal(format!("RPC to {addr}: {}", status.message())),
    }
}

impl Peers {
    /// A failed call's error. A call that timed out or could not reach the
    /// peer also drops the channels to it, so the next call connects
    /// afresh instead of waiting on a connection that may be dead (the
    /// HTTP/2 pings find such a connection too, but only after their
    /// timeout; the simulation, whose clock those pings cannot follow, has
    /// only this).
    fn failed(&self, addr: &str, status: &tonic::Status) -> Error {
        use tonic::Code;
        if matches!(
            status.code(),
            Code::DeadlineExceeded | Code::Unavailable | Code::Cancelled | Code::Unknown
        ) {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            clients.retain(|(to, _, _), _| to != addr);
        }
        failed(addr, status)
    }
}
