//! `PUT` and `DELETE /v1/{target}/{service-api}/default-requests/{operation}` for the kms, x509
//! and credential-status services (a VICAL service's `publish-vical` has its own function).

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, target, App, Error, Request};

/// The service API of the path (`/v1/{target}/{api}/default-requests/{operation}`).
fn api_of(req: &Request) -> Result<&str, ApiError> {
    req.uri()
        .path()
        .split('/')
        .nth(3)
        .filter(|a| a.ends_with("-api"))
        .ok_or_else(|| ApiError::not_found("no service API in the path"))
}

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let auth = p.authorize::<act::DefaultRequestsUpdate>(&target(&req)?)?;
    let operation = trustfn_http::path_param(&req, "operation")?;
    let (api, repo) = (api_of(&req)?, app.repo().await);
    match req.method().as_str() {
        "DELETE" => trustfn_tree::default_requests::delete(repo, &auth, api, operation).await,
        _ => {
            let body = json_body(&req)?;
            trustfn_tree::default_requests::put(repo, &auth, api, operation, body).await
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
