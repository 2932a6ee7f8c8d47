//! `POST /v1/{target}/x509-service-api/iso/document-signers`

use std::sync::Arc;

use trustfn_http::trustfn_core::{auth::Action, certs, ops::Reply, ApiError};
use trustfn_http::{json_body, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    let target = target(&req)?;
    // Authorize on the path alone, before any body parsing or storage read.
    p.authorize(&target, Action::DocumentSignerIssue)?;
    certs::issue_document_signer(
        app.repo.as_ref(),
        app.kms().await,
        &p,
        &target,
        json_body(&req)?,
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
