//! The storage port. Operations are planned in this crate as a list of [`Op`]s and committed
//! atomically by an adapter (DynamoDB `TransactWriteItems` in production, `trustfn_testkit::MemoryRepo` in tests).

use async_trait::async_trait;

use crate::auth::Creator;
use crate::error::ApiError;
use crate::model::Record;
use crate::target::Target;

/// Most items one atomic commit may touch (DynamoDB's `TransactWriteItems` limit).
pub const STORE_TX_ITEMS: usize = 100;

/// Most items a use case may put in one commit: the rest is for the commit's audit entry
/// ([`Op::AppendAudit`], two items).
pub const MAX_TX_ITEMS: usize = STORE_TX_ITEMS - 2;

/// An API-key token as stored: found by the SHA-256 of the token, never by the token itself.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub hash: String,
    pub key_id: Target,
    /// The roles the key holds, each `<role id>#<role uid>` (just the id for keys created
    /// before roles had uids: those hold the role only while it has none).
    pub roles: Vec<String>,
    /// Unix seconds; `None` means the key does not expire.
    pub expires_at: Option<i64>,
    /// The keys that created this one (see [`crate::auth::Delegation`]).
    pub lineage: Vec<Creator>,
}

/// Status changes of one update request, waiting for the publisher of their list to fold them
/// into the list (write-only, so concurrent updates never contend for the list record).
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub list: Target,
    /// Orders the changes of one list: folded in ascending order, so a later update wins.
    pub seq: String,
    /// (index, status) pairs.
    pub changes: Vec<(u32, u8)>,
    /// Unix seconds after which the scheduled refresh folds and publishes it if nobody did.
    pub due_at: i64,
    /// Who made the change, and in which request (`<actor> <request id>`), for the audit entry
    /// of the fold that takes it in; `None` for changes stored before it was kept.
    pub by: Option<String>,
}

/// One fixed-size piece of a status list's packed statuses, as stored (the status crate
/// compresses it; storage treats it as opaque bytes). A list's statuses are its chunks in
/// order; a chunk never stored is all zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub no: u32,
    pub data: Vec<u8>,
    /// Bumped by every write; 0 for a chunk never stored.
    pub version: u64,
}

/// A published status list token, kept so `GET .../status-lists/{listId}?time=` can answer the
/// version valid at a past moment. Written with the release that records its publish.
#[derive(Debug, Clone, PartialEq)]
pub struct ListVersion {
    pub list: Target,
    /// The token's `iat` and `exp` (Unix seconds) and its `ttl` (seconds a consumer may cache it).
    pub issued_at: i64,
    pub expires_at: i64,
    pub ttl: u64,
    pub content_type: String,
    pub body: VersionBody,
    /// Unix seconds after which it is no longer answered (the history's retention); DynamoDB TTL
    /// removes the item some time after.
    pub keep_until: i64,
}

/// Where a kept version's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionBody {
    /// In the version's own item (tokens up to [`INLINE_VERSION_BYTES`]).
    Inline(Vec<u8>),
    /// A larger token: a public registry URL of an object that holds exactly these bytes (the
    /// endpoint redirects to it), and their SHA-256, hex (the entity tag).
    Object { url: String, sha256: String },
}

/// Largest token kept in its version item: a write of at most 32 write units whatever the
/// list's size; a larger token is kept as a registry object (one request, whatever its size).
pub const INLINE_VERSION_BYTES: usize = 32 * 1024;

/// The outcome of a key claimed by a request that is still running.
pub const CLAIMED: &str = "claimed";

/// The remembered outcome of a request sent with an `Idempotency-Key`: a retry with the same key
/// gets the same answer instead of acting again.
#[derive(Debug, Clone, PartialEq)]
pub struct Remembered {
    /// What the request acted on (a status configuration).
    pub scope: Target,
    pub key: String,
    /// The request's fingerprint: the same key with another request is refused.
    pub request: String,
    /// Enough to rebuild the answer (small: never the answer itself).
    pub outcome: String,
    /// Unix seconds after which the key is forgotten (DynamoDB TTL removes the item).
    pub expires_at: i64,
}

/// One write of an atomic commit. Every write carries a condition; if any fails, nothing is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Create a record; fails if the id exists.
    Create(Record),
    /// Replace a record's document (and add `children_delta` to its children counter); fails
    /// unless the stored version is `expected_version`. The stored version becomes
    /// `expected_version + 1`.
    Replace {
        record: Record,
        expected_version: u64,
        children_delta: i64,
    },
    /// Delete a record; fails unless it exists with exactly these counter values and, when
    /// given, this version (so a dependency added from it, or a replaced document, since it was
    /// read stops the delete instead of leaving an edge from a record that is gone).
    Delete {
        id: Target,
        children: i64,
        dependants: i64,
        version: Option<u64>,
    },
    /// Add to a record's counters; fails if the record does not exist.
    Count {
        id: Target,
        children: i64,
        dependants: i64,
    },
    /// Write nothing; fail unless the record exists with this version (fences writes of other
    /// items, such as status chunks, by the record that owns them).
    Check { id: Target, version: u64 },
    /// Bump a record's version without changing it; fails if the record does not exist. A
    /// commit that adds an edge from a record touches it, so a concurrent delete of that record
    /// (which expects the version it read) fails.
    Touch { id: Target },
    /// Create the dependency edge `from -> to` (stored in both directions); fails if it exists.
    AddEdge { from: Target, to: Target },
    /// Delete the edge `from -> to`; fails if it does not exist.
    RemoveEdge { from: Target, to: Target },
    /// Store a token; fails if the hash exists.
    AddToken(TokenRecord),
    /// Delete a token; fails if it does not exist.
    RemoveToken { hash: String },
    /// Replace a token (its roles); fails if it does not exist.
    ReplaceToken(TokenRecord),
    /// Store pending status changes; fails if the sequence exists.
    AddPending(Pending),
    /// Delete folded pending changes; fails if they do not exist.
    RemovePending { list: Target, seq: String },
    /// Store a chunk of a list's statuses; fails unless the stored chunk's version is
    /// `expected_version` (0: no chunk stored). The stored version becomes `expected_version + 1`.
    PutChunk {
        list: Target,
        no: u32,
        data: Vec<u8>,
        expected_version: u64,
    },
    /// Remember an idempotent request's outcome (or claim its key: outcome [`CLAIMED`]); fails
    /// if the key is remembered (or claimed) and not expired.
    Remember(Remembered),
    /// Replace the claim of a key by the request's outcome (and expiry); fails unless the key is
    /// claimed ([`CLAIMED`]) for the same request.
    Settle(Remembered),
    /// Claim a unique name (for example an adopted KMS key's ARN) for `owner`; fails if anyone
    /// holds it.
    Claim { name: String, owner: Target },
    /// Give a name back; fails if someone other than `owner` holds it (a name nobody holds is
    /// given back trivially: records adopted before claims existed hold none).
    Release { name: String, owner: Target },
    /// Enter a revocation in the compact set of the IACA at `iaca` (what its CRL lists, read
    /// without the issued records); fails if the serial is entered already. Written in the
    /// transaction that records the revocation on the certificate's record.
    AddRevoked { iaca: Target, entry: RevokedEntry },
    /// Take a serial out of the IACA's set, with the certificate's record; nothing if absent
    /// (records revoked before the set existed have no entry).
    DropRevoked { iaca: Target, serial: String },
    /// Append an entry to an audit chain: the entry item, and the chain's head moved to it;
    /// fails unless the head is at the entry's previous sequence number.
    AppendAudit(AuditAppend),
    /// Store a signed checkpoint of a chain's head; fails if that sequence number has one.
    PutCheckpoint(CheckpointItem),
    /// The chain's head is no longer due for a checkpoint; fails unless it is still at `seq` (a
    /// later entry made it due again).
    CheckpointTaken { chain: String, seq: u64 },
    /// Keep a published status list token (overwrites a version with the same `iat`).
    KeepVersion(ListVersion),
    /// What the audit entry of this commit records besides what its other ops show (a
    /// publish's number and hash, the status changes a fold took in). Writes nothing; the
    /// auditing repository turns it into the entry.
    Audit(Vec<serde_json::Map<String, serde_json::Value>>),
}

/// An entry appended to an audit chain (see `crate::audit`).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditAppend {
    /// An organization id, or `admin`.
    pub chain: String,
    pub seq: u64,
    /// The entry's `entryHash`, kept on the head.
    pub hash: String,
    /// The entry's canonical JSON, as stored and answered.
    pub text: String,
    /// Unix seconds after which storage may drop it (the retention period).
    pub expires_at: Option<i64>,
    /// Unix seconds from which the chain's new head is due for a signed checkpoint.
    pub checkpoint_at: i64,
}

/// A signed checkpoint of an audit chain's head (see `crate::audit::checkpoint`).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointItem {
    pub chain: String,
    pub seq: u64,
    /// The compact JWS.
    pub jws: String,
    pub expires_at: Option<i64>,
}

/// One entry of an IACA's revoked set: a certificate's serial number (lower-case hex, as the
/// record's id) and the revocation date its CRL entry carries (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: String,
    pub revoked_at: i64,
}

impl Op {
    /// Items this op touches in storage (an edge is two items).
    pub fn items(&self) -> usize {
        match self {
            Op::AddEdge { .. } | Op::RemoveEdge { .. } | Op::AppendAudit(_) => 2,
            Op::Audit(_) => 0,
            _ => 1,
        }
    }
}

/// A page of records.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Record>,
    /// Opaque cursor for the next page; `None` on the last page.
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A condition of the commit failed; nothing was written. `index` is the failing op when the
    /// store tells which one.
    #[error("condition failed (op {index:?})")]
    ConditionFailed { index: Option<usize> },
    /// A concurrent transaction touched the same items; nothing was written.
    #[error("transaction conflict")]
    TransactionConflict,
    /// The cursor given to a list call is not one we issued.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A stored record does not parse: a logged 500 naming the record, never a default.
    #[error("record {id} is corrupt: {reason}")]
    Corrupt { id: String, reason: String },
    /// The store could not be reached or failed; nothing is known to be written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// Storage failures that no operation handles specially. Details go to the log only.
impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> ApiError {
        match e {
            RepoError::InvalidCursor => ApiError::validation("cursor is not valid for this list"),
            RepoError::TransactionConflict => ApiError::conflict(
                "a concurrent change touched the same resources; nothing was written, retry",
            ),
            RepoError::ConditionFailed { .. } => {
                ApiError::conflict("the resource changed concurrently; nothing was written, retry")
            }
            RepoError::Corrupt { .. } => ApiError::internal(&e),
            RepoError::Unavailable(detail) => ApiError::upstream("storage").with_cause(detail),
        }
    }
}

#[async_trait]
pub trait Repository: Send + Sync {
    async fn get(&self, id: &Target) -> Result<Option<Record>, RepoError>;
    /// Records by id, in the order given; missing ones are left out.
    async fn get_many(&self, ids: &[Target]) -> Result<Vec<Record>, RepoError>;
    /// Immediate children of `parent` (or the organizations when `parent` is `None`), ordered by id.
    async fn children(
        &self,
        parent: Option<&Target>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, RepoError>;
    /// Targets `from` depends on, ordered.
    async fn dependencies(&self, from: &Target) -> Result<Vec<Target>, RepoError>;
    /// Targets that depend on `to`, ordered.
    async fn dependants(&self, to: &Target) -> Result<Vec<Target>, RepoError>;
    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, RepoError>;
    /// Status lists whose `_refreshAt` (Unix seconds, in the document) or one of whose pending
    /// changes' `due_at` is at or before `before`, soonest first, each once, at most `limit`.
    /// Served by an index, never a scan.
    async fn due(&self, before: i64, limit: usize) -> Result<Vec<Target>, RepoError>;
    /// The next number of `list`'s change sequence (1, 2, ...): an atomic counter, one small
    /// write. Pending changes are named by it, so they are folded in the order DynamoDB handed
    /// out their numbers, never by an instance's clock.
    async fn next_seq(&self, list: &Target) -> Result<u64, RepoError>;
    /// The next number of the series `series` (1, 2, ...): an atomic counter in an item of its
    /// own that no delete removes (a VICAL service's `vicalIssueID`s are never handed out twice,
    /// even to a service created again at the same path). One small write.
    async fn next_number(&self, series: &str) -> Result<u64, RepoError>;
    /// Raises the series `series` to at least `at_least`, so [`Repository::next_number`] hands
    /// out numbers above it (a number found published elsewhere is a floor). Never lowers it.
    /// One small conditional write.
    async fn raise_number(&self, series: &str, at_least: u64) -> Result<(), RepoError>;
    /// Whether the pending changes `seq` of `list` are still waiting to be folded.
    async fn has_pending(&self, list: &Target, seq: &str) -> Result<bool, RepoError>;
    /// The oldest pending changes of `list`, in `seq` order, at most `limit`.
    async fn pending(&self, list: &Target, limit: usize) -> Result<Vec<Pending>, RepoError>;
    /// The stored chunks of `list` among `nos`, in the order given; chunks never stored are left out.
    async fn chunks(&self, list: &Target, nos: &[u32]) -> Result<Vec<Chunk>, RepoError>;
    /// Every stored chunk of `list`, by number.
    async fn all_chunks(&self, list: &Target) -> Result<Vec<Chunk>, RepoError>;
    /// The revoked set of the IACA at `iaca` (see [`Op::AddRevoked`]), by serial: reads as many
    /// small items as there are revocations, whatever the IACA issued. Strongly consistent.
    async fn revoked(&self, iaca: &Target) -> Result<Vec<RevokedEntry>, RepoError>;
    /// Atomically takes `count` positions of `list`'s allocation counter if it then stays at most
    /// `limit`: returns the counter's value before (the first position taken), or `None` when
    /// fewer than `count` are left. One small write whatever the list's size.
    async fn reserve(
        &self,
        list: &Target,
        count: u64,
        limit: u64,
    ) -> Result<Option<u64>, RepoError>;
    /// The allocation counter of `list` (0 before its first allocation).
    async fn reserved(&self, list: &Target) -> Result<u64, RepoError>;
    /// Removes what a deleted list leaves besides its record (chunks, counters, pending changes),
    /// in commits of at most [`MAX_TX_ITEMS`]; returns how many items went.
    async fn purge_list(&self, list: &Target) -> Result<usize, RepoError>;
    /// The remembered outcome of `key` in `scope`, if any and not expired.
    async fn remembered(&self, scope: &Target, key: &str) -> Result<Option<Remembered>, RepoError>;
    /// The head of an audit chain: its last sequence number and entry hash (none before the
    /// first entry). Strongly consistent.
    async fn audit_head(&self, chain: &str) -> Result<Option<(u64, String)>, RepoError>;
    /// Entries of an audit chain after sequence number `after`, in order, at most `limit`: their
    /// stored canonical JSON.
    async fn audit_entries(
        &self,
        chain: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<String>, RepoError>;
    /// Audit chains whose head is due for a signed checkpoint at or before `before` (Unix
    /// seconds), at most `limit`. Served by an index, never a scan.
    async fn audit_due(&self, before: i64, limit: usize) -> Result<Vec<String>, RepoError>;
    /// A chain's signed checkpoints, newest first, below sequence number `below` (all when
    /// `None`), at most `limit`: (sequence number, compact JWS).
    async fn audit_checkpoints(
        &self,
        chain: &str,
        below: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, RepoError>;
    /// The newest kept version of `list` issued at or before `at` (the newest of all without).
    async fn list_version(
        &self,
        list: &Target,
        at: Option<i64>,
    ) -> Result<Option<ListVersion>, RepoError>;
    /// Applies all ops atomically, or none.
    async fn commit(&self, ops: Vec<Op>) -> Result<(), RepoError>;
}
