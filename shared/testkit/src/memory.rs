//! An in-process repository with the semantics of the DynamoDB adapter, DynamoDB's limits
//! included, for use-case tests that run in `cargo test` without emulators.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use tokio::sync::Mutex;

use trustfn_domain::model::Record;
use trustfn_domain::repo::{
    Chunk, ListVersion, Op, Page, Pending, Remembered, RepoError, Repository, RevokedEntry,
    TokenRecord, VersionBody, MAX_TX_ITEMS, STORE_TX_ITEMS,
};
use trustfn_domain::target::Target;

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
    claims: HashMap<String, Target>,
    revoked: BTreeMap<(Target, String), i64>,
    chunks: BTreeMap<(Target, u32), Chunk>,
    counters: HashMap<Target, u64>,
    seqs: HashMap<Target, u64>,
    numbers: HashMap<String, u64>,
    remembered: HashMap<(Target, String), Remembered>,
    /// How many times each parent's children were read (for tests of what a use case reads).
    children_reads: HashMap<Option<Target>, usize>,
    audit: BTreeMap<(String, u64), String>,
    audit_heads: HashMap<String, (u64, String)>,
    /// Chains whose head is due for a checkpoint, and from when.
    audit_due: HashMap<String, i64>,
    checkpoints: BTreeMap<(String, u64), String>,
    versions: BTreeMap<(Target, i64), ListVersion>,
}

impl MemoryRepo {
    pub fn new() -> Self {
        Self::default()
    }
    /// Replaces (or, with `None`, removes) a stored audit entry behind the log's back, as an
    /// attacker with table access would.
    pub async fn tamper_audit(&self, chain: &str, seq: u64, text: Option<String>) {
        let mut s = self.state.lock().await;
        match text {
            Some(t) => s.audit.insert((chain.to_owned(), seq), t),
            None => s.audit.remove(&(chain.to_owned(), seq)),
        };
    }
    /// Moves an audit chain's head behind the log's back.
    pub async fn tamper_audit_head(&self, chain: &str, seq: u64, hash: &str) {
        let mut s = self.state.lock().await;
        s.audit_heads
            .insert(chain.to_owned(), (seq, hash.to_owned()));
    }
    /// How many pages of `parent`'s children have been read so far.
    pub async fn children_reads(&self, parent: &Target) -> usize {
        let s = self.state.lock().await;
        s.children_reads
            .get(&Some(parent.clone()))
            .copied()
            .unwrap_or(0)
    }
    /// Number of stored items of every kind (records, edge pairs, tokens), for leak checks in tests.
    pub async fn item_counts(&self) -> (usize, usize, usize) {
        let s = self.state.lock().await;
        (s.records.len(), s.edges.len(), s.tokens.len())
    }
    /// Who holds a claimed name.
    pub async fn claim(&self, name: &str) -> Option<Target> {
        self.state.lock().await.claims.get(name).cloned()
    }
    /// The largest chunk stored (bytes) and the number of chunks, for size checks in tests.
    pub async fn chunk_stats(&self) -> (usize, usize) {
        let s = self.state.lock().await;
        let largest = s.chunks.values().map(|c| c.data.len()).max().unwrap_or(0);
        (largest, s.chunks.len())
    }
    /// Number of pending status changes not yet folded into their lists.
    pub async fn pending_count(&self) -> usize {
        self.state.lock().await.pending.len()
    }
}

/// DynamoDB's largest item.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// A record's size as the DynamoDB adapter stores it (attribute names and values), a close
/// lower bound of DynamoDB's own count.
pub fn item_size(r: &Record) -> usize {
    let parent = r.id.parent().map_or(0, |p| p.as_str().len());
    let strings = [
        ("pk", 2 + parent),
        ("sk", r.id.as_str().len()),
        ("_id", r.id.as_str().len()),
        ("parent", parent),
        ("type", r.kind().as_str().len()),
        ("doc", r.doc.to_stored().to_string().len()),
        ("createdAt", r.created_at.len()),
    ];
    let numbers = ["version", "children", "dependants"];
    strings.iter().map(|(k, v)| k.len() + v).sum::<usize>()
        + numbers.iter().map(|k| k.len() + 8).sum::<usize>()
}

/// A chunk item's size as the DynamoDB adapter stores it.
pub fn chunk_size(list: &Target, data: &[u8]) -> usize {
    ("pk".len() + 2 + list.as_str().len()) + ("sk".len() + 8) + ("b".len() + data.len()) + 9
}

/// A pending item's size as the DynamoDB adapter stores it (each change `index:value,`).
pub fn pending_size(p: &Pending) -> usize {
    let changes: usize = p
        .changes
        .iter()
        .map(|(i, v)| i.to_string().len() + v.to_string().len() + 2)
        .sum();
    ("pk".len() + 2 + p.list.as_str().len())
        + ("sk".len() + p.seq.len())
        + ("changes".len() + changes)
        + ("rpk".len() + 6)
        + ("rat".len() + 8)
        + p.by.as_ref().map_or(0, |b| "by".len() + b.len())
}

/// A kept version's item size as the DynamoDB adapter stores it.
pub fn version_size(v: &ListVersion) -> usize {
    let body = match &v.body {
        VersionBody::Inline(b) => "b".len() + b.len(),
        VersionBody::Object { url, sha256 } => "url".len() + url.len() + "tag".len() + sha256.len(),
    };
    ("pk".len() + 2 + v.list.as_str().len())
        + ("sk".len() + 12)
        + ("exp".len() + 8)
        + ("tl".len() + 8)
        + ("ct".len() + v.content_type.len())
        + ("ttl".len() + 8)
        + body
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
            version,
        } => {
            let cur = state.records.get(&id).ok_or_else(fail)?;
            if cur.children != children
                || cur.dependants != dependants
                || version.is_some_and(|v| cur.version != v)
            {
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
        Op::Touch { id } => {
            state.records.get_mut(&id).ok_or_else(fail)?.version += 1;
        }
        Op::Check { id, version } => {
            if state.records.get(&id).map(|r| r.version) != Some(version) {
                return Err(fail());
            }
        }
        Op::Remember(r) => {
            let k = (r.scope.clone(), r.key.clone());
            let now = chrono::Utc::now().timestamp();
            if state
                .remembered
                .get(&k)
                .is_some_and(|old| old.expires_at > now)
            {
                return Err(fail());
            }
            state.remembered.insert(k, r);
        }
        Op::Settle(r) => {
            let k = (r.scope.clone(), r.key.clone());
            let claimed = state.remembered.get(&k).is_some_and(|old| {
                old.outcome == trustfn_domain::repo::CLAIMED && old.request == r.request
            });
            if !claimed {
                return Err(fail());
            }
            state.remembered.insert(k, r);
        }
        Op::PutChunk {
            list,
            no,
            data,
            expected_version,
        } => {
            let cur = state
                .chunks
                .get(&(list.clone(), no))
                .map_or(0, |c| c.version);
            if cur != expected_version {
                return Err(fail());
            }
            let version = expected_version + 1;
            state.chunks.insert((list, no), Chunk { no, data, version });
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
        Op::ReplaceToken(t) => {
            if !state.tokens.contains_key(&t.hash) {
                return Err(fail());
            }
            state.tokens.insert(t.hash.clone(), t);
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
        Op::Claim { name, owner } => {
            if state.claims.contains_key(&name) {
                return Err(fail());
            }
            state.claims.insert(name, owner);
        }
        Op::Release { name, owner } => {
            if state.claims.get(&name).is_some_and(|o| o != &owner) {
                return Err(fail());
            }
            state.claims.remove(&name);
        }
        Op::AddRevoked { iaca, entry } => {
            let k = (iaca, entry.serial);
            if state.revoked.contains_key(&k) {
                return Err(fail());
            }
            state.revoked.insert(k, entry.revoked_at);
        }
        Op::DropRevoked { iaca, serial } => {
            state.revoked.remove(&(iaca, serial));
        }
        Op::AppendAudit(a) => {
            let at = state.audit_heads.get(&a.chain).map_or(0, |h| h.0);
            if at + 1 != a.seq || state.audit.contains_key(&(a.chain.clone(), a.seq)) {
                return Err(fail());
            }
            state.audit.insert((a.chain.clone(), a.seq), a.text);
            state.audit_due.insert(a.chain.clone(), a.checkpoint_at);
            state.audit_heads.insert(a.chain, (a.seq, a.hash));
        }
        Op::PutCheckpoint(c) => {
            let k = (c.chain, c.seq);
            if state.checkpoints.contains_key(&k) {
                return Err(fail());
            }
            state.checkpoints.insert(k, c.jws);
        }
        Op::CheckpointTaken { chain, seq } => {
            if state.audit_heads.get(&chain).is_none_or(|h| h.0 != seq) {
                return Err(fail());
            }
            state.audit_due.remove(&chain);
        }
        Op::KeepVersion(v) => {
            state.versions.insert((v.list.clone(), v.issued_at), v);
        }
        Op::Audit(_) => {}
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
        let mut s = self.state.lock().await;
        *s.children_reads.entry(parent.cloned()).or_default() += 1;
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
            .filter_map(|r| r.refresh_at().map(|at| (at, r.id.clone())))
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

    async fn next_seq(&self, list: &Target) -> Result<u64, RepoError> {
        let mut s = self.state.lock().await;
        let n = s.seqs.entry(list.clone()).or_insert(0);
        *n += 1;
        Ok(*n)
    }

    async fn next_number(&self, series: &str) -> Result<u64, RepoError> {
        let mut s = self.state.lock().await;
        let n = s.numbers.entry(series.to_owned()).or_insert(0);
        *n += 1;
        Ok(*n)
    }

    async fn raise_number(&self, series: &str, at_least: u64) -> Result<(), RepoError> {
        let mut s = self.state.lock().await;
        let n = s.numbers.entry(series.to_owned()).or_insert(0);
        *n = (*n).max(at_least);
        Ok(())
    }

    async fn has_pending(&self, list: &Target, seq: &str) -> Result<bool, RepoError> {
        let s = self.state.lock().await;
        Ok(s.pending.contains_key(&(list.clone(), seq.to_owned())))
    }

    async fn list_version(
        &self,
        list: &Target,
        at: Option<i64>,
    ) -> Result<Option<ListVersion>, RepoError> {
        let s = self.state.lock().await;
        let until = at.unwrap_or(i64::MAX);
        Ok(s.versions
            .range((list.clone(), i64::MIN)..=(list.clone(), until))
            .next_back()
            .map(|(_, v)| v.clone()))
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

    async fn remembered(&self, scope: &Target, key: &str) -> Result<Option<Remembered>, RepoError> {
        let s = self.state.lock().await;
        let now = chrono::Utc::now().timestamp();
        Ok(s.remembered
            .get(&(scope.clone(), key.to_owned()))
            .filter(|r| r.expires_at > now)
            .cloned())
    }

    async fn chunks(&self, list: &Target, nos: &[u32]) -> Result<Vec<Chunk>, RepoError> {
        let s = self.state.lock().await;
        Ok(nos
            .iter()
            .filter_map(|no| s.chunks.get(&(list.clone(), *no)).cloned())
            .collect())
    }

    async fn audit_head(&self, chain: &str) -> Result<Option<(u64, String)>, RepoError> {
        Ok(self.state.lock().await.audit_heads.get(chain).cloned())
    }

    async fn audit_due(&self, before: i64, limit: usize) -> Result<Vec<String>, RepoError> {
        let s = self.state.lock().await;
        let mut due: Vec<(i64, String)> = s
            .audit_due
            .iter()
            .filter(|(_, at)| **at <= before)
            .map(|(c, at)| (*at, c.clone()))
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, c)| c).collect())
    }

    async fn audit_checkpoints(
        &self,
        chain: &str,
        below: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, RepoError> {
        let s = self.state.lock().await;
        Ok(s.checkpoints
            .range((chain.to_owned(), 0)..(chain.to_owned(), below.unwrap_or(u64::MAX)))
            .rev()
            .take(limit)
            .map(|((_, seq), jws)| (*seq, jws.clone()))
            .collect())
    }

    async fn audit_entries(
        &self,
        chain: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<String>, RepoError> {
        let s = self.state.lock().await;
        Ok(s.audit
            .range((chain.to_owned(), after + 1)..=(chain.to_owned(), u64::MAX))
            .take(limit)
            .map(|(_, t)| t.clone())
            .collect())
    }

    async fn revoked(&self, iaca: &Target) -> Result<Vec<RevokedEntry>, RepoError> {
        let s = self.state.lock().await;
        Ok(s.revoked
            .iter()
            .filter(|((i, _), _)| i == iaca)
            .map(|((_, serial), at)| RevokedEntry {
                serial: serial.clone(),
                revoked_at: *at,
            })
            .collect())
    }

    async fn all_chunks(&self, list: &Target) -> Result<Vec<Chunk>, RepoError> {
        let s = self.state.lock().await;
        Ok(s.chunks
            .range((list.clone(), 0)..=(list.clone(), u32::MAX))
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn reserve(
        &self,
        list: &Target,
        count: u64,
        limit: u64,
    ) -> Result<Option<u64>, RepoError> {
        let mut s = self.state.lock().await;
        let n = s.counters.entry(list.clone()).or_insert(0);
        if count > limit || *n > limit - count {
            return Ok(None);
        }
        let start = *n;
        *n += count;
        Ok(Some(start))
    }

    async fn reserved(&self, list: &Target) -> Result<u64, RepoError> {
        Ok(self
            .state
            .lock()
            .await
            .counters
            .get(list)
            .copied()
            .unwrap_or(0))
    }

    async fn purge_list(&self, list: &Target) -> Result<usize, RepoError> {
        let mut s = self.state.lock().await;
        let count = |s: &MemState| {
            s.chunks.len() + s.pending.len() + s.counters.len() + s.seqs.len() + s.versions.len()
        };
        let before = count(&s);
        s.chunks.retain(|(l, _), _| l != list);
        s.pending.retain(|(l, _), _| l != list);
        s.counters.remove(list);
        s.seqs.remove(list);
        s.versions.retain(|(l, _), _| l != list);
        Ok(before - count(&s))
    }

    async fn commit(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        let mut items = BTreeSet::new();
        for op in &ops {
            let keys: Vec<String> = match op {
                Op::Create(r) => vec![format!("R{}", r.id)],
                Op::Replace { record, .. } => vec![format!("R{}", record.id)],
                Op::Delete { id, .. }
                | Op::Count { id, .. }
                | Op::Touch { id }
                | Op::Check { id, .. } => {
                    vec![format!("R{id}")]
                }
                Op::AddEdge { from, to } | Op::RemoveEdge { from, to } => {
                    vec![format!("D{from}>{to}"), format!("U{to}<{from}")]
                }
                Op::AddToken(t) => vec![format!("T{}", t.hash)],
                Op::RemoveToken { hash } | Op::ReplaceToken(TokenRecord { hash, .. }) => {
                    vec![format!("T{hash}")]
                }
                Op::AddPending(p) => vec![format!("P{}#{}", p.list, p.seq)],
                Op::RemovePending { list, seq } => vec![format!("P{list}#{seq}")],
                Op::Claim { name, .. } | Op::Release { name, .. } => vec![format!("C{name}")],
                Op::AddRevoked {
                    iaca,
                    entry: RevokedEntry { serial, .. },
                }
                | Op::DropRevoked { iaca, serial } => vec![format!("V{iaca}#{serial}")],
                Op::PutChunk { list, no, .. } => vec![format!("S{list}#{no}")],
                Op::Remember(r) | Op::Settle(r) => vec![format!("I{}#{}", r.scope, r.key)],
                Op::AppendAudit(a) => {
                    vec![format!("L{}#{}", a.chain, a.seq), format!("H{}", a.chain)]
                }
                Op::PutCheckpoint(c) => vec![format!("K{}#{}", c.chain, c.seq)],
                Op::CheckpointTaken { chain, .. } => vec![format!("H{chain}")],
                Op::KeepVersion(v) => vec![format!("H{}#{}", v.list, v.issued_at)],
                Op::Audit(_) => vec![],
            };
            for k in keys {
                if !items.insert(k) {
                    return Err(RepoError::Unavailable(
                        "a transaction cannot include multiple operations on one item".into(),
                    ));
                }
            }
        }
        // DynamoDB's limits, as the adapter meets them: 100 items per transaction, 400 KB per
        // item; of the 100, a use case may take 98 (the audit entry takes the other two).
        let audit_items = ops
            .iter()
            .filter(|o| matches!(o, Op::AppendAudit(_)))
            .count()
            * 2;
        if items.len() > STORE_TX_ITEMS || items.len() - audit_items > MAX_TX_ITEMS {
            return Err(RepoError::Unavailable(format!(
                "a transaction of {} items ({audit_items} of them audit) exceeds DynamoDB's {STORE_TX_ITEMS}, or {MAX_TX_ITEMS} for a use case",
                items.len()
            )));
        }
        for op in &ops {
            let (size, id) = match op {
                Op::Create(r) | Op::Replace { record: r, .. } => (item_size(r), r.id.to_string()),
                Op::PutChunk { list, data, .. } => (chunk_size(list, data), list.to_string()),
                Op::AddPending(p) => (pending_size(p), p.list.to_string()),
                Op::KeepVersion(v) => (version_size(v), v.list.to_string()),
                _ => continue,
            };
            if size > MAX_ITEM_BYTES {
                return Err(RepoError::Unavailable(format!(
                    "Item size has exceeded the maximum allowed size ({size} bytes, {id})"
                )));
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

#[cfg(test)]
mod tests {
    use super::*;
    use trustfn_domain::model::Tenant;

    fn t(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    #[tokio::test]
    async fn enforces_dynamodbs_transaction_and_item_limits() {
        let repo = MemoryRepo::new();
        let tenant = |i: usize, name: String| {
            Op::Create(Record::new(
                t(&format!("acme.t{i}")),
                Tenant {
                    name,
                    configuration: None,
                },
            ))
        };
        // A use case may take 98 items; the audit entry the other two of DynamoDB's 100.
        let most: Vec<Op> = (0..MAX_TX_ITEMS).map(|i| tenant(i, "x".into())).collect();
        repo.commit(most).await.unwrap();
        let too_many: Vec<Op> = (100..100 + MAX_TX_ITEMS + 1)
            .map(|i| tenant(i, "x".into()))
            .collect();
        let e = repo.commit(too_many).await.unwrap_err();
        assert!(e.to_string().contains("exceeds"), "{e}");
        assert_eq!(
            repo.item_counts().await.0,
            MAX_TX_ITEMS,
            "nothing of the failed commit is written"
        );
        // Edges are two items each: 49 edges fit, 50 do not.
        let edges = |n: usize| -> Vec<Op> {
            (0..n)
                .map(|i| Op::AddEdge {
                    from: t("acme.t0.a"),
                    to: t(&format!("acme.t0.s{i}")),
                })
                .collect()
        };
        assert!(repo.commit(edges(50)).await.is_err());
        repo.commit(edges(49)).await.unwrap();
        let big = tenant(999, "x".repeat(MAX_ITEM_BYTES));
        let e = repo.commit(vec![big]).await.unwrap_err();
        assert!(e.to_string().contains("Item size"), "{e}");
    }
}
