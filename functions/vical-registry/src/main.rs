//! `GET /v1/{target}/vical-service-api/latest`, for a vical-service or one of its version paths:
//! public, as walt.id's VICAL registry (verifiers fetch it without credentials). It reads one
//! service record and one version record; it never looks at a token.

use std::sync::Arc;

use trustfn_http::trustfn_domain::{ApiError, Reply};
use trustfn_http::{query_param, target, App, Error, Request};
use trustfn_vical::versions::{registry, Format};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let target = target(&req)?;
    let format = Format::parse(query_param(&req, "format"))?;
    let if_none_match = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok());
    registry(
        app.repo().await,
        &target,
        format,
        if_none_match,
        chrono::Utc::now(),
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run_with_query(&["format"], handle).await
}
