//! Services: creation (with dependencies and sealed registry secrets); the checks of a
//! service's `config` that creation and `configuration/update` share.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{json, Value};
use trustfn_domain::auth::Principal;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    CrlTarget, Kind, Record, Service, ServiceType, StatusServiceConfig, X509ServiceConfig,
};
use trustfn_domain::ports::SecretBox;
use trustfn_domain::registry_config::{RegistryConfig, RegistryPolicy};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::resource::{failed_index, load};
use trustfn_domain::secret::SecretInput;
use trustfn_domain::target::Target;

/// Most dependencies one service may have.
pub const MAX_DEPENDENCIES: usize = 32;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    #[serde(rename = "type")]
    pub service_type: String,
    #[serde(default)]
    pub config: Option<Value>,
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// The service's own path, as the walt.id quickstart sends it: must equal the target.
    #[serde(default, rename = "_id")]
    pub id: Option<String>,
    /// A vical-service's configuration fields at the top level, as walt.id's create body has
    /// them (see `trustfn_vical::service::TOP_LEVEL_FIELDS`).
    #[serde(default, rename = "signingKeyId")]
    pub signing_key_id: Option<Value>,
    #[serde(default, rename = "signerCertificateId")]
    pub signer_certificate_id: Option<Value>,
    #[serde(default, rename = "signerCertificateChainIds")]
    pub signer_certificate_chain_ids: Option<Value>,
}

impl CreateService {
    /// `config` with the top-level vical-service fields moved in (a field given in both places
    /// is refused).
    fn config(&mut self, t: ServiceType) -> Result<Value, ApiError> {
        let mut config = self.config.take().unwrap_or_else(|| json!({}));
        let top = [
            ("signingKeyId", self.signing_key_id.take()),
            ("signerCertificateId", self.signer_certificate_id.take()),
            (
                "signerCertificateChainIds",
                self.signer_certificate_chain_ids.take(),
            ),
        ];
        for (name, v) in top {
            let Some(v) = v else { continue };
            if t != ServiceType::Vical {
                return Err(ApiError::validation(format!(
                    "{name} is only for vical-services, not {}",
                    t.as_str()
                )));
            }
            let Value::Object(c) = &mut config else {
                return Err(ApiError::validation("config must be an object"));
            };
            if c.contains_key(name) {
                return Err(ApiError::validation(format!(
                    "{name} is given both at the top level and in config"
                )));
            }
            c.insert(name.to_owned(), v);
        }
        Ok(config)
    }
}

/// A service document from a request's `type` and `config`: validated, registry secrets sealed
/// (`***` keeps the value stored in `stored`).
pub(crate) async fn service_doc(
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
    trustfn_domain::defaults::check_config(t, &config)?;
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
    if t == ServiceType::Vical {
        let stored = match stored {
            Some(Service::Vical(c)) => Some(c),
            _ => None,
        };
        // The same registry shapes, rules and sealing as a status service's, optional here.
        let registry = match config.remove("registry") {
            None | Some(Value::Null) => None,
            Some(r) => Some(
                RegistryConfig::from_request(Some(&r), policy)?
                    .seal(secrets, target, stored.and_then(|c| c.registry.as_ref()))
                    .await?,
            ),
        };
        return Ok(Service::Vical(trustfn_vical::service::config_from_request(
            config, registry, stored,
        )?));
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
pub(crate) fn check_config_fields(
    t: ServiceType,
    config: &serde_json::Map<String, Value>,
) -> Result<(), ApiError> {
    if !matches!(t, ServiceType::CredentialStatus | ServiceType::Vical)
        && config.contains_key("registry")
    {
        return Err(ApiError::validation(format!(
            "config.registry is only for credential-status and vical services, not {}",
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
pub(crate) fn crl_field(mut e: ApiError) -> ApiError {
    e.message = e
        .message
        .replacen("config.registry", "config.crl.registry", 1);
    e
}

/// An x509-service's `config.crl` (`{"registry": {...}, "validityDays"?: 7}`), validated: the
/// registry exactly as a credential-status registry. `None` when absent or `null`.
pub(crate) fn crl_request(
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

/// `POST /v1/{tenant.service}/resource-api/services/create`
pub async fn create_service(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::ServiceCreate>,
    mut body: CreateService,
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
    if body.id.as_ref().is_some_and(|id| id != target.as_str()) {
        return Err(ApiError::validation(format!(
            "_id must equal the target {target}"
        )));
    }
    let t = ServiceType::parse(&body.service_type)?;
    let config = body.config(t)?;
    // Checked before anything is read; sealed (one KMS call per secret) once the rest is valid.
    if !config.is_object() {
        return Err(ApiError::validation("config must be an object"));
    }
    check_config_fields(t, config.as_object().expect("checked"))?;
    if t == ServiceType::CredentialStatus
        || (t == ServiceType::Vical && config.get("registry").is_some_and(|r| !r.is_null()))
    {
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
    // Default requests created with the service need the same rights as stored later.
    trustfn_domain::defaults::authorize_changes(p, target, None, &doc)?;
    if let Service::Vical(c) = &doc {
        let deps: Vec<Target> = deps.iter().cloned().collect();
        let deps = repo.get_many(&deps).await?;
        let now = chrono::Utc::now();
        trustfn_vical::service::check(repo, p, target, &deps, c, now).await?;
    }
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

/// The public view of a service with its dependencies, secrets redacted. The configuration is
/// shown nested (`config`) and, for Enterprise API clients, also flat: each configuration field
/// whose name is not a document field appears at the top level too. As walt.id's service
/// documents: `traversable` (always true here: a service's children are listed by
/// `resources/list`), and a kms service's `defaultKeyGenerationRequests` (`{}` when none is
/// stored).
pub(crate) fn service_view(rec: &Record, deps: &[Target]) -> Value {
    let mut v = rec.to_public();
    v["dependencies"] = Value::Array(deps.iter().map(|d| Value::String(d.to_string())).collect());
    v["traversable"] = Value::Bool(true);
    if rec.service_type() == Some(ServiceType::Kms) {
        v[trustfn_domain::defaults::KEY_GENERATION_DEFAULTS] = serde_json::json!({});
    }
    if let Some(Value::Object(config)) = v.get("config").cloned() {
        for (k, val) in config {
            if !DOCUMENT_FIELDS.contains(&k.as_str()) {
                v[k.as_str()] = val;
            }
        }
    }
    v
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

/// The fields of a service document besides its configuration.
pub(crate) const DOCUMENT_FIELDS: [&str; 8] = [
    "_id",
    "traversable",
    "parent",
    "type",
    "config",
    "dependencies",
    "version",
    "createdAt",
];
