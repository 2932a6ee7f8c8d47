//! `status-credential/view`: a configuration, its lists, fill levels and publish state.

use serde_json::Value;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::StatusList;
use trustfn_domain::reply::{page_limit, page_offset, PageParams, Reply};
use trustfn_domain::repo::Repository;
use trustfn_domain::target::Target;

use crate::answer::{ConfigView, ListView};
use crate::config::load_config;

/// `GET .../status-credential/view[?limit=&offset=|cursor=]`: the configuration, and one page of
/// its lists (oldest first, 100 by default) with fill levels and publish state; the next page's
/// cursor is in the `x-next-cursor` header. Two reads per list shown, so a page bounds the work.
pub async fn view(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::StatusView>,
    page: &PageParams,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let limit = page_limit(page)?;
    let start = match &page.cursor {
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ApiError::validation("cursor is not valid for this list"))?,
        None => page_offset(page)?,
    };
    let cfg = load_config(repo, target).await?;
    let ids: Vec<Target> = cfg
        .doc
        .lists
        .iter()
        .skip(start)
        .take(limit)
        .filter_map(|id| target.child(id.as_str()).ok())
        .collect();
    let next = (start + limit < cfg.doc.lists.len()).then(|| (start + limit).to_string());
    // The pending items first, then the records: a change seen neither pending nor folded was
    // not accepted before this view; one folded between the two reads shows in the record's
    // revision, which is then ahead of what was published. `upToDate` never claims a change
    // that is not in the registry.
    let mut pending = std::collections::HashMap::with_capacity(ids.len());
    for id in &ids {
        pending.insert(id.clone(), repo.pending(id, PENDING_SHOWN + 1).await?.len());
    }
    let mut lists = Vec::with_capacity(ids.len());
    for rec in repo.get_many(&ids).await? {
        let id = rec.id.clone();
        let pending = pending.get(&id).copied().unwrap_or(0);
        let list = rec.downcast::<StatusList>().map_err(|_| {
            ApiError::internal_msg(format!("{id}, a list of {target}, is not a status list"))
        })?;
        let allocated = crate::list::allocated(repo, &list).await?;
        lists.push(list_view(&list.doc, allocated, pending));
    }
    let Value::Object(config) = cfg.upcast().to_public() else {
        unreachable!("a public document is an object")
    };
    let mut reply = Reply::typed(200, &ConfigView { config, lists });
    if let Some(n) = next {
        reply.headers.push(("x-next-cursor", n));
    }
    Ok(reply)
}

use crate::update::PENDING_SHOWN;

/// One list in the view: fill level and publish state. `upToDate` holds only when every
/// accepted change is folded and published and the last publish succeeded.
fn list_view(l: &StatusList, allocated: u64, pending: usize) -> ListView {
    let size = l.size.max(1);
    let p = &l.publish;
    ListView {
        list_id: l.list_id.clone(),
        uri: l.uri.clone(),
        size,
        allocated,
        fill: (allocated as f64) / (size as f64),
        status_version: p.revision,
        published_version: p.published_revision,
        pending_changes: pending,
        up_to_date: pending == 0 && !p.behind() && !p.failing(),
        published_at: p.issued_at.map(trustfn_publish::rfc3339),
        exp: p.expires_at.map(trustfn_publish::rfc3339),
        publishes: (p.publishes > 0).then_some(p.publishes),
        publish_error: p.last_error.clone(),
        consecutive_failures: p.failures,
    }
}
