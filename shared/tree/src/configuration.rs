//! A service's configuration document: `configuration/view` and `configuration/update` (the
//! document replaced as a whole, dependencies unchanged, URLs that issued credentials and
//! certificates point at kept).

use std::collections::BTreeSet;

use serde_json::Value;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    CrlState, Doc, IssuedCertificate, IssuedProfile, Kind, Service, ServiceType, StatusConfig,
};
use trustfn_domain::ports::SecretBox;
use trustfn_domain::registry_config::RegistryPolicy;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::children_of_kind;
use trustfn_domain::target::Target;

use crate::services::*;

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
    if let Service::Vical(c) = &doc {
        let deps = repo.get_many(&repo.dependencies(target).await?).await?;
        let now = chrono::Utc::now();
        trustfn_vical::service::check(repo, auth.principal(), target, &deps, c, now).await?;
    }
    // Where lists, CRLs and VICALs are published, and with which secrets, is its own right.
    let crl_changed = doc.crl_target() != stored.crl_target();
    let on = doc.crl_target().is_some();
    let vical_registry = |s: &Service| match s {
        Service::Vical(c) => c.registry.clone(),
        _ => None,
    };
    if doc.registry() != stored.registry()
        || crl_changed
        || vical_registry(&doc) != vical_registry(stored)
    {
        auth.principal().authorize::<act::RegistryUpdate>(target)?;
    }
    // So is what lies under other callers' requests.
    trustfn_domain::defaults::authorize_changes(auth.principal(), target, Some(stored), &doc)?;
    keeps_crl_urls(repo, target, stored, &doc).await?;
    keeps_list_urls(repo, target, stored, &doc).await?;
    let mut updated = rec.clone();
    updated.doc = Doc::Service(doc);
    trustfn_domain::resource::replace(repo, updated, rec.version).await?;
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
