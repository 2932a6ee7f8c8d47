//! `POST /v1/events/query?organization=<org>[&groupBy=<dotted path>]`

use std::sync::Arc;

use serde_json::{Map, Value};
use trustfn_http::lambda_http::RequestExt;
use trustfn_http::trustfn_domain::audit::events;
use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, organization_param, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    let q = req.query_string_parameters_ref();
    let org = organization_param(&req)?;
    // The organization named in the query is authorized before anything is read.
    let auth = p.authorize::<act::AuditView>(&org)?;
    let filter: Map<String, Value> = json_body(&req)?;
    let group_by = q.and_then(|q| q.first("groupBy")).map(str::to_owned);
    events::query(app.repo().await, &auth, filter, group_by.as_deref()).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run_with_query(&["organization", "groupBy"], handle).await
}
