//! `GET /v1/{target}/credential-status-service-api/status-lists/{listId}`, for a status
//! configuration: public, as the IETF Token Status List draft has relying parties fetch a list
//! (`Accept`, `?time=`, `If-None-Match`). It reads the list record and one kept version; it
//! never looks at a token.

use std::sync::Arc;

use trustfn_http::trustfn_domain::{ApiError, Reply};
use trustfn_http::{path_param, query_param, target, App, Error, Request};
use trustfn_status::serve::{serve, Fetch};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let config = target(&req)?;
    let list_id = path_param(&req, "listId")?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let fetch = Fetch {
        accept: header("accept"),
        if_none_match: header("if-none-match"),
        time: query_param(&req, "time"),
    };
    serve(
        app.repo().await,
        &config,
        list_id,
        fetch,
        chrono::Utc::now().timestamp(),
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run_with_query(&["time"], handle).await
}
