//! `status-credential/view`: a configuration, its lists, fill levels and publish state.

use serde_json::{json, Value};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
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
    let cfg_rec = load_config(repo, target).await?;
    let ids: Vec<Target> = cfg_rec.doc["lists"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .filter_map(|id| target.child(id).ok())
                .collect()
        })
        .unwrap_or_default();
    let lists = repo.get_many(&ids).await?;
    let mut out = cfg_rec.to_public();
    out["lists"] = json!(lists
        .iter()
        .map(|l| {
            let d = &l.doc;
            let size = d["size"].as_u64().unwrap_or(1).max(1);
            let used = d["allocated"].as_u64().unwrap_or(0);
            json!({"listId": d["listId"], "uri": d["uri"], "size": size, "allocated": used,
                   "fill": (used as f64) / (size as f64), "statusVersion": d["statusVersion"],
                   "publishedVersion": d["publishedVersion"], "publishedAt": d["publishedAt"], "exp": d["exp"],
                   "publishes": d["publishes"], "publishError": d["publishError"]})
        })
        .collect::<Vec<_>>());
    Ok(Reply::json(200, out))
}
