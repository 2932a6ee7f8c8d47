//! `status-credential/entries`: allocating entries of a configuration's lists.

use serde::Deserialize;
use trustfn_domain::auth::{act, Authorized, Principal};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{ListId, Record, StatusConfig, StatusList};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, Pending, Remembered, RepoError, Repository, CLAIMED};
use trustfn_domain::resource::load_as;
use trustfn_domain::target::Target;

use crate::answer::EntriesAnswer;
use crate::config::{check_status, load_config, status_service};
use crate::list::{entry_json, new_list, permutation};
use crate::{backoff, grace_secs, PublishDeps, MAX_ALLOCATION};
use trustfn_publish::{Outcome, Settled};

/// Tries at a busy counter, or at opening a list, before giving up.
const ATTEMPTS: u32 = 8;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Allocate {
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub initial_status: Option<String>,
    /// The request's `Idempotency-Key` header (not part of the body).
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// Where a request's `Idempotency-Key` is remembered: per caller (two API keys sending the same
/// value get independent results) and per incarnation of the configuration (one deleted and
/// created again at the same path never replays the old one's entries; the old items expire).
pub fn remembered_key(caller: &Principal, config_created_at: &str, key: &str) -> String {
    format!("{}|{config_created_at}|{key}", caller.describe())
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_SECS: i64 = 24 * 3600;

/// How long a request holds the claim of its `Idempotency-Key` while it allocates: a request
/// that dies leaves the key to a retry after this.
pub const CLAIM_SECS: i64 = 60;

/// 1 to 255 visible ASCII characters.
fn check_idempotency_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ApiError::validation(
            "Idempotency-Key: 1 to 255 visible ASCII characters",
        ));
    }
    Ok(())
}

/// What an allocation handed out, per list: `(list id, first position, count)`. Enough to
/// rebuild the same entries for a retry with the same `Idempotency-Key`.
type Ranges = Vec<(ListId, u64, u64)>;

/// `POST .../status-credential/entries`: allocates `count` entries. Each list counts its
/// allocations in one counter item (one small atomic write per call, whatever the list's size)
/// and maps the count through its keyed permutation, so indices are random-looking, unique and
/// never reused. A full list rolls over to a new one, which is published at once.
pub async fn allocate(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::StatusEntryAllocate>,
    body: Allocate,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let count = body.count.unwrap_or(1);
    if !(1..=MAX_ALLOCATION).contains(&count) {
        return Err(ApiError::validation(format!(
            "count: from 1 to {MAX_ALLOCATION}"
        )));
    }
    let mut cfg = load_config(repo, target).await?;
    let initial = match &body.initial_status {
        Some(s) => check_status(&cfg.doc.config, s, "initialStatus")?,
        None => 0,
    };
    let request = format!("count={count};initialStatus={initial}");
    let idempotency = match &body.idempotency_key {
        Some(key) => {
            check_idempotency_key(key)?;
            Some(remembered_key(auth.principal(), &cfg.created_at, key))
        }
        None => None,
    };
    if let Some(key) = &idempotency {
        if let Some(r) = repo.remembered(target, key).await? {
            return replay(repo, deps, &cfg, &r, &request).await;
        }
        // Claim the key before taking anything: of concurrent requests under one key, one
        // allocates; the others take nothing (no index burnt, none stamped with a status).
        let claim = Remembered {
            scope: target.clone(),
            key: key.clone(),
            request: request.clone(),
            outcome: CLAIMED.to_owned(),
            expires_at: deps.now() + CLAIM_SECS,
        };
        match repo.commit(vec![Op::Remember(claim)]).await {
            Ok(()) => {}
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => {
                return match repo.remembered(target, key).await? {
                    Some(r) => replay(repo, deps, &cfg, &r, &request).await,
                    None => Err(in_progress()),
                };
            }
            Err(e) => return Err(ApiError::from(e)),
        }
    }
    let mut ranges: Ranges = Vec::new();
    let mut entries: Vec<crate::answer::Entry> = Vec::with_capacity(count as usize);
    let mut pending: Vec<Pending> = Vec::new();
    let mut publish: Vec<Target> = Vec::new();
    let mut new_lists = 0;
    let mut attempt = 0;
    while (entries.len() as u64) < count {
        let current = match &cfg.doc.current_list {
            Some(cur) => Some(
                load_as::<StatusList>(repo, &target.child(cur.as_str())?)
                    .await
                    .map_err(|e| {
                        ApiError::internal_msg(format!("the current list {cur} of {target}: {e}"))
                    })?,
            ),
            None => None,
        };
        let usable = match current {
            Some(list) => permutation(deps.secrets, &list)
                .await?
                .map(|perm| (list, perm)),
            None => None,
        };
        let want = count - entries.len() as u64;
        let taken = match &usable {
            Some((list, _)) => take(repo, list, want).await?,
            None => None,
        };
        let Some((start, n)) = taken else {
            // No current list, a full one, or one written before counters: open a new list.
            attempt += 1;
            if attempt > ATTEMPTS {
                return Err(ApiError::conflict("lists are rolling over too fast; retry"));
            }
            match open_list(repo, deps, target, &cfg).await? {
                Some(id) => {
                    new_lists += 1;
                    publish.push(id);
                }
                None => tokio::time::sleep(backoff(attempt)).await,
            }
            cfg = load_config(repo, target).await?;
            continue;
        };
        let (list, perm) = usable.expect("taken from a usable list");
        ranges.push((list.doc.list_id.clone(), start, n));
        let mut changes = Vec::new();
        for k in start..start + n {
            let index = perm.index(k);
            entries.push(entry_json(&cfg.doc, &list.doc, index));
            if initial != 0 {
                changes.push((index as u32, initial));
            }
        }
        if initial != 0 {
            pending.push(Pending {
                list: list.id.clone(),
                seq: crate::update::pending_seq(repo, &list.id).await?,
                changes,
                due_at: deps.now() + grace_secs(),
                by: trustfn_domain::audit::context::acting(),
            });
        }
    }
    // Entries with a status other than 0 are status changes: stored before the answer, so a
    // credential never carries an entry whose status is not on its way to the list; with the
    // outcome of the Idempotency-Key in the same transaction (a handful of lists at most).
    let mut ops: Vec<Op> = pending.iter().cloned().map(Op::AddPending).collect();
    let settle = idempotency.as_ref().map(|key| Remembered {
        scope: target.clone(),
        key: key.clone(),
        request: request.clone(),
        outcome: serde_json::to_string(&ranges).expect("ranges serialize"),
        expires_at: deps.now() + IDEMPOTENCY_SECS,
    });
    ops.extend(settle.clone().map(Op::Settle));
    let settle_at = ops.len().checked_sub(1).filter(|_| settle.is_some());
    // On the audit log: how many entries, from which lists (never which indices).
    let mut lists: Vec<&str> = ranges.iter().map(|r| r.0.as_str()).collect();
    lists.dedup();
    if let serde_json::Value::Object(fact) = serde_json::json!({
        "op": "allocate",
        "id": target.as_str(),
        "entries": entries.len(),
        "lists": lists,
    }) {
        ops.push(Op::Audit(vec![fact]));
    }
    match repo.commit(ops).await {
        Ok(()) => {}
        // Our claim ran out and another request took the key over: answer what it answers
        // (what this one took is never handed out, and no status was stored for it).
        Err(RepoError::ConditionFailed { index }) if index == settle_at || index.is_none() => {
            let key = idempotency.as_deref().unwrap_or_default();
            return match repo.remembered(target, key).await? {
                Some(r) => replay(repo, deps, &cfg, &r, &request).await,
                None => Err(in_progress()),
            };
        }
        Err(e) => return Err(ApiError::from(e)),
    }
    tracing::info!(config = %target, entries = entries.len(), new_lists, "entries allocated");
    let mut out = EntriesAnswer {
        entries,
        published: None,
    };
    // New lists are published at once; the initial statuses are answered for truthfully.
    let mut unpublished = false;
    for id in &publish {
        match crate::publish::publish(repo, deps, id).await {
            Ok(Outcome::OutOfTime) => unpublished = true,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(list = %id, error = %e, "publish after allocation failed; the refresh will retry");
                unpublished = true;
            }
        }
    }
    for p in &pending {
        if crate::publish::publish_change(repo, deps, &p.list, &p.seq).await? != Settled::Published
        {
            unpublished = true;
        }
    }
    if unpublished {
        out.published = Some(false);
    }
    Ok(Reply::typed(201, &out))
}

fn in_progress() -> ApiError {
    ApiError::conflict("a request with this Idempotency-Key is in progress; retry it in a minute")
}

/// The answer of an earlier request with the same `Idempotency-Key`: the same entries, rebuilt
/// from the positions it took. Another request under the same key is a 422.
async fn replay(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    cfg: &Record<StatusConfig>,
    remembered: &Remembered,
    request: &str,
) -> Result<Reply, ApiError> {
    if remembered.outcome == CLAIMED && remembered.request == request {
        return Err(in_progress());
    }
    if remembered.request != request {
        return Err(ApiError::new(
            422,
            "IllegalArgumentException",
            "Idempotency-Key was used for another request (count or initialStatus differ); use a new key",
        ));
    }
    let ranges: Ranges = serde_json::from_str(&remembered.outcome).map_err(|e| {
        ApiError::internal_msg(format!("idempotency key of {}: {e}", remembered.scope))
    })?;
    let mut entries = Vec::new();
    for (list_id, start, n) in ranges {
        let list = load_as::<StatusList>(repo, &cfg.id.child(list_id.as_str())?).await?;
        let perm = permutation(deps.secrets, &list).await?.ok_or_else(|| {
            ApiError::internal_msg(format!(
                "{}: a remembered list without an index key",
                list.id
            ))
        })?;
        for k in start..start + n {
            entries.push(entry_json(&cfg.doc, &list.doc, perm.index(k)));
        }
    }
    tracing::info!(config = %cfg.id, entries = entries.len(), "entries replayed for a repeated Idempotency-Key");
    Ok(Reply::typed(
        201,
        &EntriesAnswer {
            entries,
            published: None,
        },
    ))
}

/// Takes up to `want` positions of `list`'s counter: `(first, how many)`, or `None` when the
/// list is full.
async fn take(
    repo: &dyn Repository,
    list: &Record<StatusList>,
    want: u64,
) -> Result<Option<(u64, u64)>, ApiError> {
    let size = list.doc.size;
    for _ in 0..ATTEMPTS {
        if let Some(start) = repo.reserve(&list.id, want.min(size), size).await? {
            return Ok(Some((start, want.min(size))));
        }
        // Fewer than `want` left: take what is left (if another allocation takes it first, look
        // again).
        let left = size.saturating_sub(repo.reserved(&list.id).await?);
        if left == 0 {
            return Ok(None);
        }
        if let Some(start) = repo.reserve(&list.id, left.min(want), size).await? {
            return Ok(Some((start, left.min(want))));
        }
    }
    Err(ApiError::conflict("the list is changing too fast; retry"))
}

/// Opens a new list and makes it the configuration's current one (one commit, expecting the
/// configuration's version). `None` when another allocation changed the configuration first.
async fn open_list(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    target: &Target,
    cfg: &Record<StatusConfig>,
) -> Result<Option<Target>, ApiError> {
    let service = status_service(repo, &target.parent().expect("config has a parent")).await?;
    let base = service
        .doc
        .registry()
        .expect("a status service has a registry")
        .public_base();
    let list = new_list(deps.secrets, cfg, &base, deps.now()).await?;
    let id = list.id.clone();
    let mut next = cfg.clone();
    next.doc.lists.push(list.doc.list_id.clone());
    next.doc.current_list = Some(list.doc.list_id.clone());
    let ops = vec![
        Op::Create(list.upcast()),
        Op::Replace {
            record: next.upcast(),
            expected_version: cfg.version,
            children_delta: 1,
        },
    ];
    match repo.commit(ops).await {
        Ok(()) => {
            tracing::info!(config = %target, list = %id, "status list opened");
            Ok(Some(id))
        }
        Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict) => Ok(None),
        Err(e) => Err(ApiError::from(e)),
    }
}
