//! `DELETE /v1/{target}/resource-api/resources/delete`

use std::sync::Arc;

use trustfn_http::trustfn_core::{auth::Action, keys, ops, ops::Reply, ApiError};
use trustfn_http::{target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    let target = target(&req)?;
    // Authorize on the path alone, before any body parsing or storage read.
    p.authorize(&target, Action::ResourceDelete)?;
    let mut removed = Vec::new();
    let out = ops::delete_tracking(app.repo.as_ref(), &p, &target, false, &mut removed).await;
    // Keys whose records are gone are scheduled for deletion in KMS (30-day window).
    if removed
        .iter()
        .any(|r| r.kind == trustfn_http::trustfn_core::model::Kind::Key)
    {
        keys::retire(app.kms().await, &removed).await;
    }
    out
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
