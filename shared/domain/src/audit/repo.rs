//! The auditing repository: every commit that changes something appends an entry to its
//! organization's chain in the same transaction (no change without its entry, no entry without
//! its change).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::context::{self, RequestContext};
use super::entry::{Actor, Entry, Outcome, GENESIS};
use crate::model::{Doc, IssuedProfile, Record};
use crate::repo::{
    AuditAppend, Chunk, Op, Page, Pending, Remembered, RepoError, Repository, RevokedEntry,
    TokenRecord,
};
use crate::target::Target;

/// Appends of the same chain that raced each other before one gives up (each retry reads the
/// new head; nothing of the commit was written).
const MAX_RACES: usize = 24;

/// Default retention: seven years, a common PKI policy period (`TRUSTFN_AUDIT_RETENTION_DAYS`).
pub const DEFAULT_RETENTION_DAYS: i64 = 7 * 366;

/// The chain of the administrator's refusals.
pub const ADMIN_CHAIN: &str = "admin";

pub struct Audited {
    inner: Arc<dyn Repository>,
    retention_days: i64,
}

impl Audited {
    pub fn new(inner: Arc<dyn Repository>, retention_days: i64) -> Audited {
        Audited {
            inner,
            retention_days,
        }
    }

    /// Records the refusal of the current request (403) in the caller's own organization's
    /// chain (the administrator's: `admin`). Nothing happens outside a request or before the
    /// caller is known.
    pub async fn record_denied(&self) -> Result<(), RepoError> {
        let Some(ctx) = context::current() else {
            return Ok(());
        };
        // The entry is about the request (its action and target, as authorized on its path);
        // what was refused, when that is something else (a key or store named in the body, a
        // use case's own rule), is its one change. Refused on its path: that action and target.
        let Some(actor) = ctx.actor.clone() else {
            return Ok(());
        };
        let Some((action, target)) = ctx.authorized.clone().or_else(|| ctx.denied.clone()) else {
            return Ok(());
        };
        let changes = match &ctx.denied {
            Some((a, t)) if (*a, t) != (action, &target) => {
                vec![obj(json!({"op": "refused", "action": a, "id": t.as_str()}))]
            }
            _ => Vec::new(),
        };
        let chain = ctx
            .caller_org
            .clone()
            .unwrap_or_else(|| ADMIN_CHAIN.to_owned());
        let entry = Draft {
            chain,
            actor,
            action: action.to_owned(),
            target: target.to_string(),
            outcome: Outcome::Denied,
            request_id: ctx.request_id.clone(),
            changes,
        };
        self.append(Vec::new(), entry).await
    }

    async fn append(&self, ops: Vec<Op>, draft: Draft) -> Result<(), RepoError> {
        let mut last_err = None;
        for attempt in 0..MAX_RACES {
            let head = self.inner.audit_head(&draft.chain).await?;
            let (seq, prev) = match head {
                Some((seq, hash)) => (seq + 1, hash),
                None => (1, GENESIS.to_owned()),
            };
            let now_ms = chrono::Utc::now().timestamp_millis();
            let entry = Entry {
                organization: draft.chain.clone(),
                sequence_number: seq,
                timestamp: now_ms,
                actor: draft.actor.clone(),
                action: draft.action.clone(),
                target: draft.target.clone(),
                outcome: draft.outcome,
                request_id: draft.request_id.clone(),
                changes: draft.changes.clone(),
                prev_entry_hash: prev,
                entry_hash: String::new(),
            }
            .seal()
            .map_err(|e| RepoError::Unavailable(e.to_string()))?;
            let text = entry
                .to_canonical()
                .map_err(|e| RepoError::Unavailable(e.to_string()))?;
            let at = ops.len();
            let mut all = ops.clone();
            all.push(Op::AppendAudit(AuditAppend {
                chain: draft.chain.clone(),
                seq,
                hash: entry.entry_hash.clone(),
                text,
                expires_at: Some(now_ms / 1000 + self.retention_days * 86_400),
                checkpoint_at: now_ms / 1000,
            }));
            match self.inner.commit(all).await {
                Ok(()) => return Ok(()),
                Err(RepoError::ConditionFailed { index: Some(i) }) if i == at => {}
                Err(e @ RepoError::ConditionFailed { index: None })
                | Err(e @ RepoError::TransactionConflict) => {
                    // Which item failed is unknown: the head moved, or one of the commit's own
                    // conditions failed (then it fails again on the new head, or the caller's
                    // retry decides).
                    let moved = self.inner.audit_head(&draft.chain).await?.map(|h| h.0)
                        != (seq > 1).then_some(seq - 1);
                    if !moved && matches!(e, RepoError::ConditionFailed { .. }) {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
            // Contended: back off a little, more each time, with jitter.
            let ms = 2 + (attempt as u64 * 3).min(40) + rand::random::<u64>() % 10;
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        Err(last_err.unwrap_or(RepoError::TransactionConflict))
    }
}

struct Draft {
    chain: String,
    actor: Actor,
    action: String,
    target: String,
    outcome: Outcome,
    request_id: Option<String>,
    changes: Vec<Map<String, Value>>,
}

/// The changes a commit's ops show, and the facts its `Op::Audit` ops add; the ops without
/// those, and the position each had among the ops given.
fn changes_of(ops: Vec<Op>) -> (Vec<Map<String, Value>>, Vec<Op>, Vec<usize>) {
    let mut changes = Vec::new();
    let mut rest = Vec::with_capacity(ops.len());
    let mut positions = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            Op::Audit(facts) => changes.extend(facts),
            op => {
                changes.extend(describe(&op));
                rest.push(op);
                positions.push(i);
            }
        }
    }
    (changes, rest, positions)
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One op as a change, when it is one an auditor cares about. Bookkeeping (counters, chunks,
/// leases, pending status changes, remembered requests, the derived revoked sets) is not: the
/// status changes are recorded by the fold that takes them in, publishes by the engine.
fn describe(op: &Op) -> Option<Map<String, Value>> {
    let change = match op {
        Op::Create(r) => with_facts(
            json!({"op": "create", "id": r.id.as_str(), "kind": r.kind().as_str()}),
            r,
        ),
        Op::Replace { record: r, .. } => {
            let bookkeeping = match &r.doc {
                Doc::StatusList(_) => true,
                Doc::Issued(c) => c.profile == IssuedProfile::Iaca,
                _ => false,
            };
            if bookkeeping {
                return None;
            }
            with_facts(
                json!({"op": "replace", "id": r.id.as_str(), "kind": r.kind().as_str()}),
                r,
            )
        }
        Op::Delete { id, .. } => json!({"op": "delete", "id": id.as_str()}),
        Op::AddEdge { from, to } => {
            json!({"op": "add-dependency", "id": from.as_str(), "to": to.as_str()})
        }
        Op::RemoveEdge { from, to } => {
            json!({"op": "remove-dependency", "id": from.as_str(), "to": to.as_str()})
        }
        Op::AddToken(t) => json!({"op": "add-token", "id": t.key_id.as_str(), "roles": t.roles}),
        Op::ReplaceToken(t) => {
            json!({"op": "replace-token", "id": t.key_id.as_str(), "roles": t.roles})
        }
        Op::RemoveToken { .. } => json!({"op": "remove-token"}),
        Op::Claim { name, owner } => json!({"op": "claim", "id": owner.as_str(), "name": name}),
        Op::Release { name, owner } => json!({"op": "release", "id": owner.as_str(), "name": name}),
        Op::Count { .. }
        | Op::Check { .. }
        | Op::Touch { .. }
        | Op::AddPending(_)
        | Op::RemovePending { .. }
        | Op::PutChunk { .. }
        | Op::Remember(_)
        | Op::Settle(_)
        | Op::AddRevoked { .. }
        | Op::DropRevoked { .. }
        | Op::AppendAudit(_)
        | Op::PutCheckpoint(_)
        | Op::CheckpointTaken { .. }
        | Op::KeepVersion(_)
        | Op::Audit(_) => return None,
    };
    Some(obj(change))
}

/// What identifies the artefact a record holds (never a secret: configurations are named by
/// type only, their registries' secrets are sealed in them).
fn with_facts(change: Value, r: &Record) -> Value {
    let mut m = obj(change);
    let facts = match &r.doc {
        Doc::Issued(c) => {
            let mut f = json!({
                "profile": c.profile.as_str(),
                "serialNumber": c.serial_number.as_str(),
            });
            if let Some(fp) = &c.sha256_fingerprint {
                f["sha256Fingerprint"] = json!(fp);
            }
            if let Some(k) = &c.key_path {
                f["keyPath"] = json!(k.as_str());
            }
            if let Some(rv) = &c.revocation {
                f["revocationReason"] = serde_json::to_value(rv.reason).unwrap_or(Value::Null);
                f["revocationDate"] = json!(rv.revocation_date.timestamp());
            }
            f
        }
        Doc::Key(k) => {
            json!({"kmsKeyArn": k.kms_key_arn.as_str(), "keyType": k.key_type.key_type(), "imported": k.imported})
        }
        Doc::Certificate(c) => json!({
            "serialNumber": c.serial_number.as_str(),
            "sha256Fingerprint": c.sha256_fingerprint,
        }),
        Doc::Role(role) => json!({
            "uid": role.uid,
            "permissions": serde_json::to_value(&role.permissions).unwrap_or(Value::Null),
        }),
        Doc::ApiKey(k) => json!({"roles": k.roles}),
        Doc::Service(s) => json!({"type": s.service_type().as_str()}),
        Doc::StatusConfig(c) => json!({"kid": c.kid.as_str()}),
        Doc::VicalVersion(v) => json!({
            "vicalIssueId": v.vical_issue_id,
            "entryCount": v.entry_count,
            "payloadHash": v.sha256,
        }),
        Doc::Organization(_) | Doc::Tenant(_) | Doc::StatusList(_) => json!({}),
    };
    for (k, v) in obj(facts) {
        if !v.is_null() {
            m.insert(k, v);
        }
    }
    Value::Object(m)
}

/// The chain, actor, action and target of a commit: the request's, or, outside a request (the
/// scheduled refresh), trustfn's own, on the organization of what the commit changes.
fn draft(ctx: Option<RequestContext>, changes: Vec<Map<String, Value>>) -> Option<Draft> {
    if changes.is_empty() {
        return None;
    }
    let first_id = changes
        .iter()
        .find_map(|c| c.get("id").and_then(Value::as_str))
        .and_then(|id| Target::parse(id).ok());
    let ctx = ctx.unwrap_or_default();
    let (action, target) = match (&ctx.authorized, &first_id) {
        (Some((a, t)), _) => ((*a).to_owned(), t.clone()),
        (None, Some(id)) => (
            changes[0]
                .get("op")
                .and_then(Value::as_str)
                .unwrap_or("change")
                .to_owned(),
            id.clone(),
        ),
        (None, None) => return None,
    };
    Some(Draft {
        chain: target.org().to_owned(),
        actor: ctx.actor.unwrap_or(Actor::System),
        action,
        target: target.to_string(),
        outcome: Outcome::Success,
        request_id: ctx.request_id,
        changes,
    })
}

#[async_trait]
impl Repository for Audited {
    async fn commit(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        let (changes, ops, positions) = changes_of(ops);
        let out = match draft(context::current(), changes) {
            Some(d) => self.append(ops, d).await,
            None => self.inner.commit(ops).await,
        };
        // A failed op is named by its place among the ops the caller gave.
        out.map_err(|e| match e {
            RepoError::ConditionFailed { index: Some(i) } => RepoError::ConditionFailed {
                index: positions.get(i).copied(),
            },
            e => e,
        })
    }
    async fn get(&self, id: &Target) -> Result<Option<Record>, RepoError> {
        self.inner.get(id).await
    }
    async fn get_many(&self, ids: &[Target]) -> Result<Vec<Record>, RepoError> {
        self.inner.get_many(ids).await
    }
    async fn children(
        &self,
        parent: Option<&Target>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, RepoError> {
        self.inner.children(parent, limit, cursor).await
    }
    async fn dependencies(&self, from: &Target) -> Result<Vec<Target>, RepoError> {
        self.inner.dependencies(from).await
    }
    async fn dependants(&self, to: &Target) -> Result<Vec<Target>, RepoError> {
        self.inner.dependants(to).await
    }
    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, RepoError> {
        self.inner.token(hash).await
    }
    async fn due(&self, before: i64, limit: usize) -> Result<Vec<Target>, RepoError> {
        self.inner.due(before, limit).await
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
    async fn has_pending(&self, list: &Target, seq: &str) -> Result<bool, RepoError> {
        self.inner.has_pending(list, seq).await
    }
    async fn pending(&self, list: &Target, limit: usize) -> Result<Vec<Pending>, RepoError> {
        self.inner.pending(list, limit).await
    }
    async fn chunks(&self, list: &Target, nos: &[u32]) -> Result<Vec<Chunk>, RepoError> {
        self.inner.chunks(list, nos).await
    }
    async fn all_chunks(&self, list: &Target) -> Result<Vec<Chunk>, RepoError> {
        self.inner.all_chunks(list).await
    }
    async fn revoked(&self, iaca: &Target) -> Result<Vec<RevokedEntry>, RepoError> {
        self.inner.revoked(iaca).await
    }
    async fn reserve(
        &self,
        list: &Target,
        count: u64,
        limit: u64,
    ) -> Result<Option<u64>, RepoError> {
        self.inner.reserve(list, count, limit).await
    }
    async fn reserved(&self, list: &Target) -> Result<u64, RepoError> {
        self.inner.reserved(list).await
    }
    async fn purge_list(&self, list: &Target) -> Result<usize, RepoError> {
        self.inner.purge_list(list).await
    }
    async fn remembered(&self, scope: &Target, key: &str) -> Result<Option<Remembered>, RepoError> {
        self.inner.remembered(scope, key).await
    }
    async fn audit_head(&self, chain: &str) -> Result<Option<(u64, String)>, RepoError> {
        self.inner.audit_head(chain).await
    }
    async fn audit_due(&self, before: i64, limit: usize) -> Result<Vec<String>, RepoError> {
        self.inner.audit_due(before, limit).await
    }
    async fn list_version(
        &self,
        list: &Target,
        at: Option<i64>,
    ) -> Result<Option<crate::repo::ListVersion>, RepoError> {
        self.inner.list_version(list, at).await
    }
    async fn audit_checkpoints(
        &self,
        chain: &str,
        below: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, RepoError> {
        self.inner.audit_checkpoints(chain, below, limit).await
    }
    async fn audit_entries(
        &self,
        chain: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<String>, RepoError> {
        self.inner.audit_entries(chain, after, limit).await
    }
}
