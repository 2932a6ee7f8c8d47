//! A repository that meters what a use case costs: the bytes of every item it writes (as
//! DynamoDB sizes them; a delete or a conditional touch counts 64) and the read calls it makes,
//! around a [`MemoryRepo`], optionally with a round trip's latency on each call. The benchmarks
//! read their per-call figures from it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use trustfn_domain::model::Record;
use trustfn_domain::repo::{
    AuditAppend, Chunk, Op, Page, Pending, Remembered, RepoError, Repository, RevokedEntry,
    TokenRecord,
};
use trustfn_domain::target::Target;

use crate::memory::{chunk_size, item_size, pending_size, MemoryRepo};

#[derive(Default)]
pub struct Metered {
    pub inner: MemoryRepo,
    bytes: AtomicUsize,
    largest: AtomicUsize,
    reads: AtomicUsize,
    failed: AtomicUsize,
    /// Of `bytes`: the audit log's (entries, chain heads, the author of each pending change).
    audit_bytes: AtomicUsize,
    /// How long each read call and each commit takes (zero: as fast as memory).
    latency: (Duration, Duration),
}

impl Metered {
    pub fn new(inner: MemoryRepo) -> Metered {
        Metered {
            inner,
            ..Metered::default()
        }
    }

    fn add(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.largest.fetch_max(n, Ordering::Relaxed);
    }

    /// Each read call then takes `read`, each commit `write`: a model of a remote table's round
    /// trips, so concurrent callers interleave as they do against DynamoDB.
    pub fn with_latency(mut self, read: Duration, write: Duration) -> Metered {
        self.latency = (read, write);
        self
    }

    async fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        if !self.latency.0.is_zero() {
            tokio::time::sleep(self.latency.0).await;
        }
    }

    /// The bytes written since the last call.
    pub fn take(&self) -> usize {
        self.bytes.swap(0, Ordering::Relaxed)
    }

    /// The read calls made since the last call.
    pub fn take_reads(&self) -> usize {
        self.reads.swap(0, Ordering::Relaxed)
    }

    /// The commits refused (a condition failed, a race lost) since the last call.
    pub fn take_failed(&self) -> usize {
        self.failed.swap(0, Ordering::Relaxed)
    }

    /// Of the bytes written since the last call, the audit log's.
    pub fn take_audit(&self) -> usize {
        self.audit_bytes.swap(0, Ordering::Relaxed)
    }

    /// The largest item written so far.
    pub fn largest(&self) -> usize {
        self.largest.load(Ordering::Relaxed)
    }
}

/// The two items an audit append writes, as the DynamoDB adapter stores them: the entry
/// (`L#<chain>`, its 20-digit sequence key, the entry text, its expiry) and the chain's head
/// (`H#<chain>`: sequence number, entry hash, checkpoint partition and time).
pub fn audit_append_size(a: &AuditAppend) -> usize {
    let entry = ("pk".len() + 2 + a.chain.len())
        + ("sk".len() + 20)
        + ("e".len() + a.text.len())
        + a.expires_at.map_or(0, |_| "ttl".len() + 8);
    let head = ("pk".len() + 2 + a.chain.len())
        + ("sk".len() + 1)
        + ("seq".len() + 8)
        + ("hash".len() + a.hash.len())
        + ("rpk".len() + 8)
        + ("rat".len() + 8);
    entry + head
}

#[async_trait]
impl Repository for Metered {
    async fn get(&self, id: &Target) -> Result<Option<Record>, RepoError> {
        self.read().await;
        self.inner.get(id).await
    }
    async fn get_many(&self, ids: &[Target]) -> Result<Vec<Record>, RepoError> {
        self.read().await;
        self.inner.get_many(ids).await
    }
    async fn children(
        &self,
        parent: Option<&Target>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, RepoError> {
        self.read().await;
        self.inner.children(parent, limit, cursor).await
    }
    async fn dependencies(&self, from: &Target) -> Result<Vec<Target>, RepoError> {
        self.read().await;
        self.inner.dependencies(from).await
    }
    async fn dependants(&self, to: &Target) -> Result<Vec<Target>, RepoError> {
        self.read().await;
        self.inner.dependants(to).await
    }
    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, RepoError> {
        self.read().await;
        self.inner.token(hash).await
    }
    async fn due(&self, before: i64, limit: usize) -> Result<Vec<Target>, RepoError> {
        self.read().await;
        self.inner.due(before, limit).await
    }
    async fn list_version(
        &self,
        list: &Target,
        at: Option<i64>,
    ) -> Result<Option<trustfn_domain::repo::ListVersion>, RepoError> {
        self.read().await;
        self.inner.list_version(list, at).await
    }
    async fn pending(&self, list: &Target, limit: usize) -> Result<Vec<Pending>, RepoError> {
        self.read().await;
        self.inner.pending(list, limit).await
    }
    async fn has_pending(&self, list: &Target, seq: &str) -> Result<bool, RepoError> {
        self.read().await;
        self.inner.has_pending(list, seq).await
    }
    async fn next_seq(&self, list: &Target) -> Result<u64, RepoError> {
        self.inner.next_seq(list).await
    }
    async fn next_number(&self, series: &str) -> Result<u64, RepoError> {
        self.inner.next_number(series).await
    }
    async fn raise_number(&self, series: &str, at_least: u64) -> Result<(), RepoError> {
        self.inner.raise_number(series, at_least).await
    }
    async fn chunks(&self, list: &Target, nos: &[u32]) -> Result<Vec<Chunk>, RepoError> {
        self.read().await;
        self.inner.chunks(list, nos).await
    }
    async fn all_chunks(&self, list: &Target) -> Result<Vec<Chunk>, RepoError> {
        self.read().await;
        self.inner.all_chunks(list).await
    }
    async fn revoked(&self, iaca: &Target) -> Result<Vec<RevokedEntry>, RepoError> {
        self.read().await;
        self.inner.revoked(iaca).await
    }
    async fn audit_head(&self, chain: &str) -> Result<Option<(u64, String)>, RepoError> {
        self.read().await;
        self.inner.audit_head(chain).await
    }
    async fn audit_due(&self, before: i64, limit: usize) -> Result<Vec<String>, RepoError> {
        self.read().await;
        self.inner.audit_due(before, limit).await
    }
    async fn audit_checkpoints(
        &self,
        chain: &str,
        below: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, RepoError> {
        self.read().await;
        self.inner.audit_checkpoints(chain, below, limit).await
    }
    async fn audit_entries(
        &self,
        chain: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<String>, RepoError> {
        self.read().await;
        self.inner.audit_entries(chain, after, limit).await
    }
    async fn reserve(
        &self,
        list: &Target,
        count: u64,
        limit: u64,
    ) -> Result<Option<u64>, RepoError> {
        // The counter item: its key and one number.
        self.add(2 + 2 + list.as_str().len() + 2 + 1 + 1 + 8);
        self.inner.reserve(list, count, limit).await
    }
    async fn reserved(&self, list: &Target) -> Result<u64, RepoError> {
        self.read().await;
        self.inner.reserved(list).await
    }
    async fn purge_list(&self, list: &Target) -> Result<usize, RepoError> {
        self.inner.purge_list(list).await
    }
    async fn remembered(&self, scope: &Target, key: &str) -> Result<Option<Remembered>, RepoError> {
        self.read().await;
        self.inner.remembered(scope, key).await
    }
    async fn commit(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        let sizes: Vec<usize> = ops
            .iter()
            .map(|op| match op {
                Op::Create(r) | Op::Replace { record: r, .. } => item_size(r),
                Op::PutChunk { list, data, .. } => chunk_size(list, data),
                Op::AddPending(p) => pending_size(p),
                Op::RemovePending { list, seq } => 2 + 2 + list.as_str().len() + 2 + seq.len(),
                Op::AppendAudit(a) => audit_append_size(a),
                Op::Audit(_) => 0,
                _ => 64,
            })
            .collect();
        if !self.latency.1.is_zero() {
            tokio::time::sleep(self.latency.1).await;
        }
        let audit: usize = ops
            .iter()
            .map(|op| match op {
                Op::AppendAudit(a) => audit_append_size(a),
                Op::AddPending(p) => p.by.as_ref().map_or(0, |b| "by".len() + b.len()),
                _ => 0,
            })
            .sum();
        let out = self.inner.commit(ops).await;
        match &out {
            // What stays in the table; a refused transaction is counted apart.
            Ok(()) => {
                sizes.into_iter().for_each(|n| self.add(n));
                self.audit_bytes.fetch_add(audit, Ordering::Relaxed);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        out
    }
}
