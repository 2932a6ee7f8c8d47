//! `status-credential/entries`: allocating entries of a configuration's lists.

use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, RepoError, Repository};

use crate::config::{check_status, load_config, status_service};
use crate::list::{entry_json, new_list, ListState};
use crate::{backoff, StatusDeps, DEFAULT_SIZE, MAX_ALLOCATION};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Allocate {
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub initial_status: Option<String>,
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
    loop {
        attempt += 1;
        let cfg_rec = load_config(repo, target).await?;
        let cfg = cfg_rec.doc["config"].clone();
        let initial = match &body.initial_status {
            Some(s) => check_status(&cfg, s, "initialStatus")?,
            None => 0,
        };
        let service = status_service(repo, &target.parent().expect("config has a parent")).await?;
        let base = trustfn_domain::registry::public_base(&service.doc["config"]["registry"]);
        // Lists touched, in order; the last is the (possibly new) current list.
        let mut lists: Vec<(ListState, bool)> = Vec::new();
        match cfg_rec.doc["currentList"].as_str() {
            Some(cur) => {
                let id = target.child(cur)?;
                let rec = repo.get(&id).await?.ok_or_else(|| {
                    ApiError::internal_msg(format!("the current list {id} of {target} is missing"))
                })?;
                lists.push((ListState::load(rec, &cfg)?, false));
            }
            None => lists.push((new_list(&cfg_rec, &base)?, true)),
        }
        let mut entries = Vec::new();
        let mut left = count as usize;
        while left > 0 {
            let (list, _) = lists.last_mut().expect("one list");
            let size = list
                .statuses
                .capacity()
                .min(cfg["size"].as_u64().unwrap_or(DEFAULT_SIZE) as usize);
            let used = list.doc_i64("allocated") as usize;
            if used >= size {
                lists.push((new_list(&cfg_rec, &base)?, true));
                continue;
            }
            let mut rng = rand::rng();
            let idx = loop {
                let i = rng.random_range(0..size);
                if list.allocated.get(i).unwrap_or(1) == 0 {
                    break i;
                }
                if used * 10 > size * 9 {
                    // Nearly full: take the first free index after a random start.
                    let start = rng.random_range(0..size);
                    break (0..size)
                        .map(|k| (start + k) % size)
                        .find(|i| list.allocated.get(*i) == Ok(0))
                        .expect("not full");
                }
            };
            list.allocated
                .set(idx, 1)
                .map_err(|e| ApiError::internal(&e))?;
            if initial != 0 {
                list.statuses
                    .set(idx, initial)
                    .map_err(|e| ApiError::internal(&e))?;
            }
            list.rec.doc["allocated"] = json!(used + 1);
            entries.push(entry_json(&cfg_rec, list, idx));
            left -= 1;
        }
        let mut ops = Vec::new();
        let mut new_cfg = cfg_rec.clone();
        for (list, is_new) in lists.iter_mut() {
            if initial != 0 {
                let sv = list.doc_i64("statusVersion") + 1;
                list.rec.doc["statusVersion"] = json!(sv);
            }
            list.store();
            if *is_new {
                ops.push(Op::Create(list.rec.clone()));
                let lid = list.rec.doc["listId"].clone();
                new_cfg.doc["lists"]
                    .as_array_mut()
                    .expect("lists")
                    .push(lid.clone());
                new_cfg.doc["currentList"] = lid;
            } else {
                ops.push(Op::Replace {
                    record: list.rec.clone(),
                    expected_version: list.rec.version,
                    children_delta: 0,
                });
            }
        }
        let added = lists.iter().filter(|(_, n)| *n).count() as i64;
        if added > 0 {
            ops.push(Op::Replace {
                record: new_cfg.clone(),
                expected_version: cfg_rec.version,
                children_delta: added,
            });
        }
        match repo.commit(ops).await {
            Ok(()) => {}
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict)
                if attempt < 8 =>
            {
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            Err(RepoError::ConditionFailed { .. }) => {
                return Err(ApiError::conflict(
                    "the list is changing too fast; nothing was allocated, retry",
                ))
            }
            Err(e) => return Err(ApiError::from(e)),
        }
        tracing::info!(config = %target, entries = entries.len(), new_lists = added, "entries allocated");
        // Publish lists that were never published or whose statuses changed.
        let mut publish_failed = false;
        for (list, _) in &lists {
            let never = list.doc_i64("publishedVersion") < 0;
            if never || initial != 0 {
                if let Err(e) = crate::publish::publish(repo, deps, &list.rec.id).await {
                    tracing::warn!(list = %list.rec.id, error = %e, "publish after allocation failed; the refresh will retry");
                    publish_failed = true;
                }
            }
        }
        let mut out = json!({"entries": entries});
        if publish_failed {
            out["published"] = json!(false);
        }
        return Ok(Reply::json(201, out));
    }
}
