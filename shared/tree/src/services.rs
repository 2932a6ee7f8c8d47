//! Services: creation (with dependencies and sealed registry secrets), and their configuration
//! document (`configuration/view`, `configuration/update`).

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{json, Value};
use trustfn_domain::auth::Principal;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    CrlState, CrlTarget, Doc, IssuedCertificate, IssuedProfile, Kind, Record, Service, ServiceType,
    StatusConfig, StatusServiceConfig, X509ServiceConfig,
};
use trustfn_domain::ports::SecretBox;
use trustfn_domain::registry_config::{RegistryConfig, RegistryPolicy};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::{children_of_kind, failed_index, load};
use trustfn_domain::secret::SecretInput;
use trustfn_domain::target::Target;

/// Most dependencies one service may have.
pub const MAX_DEPENDENCIES: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    #[serde(rename = "type")]
    pub service_type: String,
    #[serde(default)]
    pub config: Option<Value>,
    #[serde(default)]
    pub dependencies: Vec<String>,
}

/// A service document from a request's `type` and `config`: validated, registry secrets sealed
/// (`***` keeps the value stored in `stored`).
async fn service_doc(
    t: ServiceType,
    config: Value,
    secrets: Option<&dyn SecretBox>,
    policy: &RegistryPolicy,
    target: &Target,
    stored: Option<&Service>,
) -> Result<Service, ApiError> {
    let Value::Object(mut config) = config else {
        return Err(ApiError::validation("config must be an object"));
    };
    check_config_fields(t, &config)?;
    if t == ServiceType::X509Service {
        let crl = match crl_request(config.get("crl"), policy)? {
            None => None,
            Some((registry, validity_days)) => {
                let stored = stored.and_then(Service::crl_target).map(|c| &c.registry);
                let registry = registry
                    .seal(secrets, target, stored)
                    .await
                    .map_err(crl_field)?;
                Some(CrlTarget {
                    registry,
                    validity_days,
                })
            }
        };
        config.remove("crl");
        return Ok(Service::X509Service(X509ServiceConfig {
            crl,
            extra: config,
        }));
    }
    if t != ServiceType::CredentialStatus {
        return Ok(match t {
            ServiceType::Kms => Service::Kms(config),
            _ => Service::X509Store(config),
        });
    }
    let registry = RegistryConfig::from_request(config.get("registry"), policy)?
        .seal(secrets, target, stored.and_then(Service::registry))
        .await?;
    config.remove("registry");
    Ok(Service::CredentialStatus(StatusServiceConfig {
        registry,
        extra: config,
    }))
}

/// Days a CRL is valid when `config.crl.validityDays` is not given (ISO/IEC 18013-5 practice).
pub const DEFAULT_CRL_VALIDITY_DAYS: u32 = 7;
/// Longest CRL validity `config.crl.validityDays` may ask for.
pub const MAX_CRL_VALIDITY_DAYS: u32 = 366;

/// `config.registry` belongs to credential-status services and `config.crl` to x509-services.
fn check_config_fields(
    t: ServiceType,
    config: &serde_json::Map<String, Value>,
) -> Result<(), ApiError> {
    if t != ServiceType::CredentialStatus && config.contains_key("registry") {
        return Err(ApiError::validation(format!(
            "config.registry is only for credential-status services, not {}",
            t.as_str()
        )));
    }
    if t != ServiceType::X509Service && config.contains_key("crl") {
        return Err(ApiError::validation(format!(
            "config.crl is only for x509-services, not {}",
            t.as_str()
        )));
    }
    Ok(())
}

/// A registry error about `config.registry` is about `config.crl.registry` here.
fn crl_field(mut e: ApiError) -> ApiError {
    e.message = e
        .message
        .replacen("config.registry", "config.crl.registry", 1);
    e
}

/// An x509-service's `config.crl` (`{"registry": {...}, "validityDays"?: 7}`), validated: the
/// registry exactly as a credential-status registry. `None` when absent or `null`.
fn crl_request(
    crl: Option<&Value>,
    policy: &RegistryPolicy,
) -> Result<Option<(RegistryConfig<SecretInput>, u32)>, ApiError> {
    let obj = match crl {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(ApiError::validation("config.crl must be an object")),
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["registry", "validityDays"].contains(&k.as_str()))
    {
        return Err(ApiError::validation(format!(
            "config.crl.{k}: unknown field (registry, validityDays)"
        )));
    }
    let registry = obj
        .get("registry")
        .ok_or_else(|| ApiError::validation("config.crl.registry is required"))?;
    let registry = RegistryConfig::from_request(Some(registry), policy).map_err(crl_field)?;
    let days = match obj.get("validityDays") {
        None | Some(Value::Null) => DEFAULT_CRL_VALIDITY_DAYS,
        Some(v) => v
            .as_u64()
            .filter(|d| (1..=MAX_CRL_VALIDITY_DAYS as u64).contains(d))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "config.crl.validityDays: a whole number of days from 1 to {MAX_CRL_VALIDITY_DAYS}"
                ))
            })? as u32,
    };
    Ok(Some((registry, days)))
}

/// The fields of a service document besides its configuration.
const DOCUMENT_FIELDS: [&str; 7] = [
    "_id",
    "parent",
    "type",
    "config",
    "dependencies",
    "version",
    "createdAt",
];

/// The public view of a service with its dependencies, secrets redacted. The configuration is
/// shown nested (`config`) and, for Enterprise API clients, also flat: each configuration field
/// whose name is not a document field appears at the top level too.
pub(crate) fn service_view(rec: &Record, deps: &[Target]) -> Value {
    let mut v = rec.to_public();
    v["dependencies"] = Value::Array(deps.iter().map(|d| Value::String(d.to_string())).collect());
    if let Some(Value::Object(config)) = v.get("config").cloned() {
        for (k, val) in config {
            if !DOCUMENT_FIELDS.contains(&k.as_str()) {
                v[k.as_str()] = val;
            }
        }
    }
    v
}

/// The configuration an update body gives: `config` (our nested form) or the document's other
/// fields (the Enterprise API's flat form). A view-then-update round trip sends both, one of
/// them edited: a field wins where it differs from the `stored` (public) configuration and the
/// other form repeats the stored value; the two forms changing one field differently is a 400.
fn config_of_update(
    obj: &serde_json::Map<String, Value>,
    stored: &serde_json::Map<String, Value>,
) -> Result<Value, ApiError> {
    let flat = obj
        .iter()
        .filter(|(k, _)| !DOCUMENT_FIELDS.contains(&k.as_str()));
    let Some(nested) = obj.get("config") else {
        let flat: serde_json::Map<String, Value> =
            flat.map(|(k, v)| (k.clone(), v.clone())).collect();
        // The flat form is a whole service document (with its `_id`, as the view shows it): a
        // stray or misspelt field never replaces a configuration by itself.
        if let Some(k) = flat.keys().next().filter(|_| !obj.contains_key("_id")) {
            return Err(ApiError::validation(format!(
                "{k}: unknown field of a service document (send the configuration in config, or \
                 the whole document, _id included, as configuration/view shows it)"
            )));
        }
        return Ok(Value::Object(flat));
    };
    let Value::Object(nested) = nested else {
        return Err(ApiError::validation("config must be an object"));
    };
    let mut merged = nested.clone();
    for (k, v) in flat {
        let (in_nested, in_stored) = (nested.get(k), stored.get(k));
        if in_nested == Some(v) || in_stored == Some(v) {
            continue; // the same, or an unedited echo of the stored value
        }
        if in_nested == in_stored {
            merged.insert(k.clone(), v.clone()); // only the flat form changed it
            continue;
        }
        return Err(ApiError::validation(format!(
            "{k}: set differently in config and at the top level; send one form"
        )));
    }
    Ok(Value::Object(merged))
}

/// `configuration/update` does not change dependencies: the list it is sent must be the current
/// one (as a view-then-update round trip sends it); a different list is refused, not ignored.
async fn same_dependencies(
    repo: &dyn Repository,
    target: &Target,
    sent: &Value,
) -> Result<(), ApiError> {
    let refuse = || {
        ApiError::validation(format!(
            "dependencies: configuration/update does not change dependencies; use \
             dependencies/add and dependencies/remove on {target}"
        ))
    };
    let sent: BTreeSet<&str> = sent
        .as_array()
        .ok_or_else(refuse)?
        .iter()
        .map(|d| d.as_str().ok_or_else(refuse))
        .collect::<Result<_, _>>()?;
    let current = repo.dependencies(target).await?;
    if sent != current.iter().map(Target::as_str).collect() {
        return Err(refuse());
    }
    Ok(())
}

/// Checks a prospective dependency `dep` of service `from` (of type `t`): same organization,
/// exists, is a service of an allowed type. Needs `service-dependency-add` on `dep`.
pub(crate) async fn check_dependency(
    repo: &dyn Repository,
    p: &Principal,
    from: &Target,
    t: ServiceType,
    dep: &Target,
) -> Result<(), ApiError> {
    p.authorize::<act::DependencyAdd>(dep)?;
    if dep.org() != from.org() {
        return Err(ApiError::validation(format!(
            "dependency {dep} is not in organization {}",
            from.org()
        )));
    }
    if dep == from {
        return Err(ApiError::validation("a service cannot depend on itself"));
    }
    let rec = repo.get(dep).await?;
    let dt = rec.as_ref().and_then(Record::service_type).ok_or_else(|| {
        ApiError::validation(format!(
            "dependency {dep} does not exist or is not a service"
        ))
    })?;
    if !t.allowed_dependencies().contains(&dt) {
        let allowed = t
            .allowed_dependencies()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>();
        return Err(ApiError::validation(format!(
            "a {} service cannot depend on a {} service ({dep}); allowed: {}",
            t.as_str(),
            dt.as_str(),
            if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            }
        )));
    }
    Ok(())
}

/// `POST /v1/{tenant.service}/resource-api/services/create`
pub async fn create_service(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::ServiceCreate>,
    body: CreateService,
    secrets: Option<&dyn SecretBox>,
    policy: &RegistryPolicy,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let p = auth.principal();
    if target.depth() < 3 {
        return Err(ApiError::bad_request(
            "InvalidTarget",
            "the target of a new service is '<org>.<tenant>.<service>'",
        ));
    }
    let t = ServiceType::parse(&body.service_type)?;
    let config = body.config.unwrap_or_else(|| json!({}));
    // Checked before anything is read; sealed (one KMS call per secret) once the rest is valid.
    if !config.is_object() {
        return Err(ApiError::validation("config must be an object"));
    }
    check_config_fields(t, config.as_object().expect("checked"))?;
    if t == ServiceType::CredentialStatus {
        RegistryConfig::from_request(config.get("registry"), policy)?;
    }
    if t == ServiceType::X509Service {
        crl_request(config.get("crl"), policy)?;
    }
    if body.dependencies.len() > MAX_DEPENDENCIES {
        return Err(ApiError::validation(format!(
            "at most {MAX_DEPENDENCIES} dependencies"
        )));
    }
    let mut deps = BTreeSet::new();
    for (i, d) in body.dependencies.iter().enumerate() {
        let dep = Target::parse(d)
            .map_err(|e| ApiError::validation(format!("dependencies[{i}]: {}", e.message)))?;
        check_dependency(repo, p, target, t, &dep).await?;
        if !deps.insert(dep.clone()) {
            return Err(ApiError::validation(format!(
                "dependencies[{i}]: {dep} is listed twice"
            )));
        }
    }
    let parent_id = target.parent().expect("depth >= 3");
    let parent = load(repo, &parent_id).await?;
    if parent.kind() != Kind::Tenant {
        return Err(ApiError::validation(format!(
            "a service is created in a tenant; {parent_id} is a {}",
            parent.kind().as_str()
        )));
    }
    let doc = service_doc(t, config, secrets, policy, target, None).await?;
    let rec = Record::new(target.clone(), doc);
    let mut ops = vec![
        Op::Create(rec.clone()),
        Op::Count {
            id: parent_id.clone(),
            children: 1,
            dependants: 0,
        },
    ];
    for d in &deps {
        ops.push(Op::AddEdge {
            from: target.clone(),
            to: d.clone(),
        });
        ops.push(Op::Count {
            id: d.clone(),
            children: 0,
            dependants: 1,
        });
    }
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(Some(0)) | Some(None) => ApiError::duplicate(target.as_str()),
        Some(Some(1)) => ApiError::not_found(format!("{parent_id} not found")),
        Some(Some(_)) => {
            ApiError::conflict("a dependency was removed concurrently; nothing was written")
        }
        None => ApiError::from(e),
    })?;
    tracing::info!(service = %target, service_type = t.as_str(), dependencies = deps.len(), "service created");
    Ok(Reply::json(
        201,
        service_view(&rec, &deps.into_iter().collect::<Vec<_>>()),
    ))
}

/// Loads a service and checks that its type serves `api`.
pub(crate) async fn service_for_api(
    repo: &dyn Repository,
    target: &Target,
    api: &str,
) -> Result<(Record, ServiceType), ApiError> {
    let wanted = ServiceType::from_api(api)?;
    let rec = load(repo, target).await?;
    let t = rec.service_type().ok_or_else(|| {
        ApiError::validation(format!(
            "{target} is a {}, not a service",
            rec.kind().as_str()
        ))
    })?;
    if t != wanted {
        return Err(ApiError::validation(format!(
            "{target} is a {} service; use {} instead of {api}",
            t.as_str(),
            t.api()
        )));
    }
    Ok((rec, t))
}

/// `GET /v1/{service}/{service-api}/configuration/view`
pub async fn configuration_view(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::ConfigurationView>,
    api: &str,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let (rec, _) = service_for_api(repo, target, api).await?;
    let deps = repo.dependencies(target).await?;
    Ok(Reply::json(200, service_view(&rec, &deps)))
}

/// `PUT /v1/{service}/{service-api}/configuration/update`: replaces the service's `config`.
/// The body is the document as `configuration/view` shows it; `_id` and `type` must match,
/// `version` (when given) must be the current one, and secrets shown as `***` keep their value.
pub async fn configuration_update(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::ConfigurationUpdate>,
    api: &str,
    body: Value,
    secrets: Option<&dyn SecretBox>,
    policy: &RegistryPolicy,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::validation("body must be a JSON object"))?;
    let (rec, t) = service_for_api(repo, target, api).await?;
    let Doc::Service(stored) = &rec.doc else {
        return Err(ApiError::internal_msg(format!("{target} is not a service")));
    };
    let stored_public = match stored.public().get("config") {
        Some(Value::Object(c)) => c.clone(),
        _ => Default::default(),
    };
    let config = config_of_update(obj, &stored_public)?;
    if let Some(deps) = obj.get("dependencies") {
        same_dependencies(repo, target, deps).await?;
    }
    if let Some(id) = obj.get("_id") {
        if id.as_str() != Some(target.as_str()) {
            return Err(ApiError::validation(format!(
                "_id must equal the target {target}"
            )));
        }
    }
    if let Some(ty) = obj.get("type") {
        if ty.as_str() != Some(t.as_str()) {
            return Err(ApiError::validation(format!(
                "type cannot change (is {})",
                t.as_str()
            )));
        }
    }
    if let Some(v) = obj.get("version") {
        if v.as_u64() != Some(rec.version) {
            return Err(ApiError::conflict(format!(
                "version {v} is not the current version {}",
                rec.version
            )));
        }
    }
    let doc = service_doc(t, config, secrets, policy, target, Some(stored)).await?;
    // Where lists and CRLs are published, and with which secrets, is its own right.
    let crl_changed = doc.crl_target() != stored.crl_target();
    let on = doc.crl_target().is_some();
    if doc.registry() != stored.registry() || crl_changed {
        auth.principal().authorize::<act::RegistryUpdate>(target)?;
    }
    keeps_crl_urls(repo, target, stored, &doc).await?;
    keeps_list_urls(repo, target, stored, &doc).await?;
    let mut updated = rec.clone();
    updated.doc = Doc::Service(doc);
    repo.commit(vec![Op::Replace {
        record: updated,
        expected_version: rec.version,
        children_delta: 0,
    }])
    .await
    .map_err(|e| match failed_index(&e) {
        Some(_) => ApiError::conflict(format!(
            "{target} changed or was removed concurrently; nothing was written"
        )),
        None => ApiError::from(e),
    })?;
    tracing::info!(service = %target, version = rec.version + 1, "configuration replaced");
    if t == ServiceType::X509Service {
        // Idempotent: an update sent again repairs a schedule a failure left unfinished.
        // A changed target gets every CRL now; otherwise only those never scheduled.
        if let Err(e) = schedule_crls(repo, target, on, crl_changed).await {
            tracing::error!(code = "CRL_SCHEDULE_FAILED", service = %target, error = %e.message, "configuration saved, but the IACAs' CRLs could not all be scheduled; the same update sent again finishes it");
            return Err(e);
        }
    }
    Ok(Reply::empty(200))
}

/// Credentials already issued point at their status list's `uri`: while a credential-status
/// service has lists, its registry may change (credentials, endpoint) only where the public URL
/// of every list stays the same; moving the lists elsewhere would leave every issued credential
/// pointing at a URL that no longer receives its status changes (409).
async fn keeps_list_urls(
    repo: &dyn Repository,
    target: &Target,
    stored: &Service,
    doc: &Service,
) -> Result<(), ApiError> {
    let (Some(old), Some(new)) = (stored.registry(), doc.registry()) else {
        return Ok(());
    };
    let (old_base, new_base) = (old.public_base(), new.public_base());
    if old_base == new_base {
        return Ok(());
    }
    let has_lists = children_of_kind(repo, target, Kind::StatusConfig)
        .await?
        .iter()
        .any(|c| c.get::<StatusConfig>().is_some_and(|c| !c.lists.is_empty()));
    if !has_lists {
        return Ok(());
    }
    Err(ApiError::conflict(format!(
        "config.registry: credentials issued with {target}'s lists point at {old_base}; the \
         registry may change only where that stays the lists' public URL (give it a bucketUrl of \
         {old_base}), and lists keep being published there"
    )))
}

/// Certificates already issued name their IACA's CRL URL in their distribution point: while an
/// x509-service has issued anything, its CRL target may change (credentials, endpoint,
/// validity) only where the public URL of its CRLs stays the same, and may not be removed.
async fn keeps_crl_urls(
    repo: &dyn Repository,
    target: &Target,
    stored: &Service,
    doc: &Service,
) -> Result<(), ApiError> {
    let Some(old) = stored.crl_target() else {
        return Ok(());
    };
    let (old_base, new_base) = (
        old.registry.public_base(),
        doc.crl_target().map(|c| c.registry.public_base()),
    );
    if new_base.as_deref() == Some(old_base.as_str()) {
        return Ok(());
    }
    if repo.children(Some(target), 1, None).await?.items.is_empty() {
        return Ok(());
    }
    Err(ApiError::conflict(format!(
        "config.crl: certificates issued by {target} point at CRLs under {old_base}; the CRL \
         target may change only where that stays their public URL (give the registry a bucketUrl \
         of {old_base}), and cannot be removed while they exist"
    )))
}

/// Makes every IACA's CRL of an x509-service due for the scheduled refresh now when the service
/// has a CRL target (`on`) and it is not scheduled yet (or `all`: the target changed), or takes
/// them out of the refresh when it has none. One small write per IACA that needs it; a concurrent change of an IACA's record is
/// read again and retried.
async fn schedule_crls(
    repo: &dyn Repository,
    service: &Target,
    on: bool,
    all: bool,
) -> Result<(), ApiError> {
    let now = chrono::Utc::now().timestamp();
    for rec in children_of_kind(repo, service, Kind::Issued).await? {
        let id = rec.id.clone();
        let mut current = Some(rec);
        for attempt in 0.. {
            let rec = match current.take() {
                Some(r) => r,
                None => match repo.get(&id).await? {
                    Some(r) => r,
                    None => break,
                },
            };
            let Ok(mut iaca) = rec.downcast::<IssuedCertificate>() else {
                break;
            };
            if iaca.doc.profile != IssuedProfile::Iaca {
                break;
            }
            let crl = &mut iaca
                .doc
                .crl
                .get_or_insert_with(CrlState::unpublished)
                .publish;
            crl.refresh_at = match (on, crl.refresh_at) {
                (false, None) => break, // out of the refresh already
                (false, Some(_)) => None,
                // Scheduled already (and, when the target changed, due now).
                (true, Some(at)) if !all || at <= now => break,
                (true, _) => Some(now),
            };
            let v = iaca.version;
            match repo
                .commit(vec![Op::Replace {
                    record: iaca.upcast(),
                    expected_version: v,
                    children_delta: 0,
                }])
                .await
            {
                Ok(()) => break,
                Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict)
                    if attempt < 5 => {}
                Err(e) => return Err(ApiError::from(e)),
            }
        }
    }
    Ok(())
}
