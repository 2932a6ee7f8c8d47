//! The storage port. Operations are planned in this crate as a list of [`Op`]s and committed
//! atomically by an adapter (DynamoDB `TransactWriteItems` in production, [`MemoryRepo`] in tests).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::model::Record;
use crate::target::Target;

/// Most items one atomic commit may touch (DynamoDB's `TransactWriteItems` limit).
pub const MAX_TX_ITEMS: usize = 100;

/// An API-key token as stored: found by the SHA-256 of the token, never by the token itself.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub hash: String,
    pub key_id: Target,
    pub roles: Vec<String>,
    /// Unix seconds; `None` means the key does not expire.
    pub expires_at: Option<i64>,
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
    /// Delete a record; fails unless it exists with exactly these counter values.
    Delete {
        id: Target,
        children: i64,
        dependants: i64,
    },
    /// Add to a record's counters; fails if the record does not exist.
    Count {
        id: Target,
        children: i64,
        dependants: i64,
    },
    /// Create the dependency edge `from -> to` (stored in both directions); fails if it exists.
    AddEdge { from: Target, to: Target },
    /// Delete the edge `from -> to`; fails if it does not exist.
    RemoveEdge { from: Target, to: Target },
    /// Store a token; fails if the hash exists.
    AddToken(TokenRecord),
    /// Delete a token; fails if it does not exist.
    RemoveToken { hash: String },
    /// Store pending status changes; fails if the sequence exists.
    AddPending(Pending),
    /// Delete folded pending changes; fails if they do not exist.
    RemovePending { list: Target, seq: String },
}

impl Op {
    /// Items this op touches in storage (an edge is two items).
    pub fn items(&self) -> usize {
        match self {
            Op::AddEdge { .. } | Op::RemoveEdge { .. } => 2,
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
    /// The store could not be reached or failed; nothing is known to be written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
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
    /// The oldest pending changes of `list`, in `seq` order, at most `limit`.
    async fn pending(&self, list: &Target, limit: usize) -> Result<Vec<Pending>, RepoError>;
    /// Applies all ops atomically, or none.
    async fn commit(&self, ops: Vec<Op>) -> Result<(), RepoError>;
}

/// An in-process repository with the same semantics as the DynamoDB adapter, for tests.
#[derive(Default)]
pub struct MemoryRepo {
    state: Mutex<MemState>,
}

#[derive(Default, Clone)]
struct MemState {
    records: BTreeMap<Target, Record>,
    edges: BTreeSet<(Target, Target)>,
    tokens: HashMap<String, TokenRecord>,
    pending: BTreeMap<(Target, String), Pending>,
}

impl MemoryRepo {
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of stored items of every kind (records, edge pairs, tokens), for leak checks in tests.
    pub async fn item_counts(&self) -> (usize, usize, usize) {
        let s = self.state.lock().await;
        (s.records.len(), s.edges.len(), s.tokens.len())
    }
    /// Number of pending status changes not yet folded into their lists.
    pub async fn pending_count(&self) -> usize {
        self.state.lock().await.pending.len()
    }
}

fn apply(state: &mut MemState, index: usize, op: Op) -> Result<(), RepoError> {
    let fail = || RepoError::ConditionFailed { index: Some(index) };
    match op {
        Op::Create(r) => {
            if state.records.contains_key(&r.id) {
                return Err(fail());
            }
            state.records.insert(r.id.clone(), r);
        }
        Op::Replace {
            mut record,
            expected_version,
            children_delta,
        } => {
            let cur = state.records.get(&record.id).ok_or_else(fail)?;
            if cur.version != expected_version {
                return Err(fail());
            }
            record.version = expected_version + 1;
            record.children = cur.children + children_delta;
            record.dependants = cur.dependants;
            record.created_at = cur.created_at.clone();
            state.records.insert(record.id.clone(), record);
        }
        Op::Delete {
            id,
            children,
            dependants,
        } => {
            let cur = state.records.get(&id).ok_or_else(fail)?;
            if cur.children != children || cur.dependants != dependants {
                return Err(fail());
            }
            state.records.remove(&id);
        }
        Op::Count {
            id,
            children,
            dependants,
        } => {
            let cur = state.records.get_mut(&id).ok_or_else(fail)?;
            cur.children += children;
            cur.dependants += dependants;
        }
        Op::AddEdge { from, to } => {
            if !state.edges.insert((from, to)) {
                return Err(fail());
            }
        }
        Op::RemoveEdge { from, to } => {
            if !state.edges.remove(&(from, to)) {
                return Err(fail());
            }
        }
        Op::AddToken(t) => {
            if state.tokens.contains_key(&t.hash) {
                return Err(fail());
            }
            state.tokens.insert(t.hash.clone(), t);
        }
        Op::RemoveToken { hash } => {
            if state.tokens.remove(&hash).is_none() {
                return Err(fail());
            }
        }
        Op::AddPending(p) => {
            let k = (p.list.clone(), p.seq.clone());
            if state.pending.contains_key(&k) {
                return Err(fail());
            }
            state.pending.insert(k, p);
        }
        Op::RemovePending { list, seq } => {
            if state.pending.remove(&(list, seq)).is_none() {
                return Err(fail());
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Repository for MemoryRepo {
    async fn get(&self, id: &Target) -> Result<Option<Record>, RepoError> {
        Ok(self.state.lock().await.records.get(id).cloned())
    }

    async fn get_many(&self, ids: &[Target]) -> Result<Vec<Record>, RepoError> {
        let s = self.state.lock().await;
        Ok(ids
            .iter()
            .filter_map(|id| s.records.get(id).cloned())
            .collect())
    }

    async fn children(
        &self,
        parent: Option<&Target>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, RepoError> {
        let s = self.state.lock().await;
        let mut items: Vec<Record> = s
            .records
            .values()
            .filter(|r| r.id.parent().as_ref() == parent)
            .filter(|r| cursor.is_none_or(|c| r.id.as_str() > c))
            .cloned()
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|r| r.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn dependencies(&self, from: &Target) -> Result<Vec<Target>, RepoError> {
        let s = self.state.lock().await;
        Ok(s.edges
            .iter()
            .filter(|(f, _)| f == from)
            .map(|(_, t)| t.clone())
            .collect())
    }

    async fn dependants(&self, to: &Target) -> Result<Vec<Target>, RepoError> {
        let s = self.state.lock().await;
        let mut v: Vec<Target> = s
            .edges
            .iter()
            .filter(|(_, t)| t == to)
            .map(|(f, _)| f.clone())
            .collect();
        v.sort();
        Ok(v)
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, RepoError> {
        Ok(self.state.lock().await.tokens.get(hash).cloned())
    }

    async fn due(&self, before: i64, limit: usize) -> Result<Vec<Target>, RepoError> {
        let s = self.state.lock().await;
        let mut due: Vec<(i64, Target)> = s
            .records
            .values()
            .filter(|r| r.kind == crate::model::Kind::StatusList)
            .filter_map(|r| {
                r.doc
                    .get("_refreshAt")
                    .and_then(serde_json::Value::as_i64)
                    .map(|at| (at, r.id.clone()))
            })
            .chain(s.pending.values().map(|p| (p.due_at, p.list.clone())))
            .filter(|(at, _)| *at <= before)
            .collect();
        due.sort();
        let mut seen = BTreeSet::new();
        Ok(due
            .into_iter()
            .map(|(_, id)| id)
            .filter(|id| seen.insert(id.clone()))
            .take(limit)
            .collect())
    }

    async fn pending(&self, list: &Target, limit: usize) -> Result<Vec<Pending>, RepoError> {
        let s = self.state.lock().await;
        Ok(s.pending
            .values()
            .filter(|p| &p.list == list)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn commit(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        let mut items = BTreeSet::new();
        for op in &ops {
            let keys: Vec<String> = match op {
                Op::Create(r) => vec![format!("R{}", r.id)],
                Op::Replace { record, .. } => vec![format!("R{}", record.id)],
                Op::Delete { id, .. } | Op::Count { id, .. } => vec![format!("R{id}")],
                Op::AddEdge { from, to } | Op::RemoveEdge { from, to } => {
                    vec![format!("D{from}>{to}"), format!("U{to}<{from}")]
                }
                Op::AddToken(t) => vec![format!("T{}", t.hash)],
                Op::RemoveToken { hash } => vec![format!("T{hash}")],
                Op::AddPending(p) => vec![format!("P{}#{}", p.list, p.seq)],
                Op::RemovePending { list, seq } => vec![format!("P{list}#{seq}")],
            };
            for k in keys {
                if !items.insert(k) {
                    return Err(RepoError::Unavailable(
                        "a transaction cannot include multiple operations on one item".into(),
                    ));
                }
            }
        }
        let mut s = self.state.lock().await;
        let mut next = s.clone();
        for (i, op) in ops.into_iter().enumerate() {
            apply(&mut next, i, op)?;
        }
        *s = next;
        Ok(())
    }
}
