//! `GET /v1/{target}/x509-service-api/crls`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any storage read.
    let auth = p.authorize::<act::CrlView>(&target(&req)?)?;
    trustfn_certs::inventory::crls(app.repo().await, &auth).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
