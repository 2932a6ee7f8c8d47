//! `POST /v1/{target}/resource-api/services/create`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let auth = p.authorize::<act::ServiceCreate>(&target(&req)?)?;
    trustfn_tree::services::create_service(
        app.repo().await,
        &auth,
        json_body(&req)?,
        Some(app.secrets().await),
        app.registry_policy(),
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
