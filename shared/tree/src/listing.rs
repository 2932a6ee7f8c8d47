//! `resources/list`: one page of a resource's immediate children.

use serde_json::Value;
use trustfn_domain::auth::{act, view_action, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::Record;
use trustfn_domain::reply::PageParams;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::Repository;
use trustfn_domain::resource::{children_page, load};

/// `GET /v1/{target}/resource-api/resources/list`: immediate children, one page.
/// The next page's cursor is in the `x-next-cursor` header.
pub async fn list_children(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::ResourceList>,
    page: &PageParams,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    load(repo, target).await?;
    let out = children_page(repo, target, page).await?;
    // A child of a kind with its own list route needs that route's action too: narrower
    // denials hold here as well (a page may then be shorter than `limit`).
    let caller = auth.principal();
    let items = out
        .items
        .iter()
        .filter(|r| view_action(r.kind()).is_none_or(|a| caller.allows(&r.id, a)))
        .map(Record::to_public)
        .collect();
    let mut reply = Reply::json(200, Value::Array(items));
    if let Some(n) = out.next {
        reply.headers.push(("x-next-cursor", n));
    }
    Ok(reply)
}
