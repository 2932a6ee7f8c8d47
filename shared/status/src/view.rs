//! `status-credential/view`: a configuration, its lists, fill levels and publish state.

use serde_json::{json, Value};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::StatusList;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::Repository;
use trustfn_domain::target::Target;

use crate::config::load_config;

/// `GET .../status-credential/view`: the configuration, its lists, fill levels, publish state.
pub async fn view(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::StatusView>,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let cfg = load_config(repo, target).await?;
    let ids: Vec<Target> = cfg
        .doc
        .lists
        .iter()
        .filter_map(|id| target.child(id).ok())
        .collect();
    let mut lists = Vec::with_capacity(ids.len());
    for rec in repo.get_many(&ids).await? {
        let id = rec.id.clone();
        let list = rec.downcast::<StatusList>().map_err(|_| {
            ApiError::internal_msg(format!("{id}, a list of {target}, is not a status list"))
        })?;
        // Accepted changes not folded into the list yet are not published either.
        let pending = repo.pending(&id, PENDING_SHOWN + 1).await?.len();
        let allocated = crate::list::allocated(repo, &list).await?;
        lists.push(list_view(&list.doc, allocated, pending));
    }
    let mut out = cfg.upcast().to_public();
    out["lists"] = Value::Array(lists);
    Ok(Reply::json(200, out))
}

/// Pending change sets counted per list in the view (more shows as this plus one).
const PENDING_SHOWN: usize = 1000;

/// One list in the view: fill level and publish state. `upToDate` holds only when every
/// accepted change is folded and published and the last publish succeeded.
fn list_view(l: &StatusList, allocated: u64, pending: usize) -> Value {
    let size = l.size.max(1);
    let up_to_date = pending == 0 && l.published_version >= l.status_version && !l.failing();
    json!({"listId": l.list_id, "uri": l.uri, "size": size, "allocated": allocated,
           "fill": (allocated as f64) / (size as f64), "statusVersion": l.status_version,
           "publishedVersion": l.published_version, "pendingChanges": pending,
           "upToDate": up_to_date, "publishedAt": l.published_at, "exp": l.exp,
           "publishes": l.publishes, "publishError": l.publish_error.clone().flatten(),
           "consecutiveFailures": l.failures.unwrap_or(0)})
}
