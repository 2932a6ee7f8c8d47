//! `GET /v1/{target}/x509-store-api/certificates`

use std::sync::Arc;

use trustfn_http::trustfn_core::{auth::Action, certs, ops::Reply, ApiError};
use trustfn_http::{page_params, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    let target = target(&req)?;
    // Authorize on the path alone, before any body parsing or storage read.
    p.authorize(&target, Action::CertificateView)?;
    certs::get(app.repo.as_ref(), &p, &target, &page_params(&req)).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
