//! `PUT /v1/{target}/{api}/configuration/update`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, path_param, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let auth = p.authorize::<act::ConfigurationUpdate>(&target(&req)?)?;
    trustfn_tree::configuration::configuration_update(
        app.repo().await,
        &auth,
        path_param(&req, "api")?,
        json_body(&req)?,
        Some(app.secrets().await),
        app.registry_policy(),
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
