//! `POST /v1/{target}/roles-api/roles/apikey/unassign`

use std::sync::Arc;

use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path (the role) before anything is read; the use case authorizes the
    // API key named in the body with the same action.
    let auth = p.authorize::<act::RoleAssign>(&target(&req)?)?;
    trustfn_access::api_keys::assign_role(app.repo().await, &auth, json_body(&req)?, false).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
