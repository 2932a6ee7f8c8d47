//! `POST /v1/{target}/{api}/dependencies/remove`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{dependency_body, path_param, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let auth = p.authorize::<act::DependencyRemove>(&target(&req)?)?;
    trustfn_tree::dependencies::dependency_remove(
        app.repo().await,
        &auth,
        path_param(&req, "api")?,
        &dependency_body(&req)?,
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
