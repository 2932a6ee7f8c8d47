//! `POST /v1/{target}/x509-service-api/iso/iacas`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let auth = p.authorize::<act::IacaIssue>(&target(&req)?)?;
    let body = app
        .with_defaults(Some(auth.target().clone()), "issue-iaca", json_body(&req)?)
        .await?;
    let deps = app.publish_deps(trustfn_http::publish_deadline(&req)).await;
    trustfn_certs::issuance::issue_iaca(app.repo().await, &deps, &auth, body).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
