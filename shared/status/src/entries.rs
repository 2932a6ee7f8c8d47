//! `status-credential/entries`: allocating entries of a configuration's lists.

use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Record, StatusConfig};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::load_as;
use trustfn_domain::target::Target;

use crate::config::{check_status, load_config, status_service};
use crate::list::{entry_json, new_list, ListState};
use crate::{backoff, StatusDeps, MAX_ALLOCATION};

/// Commits an allocation is tried before giving up on a busy list.
const ATTEMPTS: u32 = 8;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Allocate {
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub initial_status: Option<String>,
}

/// One planned allocation: the writes, the entries handed out, and the lists to publish.
struct Plan {
    ops: Vec<Op>,
    entries: Vec<Value>,
    publish: Vec<Target>,
    new_lists: usize,
}

/// `POST .../status-credential/entries`: allocates `count` random, never reused indices; a full
/// list rolls over to a new one. The first allocation of a list publishes it.
pub async fn allocate(
    repo: &dyn Repository,
    deps: &StatusDeps<'_>,
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
    let mut attempt = 0;
    let plan = loop {
        attempt += 1;
        let mut plan = plan(repo, target, &body, count as usize).await?;
        match repo.commit(std::mem::take(&mut plan.ops)).await {
            Ok(()) => break plan,
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict)
                if attempt < ATTEMPTS =>
            {
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(RepoError::ConditionFailed { .. }) => {
                return Err(ApiError::conflict(
                    "the list is changing too fast; nothing was allocated, retry",
                ))
            }
            Err(e) => return Err(ApiError::from(e)),
        }
    };
    tracing::info!(config = %target, entries = plan.entries.len(), new_lists = plan.new_lists, "entries allocated");
    let mut out = json!({"entries": plan.entries});
    // Publish lists that were never published or whose statuses changed.
    for id in &plan.publish {
        if let Err(e) = crate::publish::publish(repo, deps, id).await {
            tracing::warn!(list = %id, error = %e, "publish after allocation failed; the refresh will retry");
            out["published"] = json!(false);
        }
    }
    Ok(Reply::json(201, out))
}

/// Reads the configuration and its current list and plans one allocation of `count` entries.
async fn plan(
    repo: &dyn Repository,
    target: &Target,
    body: &Allocate,
    count: usize,
) -> Result<Plan, ApiError> {
    let cfg = load_config(repo, target).await?;
    let initial = match &body.initial_status {
        Some(s) => check_status(&cfg.doc.config, s, "initialStatus")?,
        None => 0,
    };
    let service = status_service(repo, &target.parent().expect("config has a parent")).await?;
    let base = service
        .doc
        .registry()
        .expect("a status service has a registry")
        .public_base();
    // Lists touched, in order; the last is the (possibly new) current list.
    let mut lists: Vec<(ListState, bool)> = Vec::new();
    match &cfg.doc.current_list {
        Some(cur) => {
            let rec = load_as(repo, &target.child(cur)?).await.map_err(|e| {
                ApiError::internal_msg(format!("the current list {cur} of {target}: {e}"))
            })?;
            lists.push((ListState::load(rec, &cfg.doc.config)?, false));
        }
        None => lists.push((new_list(&cfg, &base)?, true)),
    }
    let entries = take_entries(&mut lists, &cfg, &base, count, initial)?;
    let publish = lists
        .iter()
        .filter(|(l, _)| l.rec.doc.published_version < 0 || initial != 0)
        .map(|(l, _)| l.rec.id.clone())
        .collect();
    let new_lists = lists.iter().filter(|(_, new)| *new).count();
    Ok(Plan {
        ops: writes(lists, cfg, initial),
        entries,
        publish,
        new_lists,
    })
}

/// Takes `count` free entries from the last list, opening new lists as lists fill up.
fn take_entries(
    lists: &mut Vec<(ListState, bool)>,
    cfg: &Record<StatusConfig>,
    base: &str,
    count: usize,
    initial: u8,
) -> Result<Vec<Value>, ApiError> {
    let mut entries = Vec::with_capacity(count);
    while entries.len() < count {
        let (list, _) = lists.last_mut().expect("one list");
        let size = list.statuses.capacity().min(cfg.doc.config.size as usize);
        let used = list.rec.doc.allocated as usize;
        if used >= size {
            lists.push((new_list(cfg, base)?, true));
            continue;
        }
        let idx = free_index(list, size, used);
        list.allocated
            .set(idx, 1)
            .map_err(|e| ApiError::internal(&e))?;
        if initial != 0 {
            list.statuses
                .set(idx, initial)
                .map_err(|e| ApiError::internal(&e))?;
        }
        list.rec.doc.allocated = used as u64 + 1;
        entries.push(entry_json(&cfg.doc, &list.rec.doc, idx));
    }
    Ok(entries)
}

/// A random free index of a list that is not full.
fn free_index(list: &ListState, size: usize, used: usize) -> usize {
    let mut rng = rand::rng();
    loop {
        let i = rng.random_range(0..size);
        if list.allocated.get(i).unwrap_or(1) == 0 {
            return i;
        }
        if used * 10 > size * 9 {
            // Nearly full: take the first free index after a random start.
            let start = rng.random_range(0..size);
            return (0..size)
                .map(|k| (start + k) % size)
                .find(|i| list.allocated.get(*i) == Ok(0))
                .expect("not full");
        }
    }
}

/// The writes of an allocation: each list touched, and the configuration when lists were added.
fn writes(lists: Vec<(ListState, bool)>, cfg: Record<StatusConfig>, initial: u8) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut new_cfg = cfg.clone();
    for (mut list, is_new) in lists {
        if initial != 0 {
            list.rec.doc.status_version += 1;
        }
        list.store();
        if is_new {
            new_cfg.doc.lists.push(list.rec.doc.list_id.clone());
            new_cfg.doc.current_list = Some(list.rec.doc.list_id.clone());
            ops.push(Op::Create(list.rec.upcast()));
        } else {
            let expected_version = list.rec.version;
            ops.push(Op::Replace {
                record: list.rec.upcast(),
                expected_version,
                children_delta: 0,
            });
        }
    }
    let added = new_cfg.doc.lists.len() - cfg.doc.lists.len();
    if added > 0 {
        ops.push(Op::Replace {
            record: new_cfg.upcast(),
            expected_version: cfg.version,
            children_delta: added as i64,
        });
    }
    ops
}
