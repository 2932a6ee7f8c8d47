//! `PUT /v1/{target}/{api}/configuration/update`

use std::sync::Arc;

use trustfn_http::trustfn_core::{auth::Action, ops, ops::Reply, ApiError};
use trustfn_http::{json_body, path_param, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    let target = target(&req)?;
    // Authorize on the path alone, before any body parsing or storage read.
    p.authorize(&target, Action::ConfigurationUpdate)?;
    ops::configuration_update(
        app.repo.as_ref(),
        &p,
        &target,
        path_param(&req, "api")?,
        json_body(&req)?,
        Some(app.secrets().await),
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
