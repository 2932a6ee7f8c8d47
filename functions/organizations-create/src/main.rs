//! `POST /v1/admin/organizations`

use std::sync::Arc;

use trustfn_http::trustfn_core::{ops, ops::Reply, ApiError};
use trustfn_http::{json_body, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    ops::create_organization(app.repo.as_ref(), &p, json_body(&req)?).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
