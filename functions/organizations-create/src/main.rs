//! `POST /v1/admin/organizations`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply, Target};
use trustfn_http::{json_body, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // The administrator only, before any body parsing or storage read.
    let admin = Target::parse("admin")?;
    let auth = p.authorize::<act::OrganizationCreate>(&admin)?;
    trustfn_tree::organizations::create_organization(app.repo().await, &auth, json_body(&req)?)
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
