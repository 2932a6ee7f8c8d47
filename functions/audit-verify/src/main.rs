//! `POST /v1/audit/verify`

use std::sync::Arc;

use trustfn_http::trustfn_domain::audit::verify::{self, VerifyRequest};
use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply, Target};
use trustfn_http::{json_body, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    let body: VerifyRequest = json_body(&req)?;
    let target = Target::parse(&body.target)
        .map_err(|e| ApiError::validation(format!("target: {}", e.message)))?;
    // The organization named in the body is authorized before anything is read.
    let auth = p.authorize::<act::AuditView>(&target)?;
    let key = app.audit_checkpoint_key().await?.map(|(_, public)| public);
    let retention = verify::Retention::now(app.audit_retention_days());
    verify::verify(app.repo().await, &auth, key, retention).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
