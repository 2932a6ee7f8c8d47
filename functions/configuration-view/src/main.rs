//! `GET /v1/{target}/{api}/configuration/view`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{path_param, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let auth = p.authorize::<act::ConfigurationView>(&target(&req)?)?;
    trustfn_tree::configuration::configuration_view(
        app.repo().await,
        &auth,
        path_param(&req, "api")?,
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
