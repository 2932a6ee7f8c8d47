//! `default-requests/publish-vical`: a partial publish body stored with the service and merged
//! under every publish call's body (the call's values win), as walt.id's default requests.

use serde_json::{json, Value};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Service, VicalServiceConfig};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::Repository;

use crate::publish::PublishRequest;
use crate::versions::load_vical_service;

/// The operation name of the publish request, as walt.id names it.
pub const OPERATION: &str = "publish-vical";

async fn store(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::DefaultRequestsUpdate>,
    defaults: Option<serde_json::Map<String, Value>>,
) -> Result<bool, ApiError> {
    let target = auth.target();
    // Storing what publish will use is publishing's right too.
    auth.principal().authorize::<act::VicalPublish>(target)?;
    let (rec, cfg) = load_vical_service(repo, target).await?;
    let had = cfg.publish_defaults.is_some();
    let mut updated = rec.clone();
    updated.doc = Service::Vical(VicalServiceConfig {
        publish_defaults: defaults,
        ..cfg
    })
    .into();
    trustfn_domain::resource::replace(repo, updated, rec.version).await?;
    Ok(had)
}

/// `PUT /v1/{vicalService}/vical-service-api/default-requests/publish-vical`
pub async fn put(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::DefaultRequestsUpdate>,
    body: Value,
) -> Result<Reply, ApiError> {
    PublishRequest::parse(body.clone())?;
    let Value::Object(m) = body else {
        return Err(ApiError::validation("body must be a JSON object"));
    };
    store(repo, auth, Some(m.clone())).await?;
    tracing::info!(service = %auth.target(), operation = OPERATION, "default request stored");
    Ok(Reply::json(
        200,
        json!({"operation": OPERATION, "defaultRequest": Value::Object(m)}),
    ))
}

/// `DELETE /v1/{vicalService}/vical-service-api/default-requests/publish-vical`
pub async fn delete(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::DefaultRequestsUpdate>,
) -> Result<Reply, ApiError> {
    let (_, cfg) = load_vical_service(repo, auth.target()).await?;
    if cfg.publish_defaults.is_none() {
        return Err(ApiError::not_found(format!(
            "{} has no default request for {OPERATION}",
            auth.target()
        )));
    }
    store(repo, auth, None).await?;
    tracing::info!(service = %auth.target(), operation = OPERATION, "default request removed");
    Ok(Reply::empty(204))
}
