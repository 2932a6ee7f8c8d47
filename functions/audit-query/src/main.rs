//! `POST /v1/audit/query`

use std::sync::Arc;

use trustfn_http::trustfn_domain::audit::query::{self, AuditQuery};
use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    let q: AuditQuery = json_body(&req)?;
    // The target named in the body is authorized before anything is read.
    let auth = p.authorize::<act::AuditView>(&q.target()?)?;
    query::query(app.repo().await, &auth, q).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
