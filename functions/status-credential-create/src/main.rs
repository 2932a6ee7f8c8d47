//! `POST /v1/{target}/credential-status-service-api/status-credential/create`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let auth = p.authorize::<act::StatusConfigCreate>(&target(&req)?)?;
    // The status service is the configuration's parent.
    let service = auth.target().parent();
    let mut body: trustfn_status::config::CreateConfig = app
        .with_defaults(service, "create-status-credential", json_body(&req)?)
        .await?;
    body.api_url = Some(trustfn_http::public_api_url(&req)?);
    trustfn_status::config::create_config(app.repo().await, &auth, body).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
