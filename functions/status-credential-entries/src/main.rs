//! `POST /v1/{target}/credential-status-service-api/status-credential/entries`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let auth = p.authorize::<act::StatusEntryAllocate>(&target(&req)?)?;
    let deps = app.publish_deps(trustfn_http::publish_deadline(&req)).await;
    // The status service is the configuration's parent.
    let service = auth.target().parent();
    let mut body: trustfn_status::entries::Allocate = app
        .with_defaults(service, "create-status-entries", json_body(&req)?)
        .await?;
    body.idempotency_key = match req.headers().get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::validation("Idempotency-Key: visible ASCII characters"))?
                .to_owned(),
        ),
        None => None,
    };
    trustfn_status::entries::allocate(app.repo().await, &deps, &auth, body).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
