//! `GET /v1/{target}/x509-service-api/certificates/report[?format=csv|json][&limit=][&cursor=]`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{page_params, query_param, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any storage read.
    let auth = p.authorize::<act::IssuedList>(&target(&req)?)?;
    trustfn_certs::report::report(
        app.repo().await,
        &auth,
        query_param(&req, "format"),
        &page_params(&req),
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run_with_query(trustfn_certs::report::REPORT_QUERY, handle).await
}
