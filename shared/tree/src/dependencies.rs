//! Dependencies between services of one organization (`dependencies/add|remove|list`).

use crate::services::{check_dependency, service_for_api, MAX_DEPENDENCIES};
use serde_json::{json, Value};
use trustfn_domain::auth::Principal;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    IssuedCertificate, IssuedProfile, Kind, Service, ServiceType, StatusConfig,
};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::resource::{children_of_kind, failed_index, visible};
use trustfn_domain::target::Target;

/// `POST /v1/{service}/{service-api}/dependencies/add`
pub async fn dependency_add(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::DependencyAdd>,
    api: &str,
    dep: &str,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let p = auth.principal();
    let dep = Target::parse(dep)
        .map_err(|e| ApiError::validation(format!("dependency: {}", e.message)))?;
    p.authorize::<act::DependencyAdd>(&dep)?;
    let (_, t) = service_for_api(repo, target, api).await?;
    check_dependency(repo, p, target, t, &dep).await?;
    let existing = repo.dependencies(target).await?;
    if existing.contains(&dep) {
        return Err(ApiError::conflict(format!(
            "{dep} is already a dependency of {target}"
        )));
    }
    if existing.len() >= MAX_DEPENDENCIES {
        return Err(ApiError::validation(format!(
            "{target} already has {MAX_DEPENDENCIES} dependencies"
        )));
    }
    let ops = vec![
        Op::AddEdge {
            from: target.clone(),
            to: dep.clone(),
        },
        Op::Count {
            id: dep.clone(),
            children: 0,
            dependants: 1,
        },
        // Bumps the version a concurrent delete of `target` expects.
        Op::Touch { id: target.clone() },
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(Some(0)) | Some(None) => {
            ApiError::conflict(format!("{dep} is already a dependency of {target}"))
        }
        Some(_) => ApiError::conflict(
            "the service or the dependency was removed concurrently; nothing was written",
        ),
        None => ApiError::from(e),
    })?;
    tracing::info!(service = %target, dependency = %dep, "dependency added");
    Ok(Reply::json(
        201,
        json!({"_id": target.as_str(), "dependency": dep.as_str()}),
    ))
}

/// `POST /v1/{service}/{service-api}/dependencies/remove`
pub async fn dependency_remove(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::DependencyRemove>,
    api: &str,
    dep: &str,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let dep = Target::parse(dep)
        .map_err(|e| ApiError::validation(format!("dependency: {}", e.message)))?;
    let (_, kind) = service_for_api(repo, target, api).await?;
    refuse_if_signing(repo, auth.principal(), (target, kind), &dep).await?;
    let ops = vec![
        Op::RemoveEdge {
            from: target.clone(),
            to: dep.clone(),
        },
        Op::Count {
            id: dep.clone(),
            children: 0,
            dependants: -1,
        },
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(_) => ApiError::validation(format!("{dep} is not a dependency of {target}")),
        None => ApiError::from(e),
    })?;
    tracing::info!(service = %target, dependency = %dep, "dependency removed");
    Ok(Reply::empty(204))
}

/// A kms dependency whose keys sign what `service` publishes stays: a status configuration's
/// `kid`, or the key of an IACA whose CRL the x509-service publishes. Removing it would leave
/// every later change accepted and never published (409, naming what the caller may see).
async fn refuse_if_signing(
    repo: &dyn Repository,
    caller: &Principal,
    (service, kind): (&Target, ServiceType),
    dep: &Target,
) -> Result<(), ApiError> {
    let uses = |key: Option<&Target>| key.is_some_and(|k| k.is_within(dep));
    let users: Vec<Target> = match kind {
        ServiceType::CredentialStatus => children_of_kind(repo, service, Kind::StatusConfig)
            .await?
            .into_iter()
            .filter(|r| uses(r.get::<StatusConfig>().map(|c| &c.kid)))
            .map(|r| r.id)
            .collect(),
        ServiceType::X509Service => children_of_kind(repo, service, Kind::Issued)
            .await?
            .into_iter()
            .filter(|r| {
                let iaca = r
                    .get::<IssuedCertificate>()
                    .filter(|c| c.profile == IssuedProfile::Iaca);
                uses(iaca.and_then(|c| c.key_path.as_ref()))
            })
            .map(|r| r.id)
            .collect(),
        ServiceType::Vical => {
            let rec = trustfn_domain::resource::load(repo, service).await?;
            let signs = match &rec.doc {
                trustfn_domain::model::Doc::Service(Service::Vical(c)) => {
                    Target::parse(&c.signing_key_id).ok()
                }
                _ => None,
            };
            match uses(signs.as_ref()) {
                true => vec![service.clone()],
                false => Vec::new(),
            }
        }
        ServiceType::Kms | ServiceType::X509Store => Vec::new(),
    };
    if users.is_empty() {
        return Ok(());
    }
    Err(ApiError::conflict(format!(
        "{dep} holds the signing key of {} in {service}: their lists or CRLs could never be \
         published again; delete those first (or keep the dependency)",
        visible(caller, users.iter(), "signer")
    )))
}

/// `GET /v1/{service}/{service-api}/dependencies/list`
pub async fn dependency_list(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::DependencyList>,
    api: &str,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    service_for_api(repo, target, api).await?;
    let deps = repo.dependencies(target).await?;
    Ok(Reply::json(
        200,
        Value::Array(
            deps.into_iter()
                .map(|d| Value::String(d.to_string()))
                .collect(),
        ),
    ))
}
