//! `GET /v1/{target}/vical-service-api/versions/ids`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any storage read.
    let auth = p.authorize::<act::VicalVersionList>(&target(&req)?)?;
    trustfn_vical::versions::version_ids(app.repo().await, &auth).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
