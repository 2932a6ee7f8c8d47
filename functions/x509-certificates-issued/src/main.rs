//! `GET /v1/{target}/x509-service-api/certificates/issued[?iaca=<serial>][&state=valid|revoked]`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{page_params, query_param, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any storage read.
    let auth = p.authorize::<act::IssuedList>(&target(&req)?)?;
    trustfn_certs::inventory::issued(
        app.repo().await,
        &auth,
        &page_params(&req),
        query_param(&req, "iaca"),
        query_param(&req, "state"),
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run_with_query(trustfn_certs::inventory::ISSUED_QUERY, handle).await
}
