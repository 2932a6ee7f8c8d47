//! `PUT` and `DELETE /v1/{service}/{service-api}/default-requests/{operation}`: walt.id's default
//! requests for the kms, x509 and credential-status services (see
//! [`trustfn_domain::defaults`]). Storing or removing one needs `update-default-requests` and the
//! operation's own action on the service.

use serde_json::{json, Value};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::defaults;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Doc, ServiceType};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::Repository;

use crate::services::service_for_api;

/// Stores (`Some`) or removes (`None`) the default request `operation` of the service at the
/// target; whether one was there.
async fn store(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::DefaultRequestsUpdate>,
    api: &str,
    operation: &str,
    default: Option<Value>,
) -> Result<bool, ApiError> {
    let target = auth.target();
    // The operation and its right first, from the path alone: nothing is read before.
    let op = defaults::operation(ServiceType::from_api(api)?, operation)?;
    auth.principal().require(target, op.action)?;
    if let Some(d) = &default {
        defaults::check(op, d, "body")?;
    }
    let (rec, _) = service_for_api(repo, target, api).await?;
    let Doc::Service(mut service) = rec.doc.clone() else {
        return Err(ApiError::internal_msg(format!("{target} is not a service")));
    };
    let removing = default.is_none();
    let had = defaults::set(&mut service, op, default);
    if removing && !had {
        return Ok(false); // nothing to remove: nothing written
    }
    let mut updated = rec.clone();
    updated.doc = Doc::Service(service);
    trustfn_domain::resource::replace(repo, updated, rec.version).await?;
    Ok(had)
}

/// `PUT .../default-requests/{operation}`: stores the partial body.
pub async fn put(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::DefaultRequestsUpdate>,
    api: &str,
    operation: &str,
    body: Value,
) -> Result<Reply, ApiError> {
    store(repo, auth, api, operation, Some(body.clone())).await?;
    tracing::info!(service = %auth.target(), operation, "default request stored");
    Ok(Reply::json(
        200,
        json!({"operation": operation, "defaultRequest": body}),
    ))
}

/// `DELETE .../default-requests/{operation}`: removes it (404 when there is none).
pub async fn delete(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::DefaultRequestsUpdate>,
    api: &str,
    operation: &str,
) -> Result<Reply, ApiError> {
    if !store(repo, auth, api, operation, None).await? {
        return Err(ApiError::not_found(format!(
            "{} has no default request for {operation}",
            auth.target()
        )));
    }
    tracing::info!(service = %auth.target(), operation, "default request removed");
    Ok(Reply::empty(204))
}
