//! `GET /v1/audit/checkpoints?organization=<org>[&limit&cursor]`: an organization's signed
//! checkpoints, newest first, with the public key they verify with.

use std::sync::Arc;

use serde_json::json;
use trustfn_http::lambda_http::RequestExt;
use trustfn_http::trustfn_domain::reply::{page_limit, PageParams};
use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{organization_param, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    let q = req.query_string_parameters_ref();
    let org = organization_param(&req)?;
    // The organization named in the query is authorized before anything is read.
    let _auth = p.authorize::<act::AuditView>(&org)?;
    let page = PageParams {
        limit: q.and_then(|q| q.first("limit")).map(str::to_owned),
        offset: None,
        cursor: None,
    };
    let limit = page_limit(&page)?;
    let below = match q.and_then(|q| q.first("cursor")) {
        None => None,
        Some(c) => Some(c.parse::<u64>().map_err(|_| {
            ApiError::validation("cursor: give the x-next-cursor of a previous page")
        })?),
    };
    let Some((_, public)) = app.audit_checkpoint_key().await? else {
        return Err(ApiError::bad_request(
            "NotConfigured",
            "this deployment signs no audit checkpoints (TRUSTFN_AUDIT_CHECKPOINT_KEY_ID)",
        ));
    };
    let found = app
        .repo()
        .await
        .audit_checkpoints(org.org(), below, limit)
        .await?;
    let next = (found.len() == limit)
        .then(|| found.last().map(|c| c.0.to_string()))
        .flatten();
    let checkpoints: Vec<_> = found
        .iter()
        .map(|(seq, jws)| json!({"sequenceNumber": seq, "jws": jws}))
        .collect();
    let mut reply = Reply::json(
        200,
        json!({"organization": org.org(), "publicKey": public.to_jwk(), "checkpoints": checkpoints}),
    );
    if let Some(n) = next {
        reply.headers.push(("x-next-cursor", n));
    }
    Ok(reply)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run_with_query(&["organization", "limit", "cursor"], handle).await
}
