//! `POST /v1/{vicalService}/vical-service-api/publish`: a new version of the service's VICAL,
//! holding every `vical-entry` certificate of every attached store, signed with one KMS Sign
//! and kept for good.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use trustfn_domain::auth::{act, Authorized, Principal};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::time::{from_unix, whole_seconds};
use trustfn_domain::model::{
    Backlogged, Certificate, CertificateType, Kind, Record, ServiceType, VicalServiceConfig,
    VicalVersion,
};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::resource::{children_of_kind, failed_index};
use trustfn_domain::target::Target;
use trustfn_publish::{Outcome, PublishDeps};
use trustfn_x509::describe::describe;

use crate::payload::{CertificateInfo, SignFailure, Vical, VICAL_VERSION};
use crate::registry::MAX_BACKLOG;
use crate::service::check;
use crate::versions::{load_vical_service, version_path};

/// Largest signed VICAL kept (a version is one table item, at most 400 KB with its base64):
/// about 400 IACAs.
pub const MAX_VICAL_BYTES: usize = 290_000;
/// Longest `vicalProvider`.
pub const MAX_PROVIDER_CHARS: usize = 256;
/// Most invalid entries an error names (the rest are counted).
const NAMED_INVALID: usize = 10;

/// The publish request, after the stored default request was merged under the call's body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishRequest {
    #[serde(default)]
    pub vical_provider: Option<String>,
    #[serde(default)]
    pub version_id: Option<String>,
    #[serde(default)]
    pub issuance_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub next_update: Option<DateTime<Utc>>,
    /// Leave out the stored entries that cannot be listed (expired, not an IACA, no docType)
    /// instead of refusing the publish.
    #[serde(default)]
    pub skip_invalid: Option<bool>,
}

impl PublishRequest {
    /// Reads a (partial) publish body: 400 naming what does not fit.
    pub fn parse(body: Value) -> Result<PublishRequest, ApiError> {
        if !body.is_object() {
            return Err(ApiError::validation("body must be a JSON object"));
        }
        serde_json::from_value(body).map_err(|e| ApiError::validation(format!("body: {e}")))
    }
}

/// The publish answer (walt.id's fields; `skipped` only when entries were left out).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub version_id_path: String,
    pub version: &'static str,
    pub entry_count: u32,
    pub vical_provider: String,
    pub date: String,
    #[serde(skip)]
    pub date_secs: i64,
    pub vical_issue_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
    #[serde(skip)]
    pub next_update_secs: Option<i64>,
    pub sha256: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// With `config.registry`: whether the version is in the registry now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryCopy>,
}

/// The registry copy of a publish, in its answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCopy {
    /// The object holding the latest version.
    pub object: String,
    pub published: bool,
    /// Why not (the refresh retries it, with backoff).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A version id: one path segment, not `versions`; a UUID when none is given.
fn version_id(given: Option<String>) -> Result<String, ApiError> {
    let Some(id) = given else {
        return Ok(uuid::Uuid::new_v4().to_string());
    };
    let t = Target::parse(&id)
        .map_err(|e| ApiError::validation(format!("versionId: {}", e.message)))?;
    if t.depth() != 1 || id == "versions" {
        return Err(ApiError::validation(
            "versionId: one segment of letters, digits, '-' and '_' (not 'versions')",
        ));
    }
    Ok(id)
}

fn provider(given: Option<String>) -> Result<String, ApiError> {
    let p = given.ok_or_else(|| {
        ApiError::validation(
            "vicalProvider is required (in the body or the stored default request publish-vical)",
        )
    })?;
    if p.trim().is_empty()
        || p.chars().count() > MAX_PROVIDER_CHARS
        || p.chars().any(char::is_control)
    {
        return Err(ApiError::validation(format!(
            "vicalProvider: 1 to {MAX_PROVIDER_CHARS} characters, no control characters"
        )));
    }
    Ok(p)
}

/// `POST /v1/{vicalService}/vical-service-api/publish`
pub async fn publish(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::VicalPublish>,
    body: Value,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    if !body.is_object() {
        return Err(ApiError::validation("body must be a JSON object"));
    }
    let (rec, cfg) = load_vical_service(repo, target).await?;
    let mut merged = Value::Object(cfg.publish_defaults.clone().unwrap_or_default());
    trustfn_domain::json::deep_merge(&mut merged, body);
    let req = PublishRequest::parse(merged)?;
    let out = publish_as(repo, deps, auth.principal(), (rec, cfg), req).await;
    crate::refresh::metrics(&out, deps.now());
    Ok(Reply::typed(201, &out?))
}

/// Publishes a new version of the vical-service `rec` (configuration `cfg`) for `caller`, whose
/// rights on what the configuration names are checked again: the publish of a request, or of
/// the refresh (as trustfn itself).
pub async fn publish_as(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    caller: &Principal,
    (rec, cfg): (Record, VicalServiceConfig),
    req: PublishRequest,
) -> Result<Published, ApiError> {
    let target = &rec.id;
    let provider = provider(req.vical_provider)?;
    let version_id = version_id(req.version_id)?;
    let record_id = target.child(&version_id)?;
    let now = from_unix(deps.now());
    let date = req.issuance_date.map(whole_seconds).unwrap_or(now);
    let next_update = req.next_update.map(whole_seconds);
    if next_update.is_some_and(|n| n <= date) {
        return Err(ApiError::validation(format!(
            "nextUpdate must be after issuanceDate ({})",
            rfc3339(date)
        )));
    }
    if repo.get(&record_id).await?.is_some() {
        return Err(version_exists(target, &version_id));
    }
    let service_deps = repo.get_many(&repo.dependencies(target).await?).await?;
    let resolved = check(repo, caller, target, &service_deps, &cfg, now).await?;
    let (infos, invalid) = entries(repo, &service_deps, now).await?;
    if !invalid.is_empty() && req.skip_invalid != Some(true) {
        return Err(invalid_entries(&invalid));
    }
    if cfg.registry_backlog.len() >= MAX_BACKLOG {
        return Err(ApiError::new(
            503,
            "RegistryBacklogFull",
            format!(
                "the registry of {target} has not taken the last {MAX_BACKLOG} versions; nothing was published; fix the registry first (the publish log says why it fails)"
            ),
        ));
    }
    // The service's issue counter lives in its own item, outside the tree: it survives a delete
    // and a re-creation of the service at this path, so an id is never handed out twice.
    let issue_id = repo.next_number(&issue_series(target)).await?;
    let vical = Vical {
        provider: provider.clone(),
        date,
        issue_id,
        next_update,
        infos,
    };
    let signer = deps.kms.signer(
        resolved.key.kms_key_arn.as_str(),
        resolved.key.public_key.clone(),
    );
    let signed = vical
        .sign(signer.as_ref(), &resolved.x5chain)
        .await
        .map_err(|e| match e {
            SignFailure::Signer(m) => {
                ApiError::upstream("KMS").with_cause(format!("signing the VICAL failed: {m}"))
            }
            SignFailure::BadSignature => ApiError::new(
                502,
                "BadSignatureException",
                "the signing key returned an invalid signature; nothing was published",
            )
            .with_cause("KMS returned a signature that does not verify with the key's public key"),
        })?;
    if signed.len() > MAX_VICAL_BYTES {
        return Err(ApiError::validation(format!(
            "the VICAL would be {} bytes with {} entries; at most {MAX_VICAL_BYTES} are kept",
            signed.len(),
            vical.infos.len()
        )));
    }
    let sha256 = hex::encode(Sha256::digest(&signed));
    let entry_count = vical.infos.len() as u32;
    let version = VicalVersion {
        version_id: version_id.clone(),
        vical_issue_id: issue_id,
        vical_provider: provider.clone(),
        date,
        next_update,
        entry_count,
        sha256: sha256.clone(),
        cbor: base64::engine::general_purpose::STANDARD.encode(&signed),
    };
    let mut service = rec.clone();
    let mut next = VicalServiceConfig {
        latest: Some(version_id.clone()),
        refresh_at: next_update.map(|n| crate::refresh::refresh_time(date, n)),
        failures: 0,
        ..cfg
    };
    let copy = next.registry.is_some();
    if copy {
        // The registry copy is behind by this version; due for the refresh should this call
        // not publish it (a lease's time from now).
        next.registry_backlog.push(Backlogged {
            version_id: version_id.clone(),
            vical_issue_id: issue_id,
        });
        let st = next
            .registry_publish
            .get_or_insert_with(|| Box::new(trustfn_domain::model::PublishState::unpublished()));
        st.revision += 1;
        let due = deps.now() + trustfn_publish::grace_secs();
        st.refresh_at = Some(st.refresh_at.map_or(due, |at| at.min(due)));
    }
    service.doc = trustfn_domain::model::Service::Vical(next).into();
    let path = version_path(target, &version_id);
    // The audit entry of this commit names the version with its issue id, entry count and hash.
    let ops = vec![
        Op::Create(Record::new(record_id, version)),
        Op::Replace {
            record: service,
            expected_version: rec.version,
            children_delta: 1,
        },
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(Some(0)) => version_exists(target, &version_id),
        Some(_) => ApiError::conflict(format!(
            "{target} changed or published concurrently; nothing was published, retry"
        )),
        None => ApiError::from(e),
    })?;
    let registry = match copy {
        false => None,
        true => Some(copy_now(repo, deps, target).await),
    };
    let skipped: Vec<String> = invalid.into_iter().map(|(p, _)| p).collect();
    tracing::info!(service = %target, version = %version_id, vical_issue_id = issue_id, entries = entry_count, skipped = skipped.len(), "VICAL published");
    Ok(Published {
        version_id_path: path,
        version: VICAL_VERSION,
        entry_count,
        vical_provider: provider,
        date: rfc3339(date),
        date_secs: date.timestamp(),
        vical_issue_id: issue_id,
        next_update: next_update.map(rfc3339),
        next_update_secs: next_update.map(|n| n.timestamp()),
        sha256,
        skipped,
        registry,
    })
}

/// Publishes the registry copy of a version just kept; a failure leaves it to the refresh.
async fn copy_now(repo: &dyn Repository, deps: &PublishDeps<'_>, target: &Target) -> RegistryCopy {
    let object = crate::registry::latest_key(target);
    let (published, message) =
        match crate::registry::publish_copy(repo, deps, target, false, deps.deadline_ms).await {
            Ok(Outcome::Published | Outcome::UpToDate) => (true, None),
            Ok(Outcome::Coalesced) => (
                false,
                Some(
                    "another publisher is uploading to the registry; it uploads this version too"
                        .to_owned(),
                ),
            ),
            Ok(Outcome::OutOfTime | Outcome::Inactive) => (
                false,
                Some("not uploaded within this call; the refresh uploads it".to_owned()),
            ),
            Err(e) => (false, Some(e.message)),
        };
    RegistryCopy {
        object,
        published,
        message,
    }
}

/// The number series of a vical-service's `vicalIssueID`s.
pub fn issue_series(service: &Target) -> String {
    format!("vical-issue:{service}")
}

fn version_exists(service: &Target, id: &str) -> ApiError {
    ApiError::new(
        409,
        "DuplicateTarget",
        format!(
            "version {} already exists; a published VICAL is never replaced, choose another versionId",
            version_path(service, id)
        ),
    )
}

fn invalid_entries(invalid: &[(String, String)]) -> ApiError {
    let mut named: Vec<String> = invalid
        .iter()
        .take(NAMED_INVALID)
        .map(|(p, why)| format!("{p} ({why})"))
        .collect();
    if invalid.len() > NAMED_INVALID {
        named.push(format!("{} more", invalid.len() - NAMED_INVALID));
    }
    ApiError::validation(format!(
        "certificateInfos: {} stored vical-entry certificate(s) cannot be listed: {}; fix or \
         remove them, or publish with \"skipInvalid\": true",
        invalid.len(),
        named.join(", ")
    ))
}

fn strings(meta: Option<&Map<String, Value>>, key: &str) -> Vec<String> {
    match meta.and_then(|m| m.get(key)) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn text(meta: Option<&Map<String, Value>>, key: &str) -> Option<String> {
    meta.and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// One stored `vical-entry` as a `CertificateInfo`, or why it cannot be listed.
fn certificate_info(c: &Certificate, now: DateTime<Utc>) -> Result<CertificateInfo, String> {
    let der = trustfn_x509::pem::decode_one_certificate(&c.data.pem).map_err(|e| e.to_string())?;
    let d = describe(&der).map_err(|e| e.to_string())?;
    if d.not_after < now {
        return Err(format!("expired {}", rfc3339(d.not_after)));
    }
    if !(d.ca && d.key_cert_sign) {
        return Err("not an IACA: basicConstraints cA and keyCertSign are required".into());
    }
    let meta = c.data.complementary_metadata.as_ref();
    let doc_types = strings(meta, "docType");
    if doc_types.is_empty() {
        return Err("no docType in its complementaryMetadata".into());
    }
    let ski = match (&d.subject_key_identifier, &d.public_key) {
        (Some(k), _) => k.clone(),
        (None, Some(k)) => k.key_identifier(),
        (None, None) => return Err("no subjectKeyIdentifier and no EC public key".into()),
    };
    Ok(CertificateInfo {
        serial_number: d.serial.clone(),
        ski,
        doc_types,
        certificate_profiles: strings(meta, "certificateProfile"),
        issuing_authority: text(meta, "issuingAuthority")
            .or_else(|| d.organization_name.clone())
            .or_else(|| d.common_name.clone()),
        issuing_country: text(meta, "issuingCountry").or_else(|| d.country.clone()),
        state_or_province_name: text(meta, "stateOrProvinceName")
            .or_else(|| d.state_or_province_name.clone()),
        not_before: d.not_before,
        not_after: d.not_after,
        certificate: der,
    })
}

/// Every `vical-entry` certificate of the attached stores (`base` entries never), once each (a
/// certificate issued through an x509-service is in every store it is attached to), in store
/// then path order; and the paths of the entries that cannot be listed, with why.
pub async fn entries(
    repo: &dyn Repository,
    service_deps: &[Record],
    now: DateTime<Utc>,
) -> Result<(Vec<CertificateInfo>, Vec<(String, String)>), ApiError> {
    let mut seen = std::collections::BTreeSet::new();
    let (mut infos, mut invalid) = (Vec::new(), Vec::new());
    for store in service_deps
        .iter()
        .filter(|d| d.service_type() == Some(ServiceType::X509Store))
    {
        for rec in children_of_kind(repo, &store.id, Kind::Certificate).await? {
            let Some(c) = rec.get::<Certificate>() else {
                continue;
            };
            if c.data.kind != CertificateType::VicalEntry
                || !seen.insert(c.sha256_fingerprint.clone())
            {
                continue;
            }
            match certificate_info(c, now) {
                Ok(i) => infos.push(i),
                Err(why) => invalid.push((rec.id.to_string(), why)),
            }
        }
    }
    Ok((infos, invalid))
}
