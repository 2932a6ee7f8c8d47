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
        lists.push(list_view(&list.doc));
    }
    let mut out = cfg.upcast().to_public();
    out["lists"] = Value::Array(lists);
    Ok(Reply::json(200, out))
}

/// One list in the view: fill level and publish state.
fn list_view(l: &StatusList) -> Value {
    let size = l.size.max(1);
    json!({"listId": l.list_id, "uri": l.uri, "size": size, "allocated": l.allocated,
           "fill": (l.allocated as f64) / (size as f64), "statusVersion": l.status_version,
           "publishedVersion": l.published_version, "publishedAt": l.published_at, "exp": l.exp,
           "publishes": l.publishes, "publishError": l.publish_error.clone().flatten()})
}
