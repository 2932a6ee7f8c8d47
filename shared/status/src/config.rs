//! Status credential configurations: the list specification (type, format, purpose, sizes,
//! lifetimes), the signing key, and `status-credential/create`.

use serde::Deserialize;
use serde_json::{json, Value};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Kind, Record, ServiceType, StoredKey};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::load;
use trustfn_domain::target::Target;

use crate::{DEFAULT_SIZE, DEFAULT_TTL, DEFAULT_VALIDITY, MAX_SIZE};

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct StatusMessage {
    pub status: String,
    pub message: String,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListSpec {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub status_size: Option<u8>,
    #[serde(default)]
    pub statuses: Option<Vec<StatusMessage>>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub ttl: Option<u64>,
    #[serde(default)]
    pub validity: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateConfig {
    pub kid: String,
    #[serde(default)]
    pub did: Option<String>,
    #[serde(default, rename = "x5Chain")]
    pub x5_chain: Option<Vec<String>>,
    pub config: ListSpec,
}

/// Parses `"0x1"`, `"1"` (and `"0X1"`) status values.
pub fn parse_status(s: &str) -> Option<u8> {
    let t = s.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) if !h.is_empty() => u8::from_str_radix(h, 16).ok(),
        Some(_) => None,
        None => t.parse().ok(),
    }
}

/// The validated, normalised list specification stored on the configuration.
pub(crate) fn normalise(spec: ListSpec, has_did: bool, has_x5: bool) -> Result<Value, ApiError> {
    let v = |m: String| ApiError::validation(m);
    let kind = spec.kind.as_str();
    let (format, purpose, order_w3c) = match kind {
        "TokenStatusList" => {
            let f = spec.format.unwrap_or_else(|| "JWT".into());
            if f != "JWT" && f != "CWT" {
                return Err(v(format!("config.format {f:?}: use JWT or CWT")));
            }
            if spec.purpose.is_some() {
                return Err(v("config.purpose: only for W3C list types".into()));
            }
            (f, None, false)
        }
        "BitstringStatusList" | "StatusList2021" => {
            if let Some(f) = spec.format.as_deref().filter(|f| *f != "JWT") {
                return Err(v(format!(
                    "config.format {f:?}: W3C lists are published as JWT"
                )));
            }
            let p = spec.purpose.unwrap_or_else(|| "revocation".into());
            let allowed: &[&str] = if kind == "StatusList2021" {
                &["revocation", "suspension"]
            } else {
                &["revocation", "suspension", "message", "refresh"]
            };
            if !allowed.contains(&p.as_str()) {
                return Err(v(format!(
                    "config.purpose {p:?}: use one of {}",
                    allowed.join(", ")
                )));
            }
            if !has_did {
                return Err(v(
                    "did: W3C status list credentials need an issuer DID".into()
                ));
            }
            if has_x5 {
                return Err(v("x5Chain: only for TokenStatusList".into()));
            }
            ("JWT".to_owned(), Some(p), true)
        }
        other => {
            return Err(v(format!(
                "config.type {other:?}: use TokenStatusList, BitstringStatusList or StatusList2021"
            )))
        }
    };
    let bits = spec.status_size.unwrap_or(1);
    if ![1, 2, 4, 8].contains(&bits) {
        return Err(v("config.statusSize: use 1, 2, 4 or 8".into()));
    }
    if kind == "StatusList2021" && bits != 1 {
        return Err(v(
            "config.statusSize: StatusList2021 has 1-bit statuses".into()
        ));
    }
    let max = if bits == 8 {
        255u16
    } else {
        (1u16 << bits) - 1
    };
    let mut statuses = Vec::new();
    if let Some(list) = &spec.statuses {
        for (i, s) in list.iter().enumerate() {
            let val = parse_status(&s.status)
                .filter(|x| (*x as u16) <= max)
                .ok_or_else(|| {
                    v(format!(
                        "config.statuses[{i}].status {:?} does not fit in {bits} bit(s)",
                        s.status
                    ))
                })?;
            if statuses.iter().any(|(x, _)| *x == val) {
                return Err(v(format!(
                    "config.statuses[{i}]: status {} is listed twice",
                    s.status
                )));
            }
            statuses.push((val, s.message.clone()));
        }
    }
    if kind == "BitstringStatusList" && bits > 1 && statuses.len() != (1usize << bits) {
        return Err(v(format!(
            "config.statuses: a {bits}-bit BitstringStatusList needs exactly {} status messages",
            1 << bits
        )));
    }
    let size = spec.size.unwrap_or(DEFAULT_SIZE);
    let min = if order_w3c { DEFAULT_SIZE } else { 1024 };
    if size < min || size > MAX_SIZE || !size.is_multiple_of(8) {
        return Err(v(format!(
            "config.size: a multiple of 8 from {min} to {MAX_SIZE}"
        )));
    }
    let ttl = spec.ttl.unwrap_or(DEFAULT_TTL);
    let validity = spec.validity.unwrap_or(DEFAULT_VALIDITY);
    if !(300..=366 * 86400).contains(&validity) {
        return Err(v("config.validity: from 300 seconds to 366 days".into()));
    }
    if ttl < 60 || ttl > validity {
        return Err(v(
            "config.ttl: at least 60 seconds and at most the validity".into(),
        ));
    }
    let mut out = json!({"type": kind, "format": format, "statusSize": bits, "size": size, "ttl": ttl, "validity": validity});
    if let Some(p) = purpose {
        out["purpose"] = json!(p);
    }
    if !statuses.is_empty() {
        out["statuses"] = json!(statuses
            .iter()
            .map(|(s, m)| json!({"status": format!("0x{s:x}"), "message": m}))
            .collect::<Vec<_>>());
    }
    Ok(out)
}

/// The status service of a configuration path, checked to be a credential-status service.
pub(crate) async fn status_service(repo: &dyn Repository, id: &Target) -> Result<Record, ApiError> {
    let rec = load(repo, id).await?;
    if rec.service_type() != Some(ServiceType::CredentialStatus) {
        return Err(ApiError::validation(format!(
            "{id} is not a credential-status service"
        )));
    }
    Ok(rec)
}

/// The signing key named by `kid`: its kms service must be a dependency of the status service.
pub(crate) async fn signing_key(
    repo: &dyn Repository,
    service: &Target,
    kid: &str,
) -> Result<StoredKey, ApiError> {
    let key_id =
        Target::parse(kid).map_err(|e| ApiError::validation(format!("kid: {}", e.message)))?;
    let kms_service = key_id
        .parent()
        .ok_or_else(|| ApiError::validation("kid: not a key path"))?;
    let deps = repo.dependencies(service).await?;
    if !deps.contains(&kms_service) {
        return Err(ApiError::validation(format!(
            "kid: the kms service {kms_service} is not an attached dependency of {service}"
        )));
    }
    let rec = repo.get(&key_id).await?;
    rec.as_ref()
        .and_then(StoredKey::from_record)
        .ok_or_else(|| ApiError::validation(format!("kid: key {key_id} does not exist")))
}

/// `POST /v1/{statusService}.{configId}/credential-status-service-api/status-credential/create`
pub async fn create_config(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::StatusConfigCreate>,
    body: CreateConfig,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let service = target
        .parent()
        .filter(|_| target.depth() >= 4)
        .ok_or_else(|| {
            ApiError::bad_request(
                "InvalidTarget",
                "the target of a new configuration is '<status service>.<configId>'",
            )
        })?;
    status_service(repo, &service).await?;
    let x5 = body.x5_chain.clone().unwrap_or_default();
    for (i, pem) in x5.iter().enumerate() {
        let der = trustfn_x509::pem::decode_one_certificate(pem)
            .map_err(|e| ApiError::validation(format!("x5Chain[{i}]: {e}")))?;
        trustfn_x509::parse::facts(&der)
            .map_err(|e| ApiError::validation(format!("x5Chain[{i}]: {e}")))?;
    }
    if let Some(d) = &body.did {
        if !d.starts_with("did:") || d.len() > 2048 {
            return Err(ApiError::validation("did: must be a DID (did:...)"));
        }
    }
    let spec = normalise(body.config, body.did.is_some(), !x5.is_empty())?;
    signing_key(repo, &service, &body.kid).await?;
    let mut doc = json!({"kid": body.kid, "config": spec, "lists": [], "currentList": null});
    if let Some(d) = body.did {
        doc["did"] = json!(d);
    }
    if !x5.is_empty() {
        doc["x5Chain"] = json!(x5);
    }
    let rec = Record::new(target.clone(), Kind::StatusConfig, doc);
    repo.commit(vec![
        Op::Create(rec.clone()),
        Op::Count {
            id: service.clone(),
            children: 1,
            dependants: 0,
        },
    ])
    .await
    .map_err(|e| match e {
        RepoError::ConditionFailed { index: Some(1) } => {
            ApiError::not_found(format!("{service} not found"))
        }
        RepoError::ConditionFailed { .. } => ApiError::duplicate(target.as_str()),
        other => ApiError::from(other),
    })?;
    tracing::info!(config = %target, "status credential configuration created");
    Ok(Reply::json(201, rec.to_public()))
}

pub(crate) async fn load_config(
    repo: &dyn Repository,
    target: &Target,
) -> Result<Record, ApiError> {
    let rec = load(repo, target).await?;
    if rec.kind != Kind::StatusConfig {
        return Err(ApiError::validation(format!(
            "{target} is not a status credential configuration"
        )));
    }
    Ok(rec)
}

pub(crate) fn check_status(config: &Value, s: &str, field: &str) -> Result<u8, ApiError> {
    let bits = config["statusSize"].as_u64().unwrap_or(1) as u32;
    let max = (1u32 << bits) - 1;
    let v = parse_status(s)
        .filter(|v| (*v as u32) <= max)
        .ok_or_else(|| {
            ApiError::validation(format!("{field} {s:?} does not fit in {bits} bit(s)"))
        })?;
    if let Some(list) = config.get("statuses").and_then(Value::as_array) {
        if !list
            .iter()
            .any(|m| m["status"].as_str().and_then(parse_status) == Some(v))
        {
            return Err(ApiError::validation(format!(
                "{field} {s:?} is not one of the configured statuses"
            )));
        }
    }
    Ok(v)
}
