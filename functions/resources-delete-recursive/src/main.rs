//! `DELETE /v1/{target}/resource-api/resources/delete-recursive`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, model::Kind, ApiError, Reply};
use trustfn_http::{target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any storage read.
    let auth = p.authorize::<act::ResourceDelete>(&target(&req)?)?;
    let mut removed = Vec::new();
    let out =
        trustfn_tree::delete::delete_tracking(app.repo().await, &auth, true, &mut removed).await;
    // Keys whose records are gone are scheduled for deletion in KMS (30-day window).
    if removed.iter().any(|r| r.kind() == Kind::Key) {
        trustfn_keys::retire(app.kms().await, &removed).await;
    }
    out
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
