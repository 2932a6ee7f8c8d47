//! `PUT` and `DELETE /v1/{target}/vical-service-api/default-requests/publish-vical`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let auth = p.authorize::<act::DefaultRequestsUpdate>(&target(&req)?)?;
    let repo = app.repo().await;
    match req.method().as_str() {
        "DELETE" => trustfn_vical::defaults::delete(repo, &auth).await,
        _ => trustfn_vical::defaults::put(repo, &auth, json_body(&req)?).await,
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
