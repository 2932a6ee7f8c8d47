//! `GET /v1/{target}/apikeys-api/api-keys/list`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{page_params, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let auth = p.authorize::<act::ApiKeyList>(&target(&req)?)?;
    trustfn_access::api_keys::list_api_keys(app.repo().await, &auth, &page_params(&req)).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run_with_query(trustfn_http::PAGE_QUERY, handle).await
}
