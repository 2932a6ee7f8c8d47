//! `status-credential/status/update`: status changes stored as pending items, each named by its
//! list's change sequence, then a coalesced publish of each list touched; the answer says whether
//! the changes are published.

use serde::Deserialize;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{ListConfig, ListId, StatusList};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, Pending, Repository, MAX_TX_ITEMS};
use trustfn_domain::target::Target;

use crate::answer::UpdateAnswer;
use crate::config::{check_status, load_config};
use crate::list::Allocations;
use crate::{grace_secs, PublishDeps, MAX_BATCH};
use trustfn_publish::Settled;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OneUpdate {
    #[serde(default)]
    pub entry: Option<String>,
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub list: Option<String>,
    pub status: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum UpdateBody {
    Batch { updates: Vec<OneUpdate> },
    One(OneUpdate),
}

/// `PUT .../status-credential/status/update`: one update or `{"updates": [...]}`. One pending
/// item per list touched, all in one transaction, then a (coalesced) publish of each. The answer
/// tells the truth: `published` is true only once every change is in a published list (it waits
/// for another publisher holding a list's lease, within the request's time), else false with the
/// lists' `pendingChanges` (the refresh publishes them).
pub async fn update(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::StatusUpdate>,
    body: UpdateBody,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let updates = match body {
        UpdateBody::Batch { updates } => updates,
        UpdateBody::One(u) => vec![u],
    };
    if updates.is_empty() || updates.len() > MAX_BATCH {
        return Err(ApiError::validation(format!(
            "updates: from 1 to {MAX_BATCH}"
        )));
    }
    let cfg = load_config(repo, target).await?;
    let wanted = wanted_changes(&cfg.doc.config, &updates)?;
    let mut list_ids: Vec<ListId> = wanted.iter().map(|w| w.0.clone()).collect();
    list_ids.sort();
    list_ids.dedup();
    // A request is one transaction (all its changes are stored, or none): DynamoDB takes at
    // most 100 items in one.
    if list_ids.len() > MAX_TX_ITEMS {
        return Err(ApiError::validation(format!(
            "updates: touch {} lists; one request may change at most {MAX_TX_ITEMS} lists \
             (split it, grouping by list)",
            list_ids.len()
        )));
    }
    // Check every entry exists, then write the changes as pending items (one per list, in one
    // transaction): updates never contend for the list record; its publisher folds them in.
    let mut lists = Vec::new();
    for lid in &list_ids {
        let id = target
            .child(lid.as_str())
            .map_err(|_| ApiError::not_found(format!("list {:?} not found", lid.as_str())))?;
        let rec = repo
            .get(&id)
            .await?
            .and_then(|r| r.downcast::<StatusList>().ok())
            .ok_or_else(|| ApiError::not_found(format!("list {:?} not found", lid.as_str())))?;
        let allocated = Allocations::of(repo, deps.secrets, &rec).await?;
        let mut changes = Vec::new();
        for (_, idx, value) in wanted.iter().filter(|w| &w.0 == lid) {
            if !allocated.contains(*idx as u64) {
                return Err(ApiError::not_found(format!("entry {lid}:{idx} not found")));
            }
            changes.push((*idx as u32, *value));
        }
        lists.push((id, changes));
    }
    let mut ops = Vec::with_capacity(lists.len());
    let mut touched = Vec::with_capacity(lists.len());
    for (id, changes) in lists {
        let seq = pending_seq(repo, &id).await?;
        ops.push(Op::AddPending(Pending {
            list: id.clone(),
            seq: seq.clone(),
            changes,
            due_at: deps.now() + grace_secs(),
            by: trustfn_domain::audit::context::acting(),
        }));
        touched.push((id, seq));
    }
    repo.commit(ops).await?;
    tracing::info!(config = %target, updates = wanted.len(), lists = touched.len(), "statuses updated");
    let mut published = true;
    let mut error = None;
    let mut pending = 0;
    for (id, seq) in &touched {
        match crate::publish::publish_change(repo, deps, id, seq).await? {
            Settled::Published => {}
            Settled::Unpublished(e) => {
                tracing::warn!(list = %id, error = ?e, "update stored but not published yet; the refresh publishes it");
                published = false;
                error = error.or(e);
            }
        }
        pending += repo.pending(id, PENDING_SHOWN + 1).await?.len();
    }
    Ok(Reply::typed(
        200,
        &UpdateAnswer {
            updated: wanted.len(),
            published,
            pending_changes: pending,
            publish_error: error,
        },
    ))
}

/// Pending change sets counted in an answer (more shows as this plus one).
pub(crate) const PENDING_SHOWN: usize = 1000;

/// The `(list id, index, value)` of each update, validated before anything is read or written.
fn wanted_changes(
    config: &ListConfig,
    updates: &[OneUpdate],
) -> Result<Vec<(ListId, usize, u8)>, ApiError> {
    let mut wanted = Vec::with_capacity(updates.len());
    for (i, u) in updates.iter().enumerate() {
        let value = check_status(config, &u.status, &format!("updates[{i}].status"))?;
        let (list, index) = match (u.entry.as_ref().or(u.session.as_ref()), u.index, &u.list) {
            (Some(e), None, None) => {
                let (l, idx) = e
                    .split_once(':')
                    .ok_or_else(|| ApiError::not_found(format!("entry {e:?} not found")))?;
                let idx: usize = idx
                    .parse()
                    .map_err(|_| ApiError::not_found(format!("entry {e:?} not found")))?;
                let l = ListId::parse(l)
                    .map_err(|_| ApiError::not_found(format!("entry {e:?} not found")))?;
                (l, idx)
            }
            (None, Some(idx), Some(l)) => (
                ListId::parse(l)
                    .map_err(|_| ApiError::not_found(format!("list {l:?} not found")))?,
                idx as usize,
            ),
            _ => {
                return Err(ApiError::validation(format!(
                    "updates[{i}]: give entry (or session), or index and list"
                )))
            }
        };
        wanted.push((list, index, value));
    }
    Ok(wanted)
}

/// The name of a new pending item of `list`: its next change-sequence number, `q` + 16 hex
/// digits. Folded in this order, so of two changes of one entry the one acknowledged later wins
/// (a request's number is taken after every earlier acknowledged request's item was stored).
/// Items named by the instance clock before sequences existed (24 hex digits) sort before them.
pub(crate) async fn pending_seq(repo: &dyn Repository, list: &Target) -> Result<String, ApiError> {
    Ok(format!("q{:016x}", repo.next_seq(list).await?))
}
