//! Status credential configurations: the list specification (type, format, purpose, sizes,
//! lifetimes), the signing key, and `status-credential/create`.

use serde::Deserialize;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    KeyDoc, ListConfig, ListFormat, ListType, Purpose, Record, Service, StatusConfig,
    StatusMessage, StatusValue, UriMode,
};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::{load, load_as, named_certificate};
use trustfn_domain::target::Target;

use crate::{DEFAULT_SIZE, DEFAULT_TTL, DEFAULT_VALIDITY, MAX_SIZE};

/// A status message as a request gives it (`status` as `"0x1"` or `"1"`).
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct StatusMessageSpec {
    pub status: String,
    pub message: String,
}

/// The list specification of a request, before it is checked and normalised into a
/// [`ListConfig`].
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
    pub statuses: Option<Vec<StatusMessageSpec>>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub ttl: Option<u64>,
    #[serde(default)]
    pub validity: Option<u64>,
    /// `registry` (the default) or `api`: see [`UriMode`].
    #[serde(default)]
    pub uri_mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateConfig {
    pub kid: String,
    #[serde(default)]
    pub did: Option<String>,
    #[serde(default, rename = "x5Chain")]
    pub x5_chain: Option<Vec<String>>,
    /// A stored certificate (a status-list signer issued under the IACA) whose PEM becomes the
    /// `x5Chain`.
    #[serde(default, rename = "x5ChainFrom")]
    pub x5_chain_from: Option<String>,
    pub config: ListSpec,
    /// The API's public base URL (from the deployment or the request, not the body): what
    /// `uriMode: api` lists' URIs start with.
    #[serde(skip)]
    pub api_url: Option<String>,
}

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::validation(m)
}

/// The list type, format and purpose of a spec; W3C lists need a DID and take no `x5Chain`.
fn type_format_purpose(
    spec: &ListSpec,
    has_did: bool,
    has_x5: bool,
) -> Result<(ListType, ListFormat, Option<Purpose>), ApiError> {
    let list_type = match spec.kind.as_str() {
        "TokenStatusList" => ListType::TokenStatusList,
        "BitstringStatusList" => ListType::BitstringStatusList,
        "StatusList2021" => ListType::StatusList2021,
        "RevocationList2020" => ListType::RevocationList2020,
        other => {
            return Err(invalid(format!(
                "config.type {other:?}: use TokenStatusList, BitstringStatusList, StatusList2021 or RevocationList2020"
            )))
        }
    };
    if !list_type.is_w3c() {
        let format = match spec.format.as_deref().unwrap_or("JWT") {
            "JWT" => ListFormat::Jwt,
            "CWT" => ListFormat::Cwt,
            f => return Err(invalid(format!("config.format {f:?}: use JWT or CWT"))),
        };
        if spec.purpose.is_some() {
            return Err(invalid("config.purpose: only for W3C list types"));
        }
        return Ok((list_type, format, None));
    }
    if let Some(f) = spec.format.as_deref().filter(|f| *f != "JWT") {
        return Err(invalid(format!(
            "config.format {f:?}: W3C lists are published as JWT"
        )));
    }
    let allowed: &[Purpose] = if list_type == ListType::RevocationList2020 {
        &[Purpose::Revocation]
    } else if list_type == ListType::StatusList2021 {
        &[Purpose::Revocation, Purpose::Suspension]
    } else {
        &[
            Purpose::Revocation,
            Purpose::Suspension,
            Purpose::Message,
            Purpose::Refresh,
        ]
    };
    let p = spec.purpose.as_deref().unwrap_or("revocation");
    let purpose = allowed.iter().find(|a| a.as_str() == p).ok_or_else(|| {
        let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
        invalid(format!(
            "config.purpose {p:?}: use one of {}",
            names.join(", ")
        ))
    })?;
    if !has_did {
        return Err(invalid(
            "did: W3C status list credentials need an issuer DID",
        ));
    }
    if has_x5 {
        return Err(invalid("x5Chain: only for TokenStatusList"));
    }
    Ok((list_type, ListFormat::Jwt, Some(*purpose)))
}

/// The status messages of a spec: each value fits in `bits`, none twice.
fn status_messages(spec: &ListSpec, bits: u8) -> Result<Vec<StatusMessage>, ApiError> {
    let max = if bits == 8 {
        255u16
    } else {
        (1u16 << bits) - 1
    };
    let mut out: Vec<StatusMessage> = Vec::new();
    for (i, s) in spec.statuses.iter().flatten().enumerate() {
        let status = StatusValue::parse(&s.status)
            .filter(|x| u16::from(x.0) <= max)
            .ok_or_else(|| {
                invalid(format!(
                    "config.statuses[{i}].status {:?} does not fit in {bits} bit(s)",
                    s.status
                ))
            })?;
        if out.iter().any(|m| m.status == status) {
            return Err(invalid(format!(
                "config.statuses[{i}]: status {} is listed twice",
                s.status
            )));
        }
        out.push(StatusMessage {
            status,
            message: s.message.clone(),
        });
    }
    Ok(out)
}

/// The validated, normalised list specification stored on the configuration.
pub(crate) fn normalise(
    spec: ListSpec,
    has_did: bool,
    has_x5: bool,
    api_url: Option<&str>,
) -> Result<ListConfig, ApiError> {
    let (uri_mode, api_url) = match spec.uri_mode.as_deref() {
        None | Some("registry") => (UriMode::Registry, None),
        Some("api") => {
            let url = api_url.ok_or_else(|| {
                ApiError::internal_msg("uriMode api without the API's public URL")
            })?;
            (UriMode::Api, Some(url.trim_end_matches('/').to_owned()))
        }
        Some(other) => {
            return Err(invalid(format!(
                "config.uriMode {other:?}: use registry (credentials point at the registry object) or api (at this API's status list endpoint)"
            )))
        }
    };
    let (list_type, format, purpose) = type_format_purpose(&spec, has_did, has_x5)?;
    let bits = spec.status_size.unwrap_or(1);
    if ![1, 2, 4, 8].contains(&bits) {
        return Err(invalid("config.statusSize: use 1, 2, 4 or 8"));
    }
    if matches!(
        list_type,
        ListType::StatusList2021 | ListType::RevocationList2020
    ) && bits != 1
    {
        return Err(invalid(format!(
            "config.statusSize: {list_type:?} has 1-bit statuses"
        )));
    }
    let statuses = status_messages(&spec, bits)?;
    if list_type == ListType::BitstringStatusList && bits > 1 && statuses.len() != (1usize << bits)
    {
        return Err(invalid(format!(
            "config.statuses: a {bits}-bit BitstringStatusList needs exactly {} status messages",
            1 << bits
        )));
    }
    let size = spec.size.unwrap_or(DEFAULT_SIZE);
    let min = if list_type.is_w3c() {
        DEFAULT_SIZE
    } else {
        1024
    };
    if size < min || size > MAX_SIZE || !size.is_multiple_of(8) {
        return Err(invalid(format!(
            "config.size: a multiple of 8 from {min} to {MAX_SIZE}"
        )));
    }
    let ttl = spec.ttl.unwrap_or(DEFAULT_TTL);
    let validity = spec.validity.unwrap_or(DEFAULT_VALIDITY);
    if !(300..=366 * 86400).contains(&validity) {
        return Err(invalid("config.validity: from 300 seconds to 366 days"));
    }
    if ttl < 60 || ttl > validity {
        return Err(invalid(
            "config.ttl: at least 60 seconds and at most the validity",
        ));
    }
    Ok(ListConfig {
        list_type,
        format,
        status_size: bits,
        size,
        ttl,
        validity,
        purpose,
        statuses: (!statuses.is_empty()).then_some(statuses),
        uri_mode,
        api_url,
    })
}

/// The status service of a configuration path, checked to be a credential-status service.
pub(crate) async fn status_service(
    repo: &dyn Repository,
    id: &Target,
) -> Result<Record<Service>, ApiError> {
    match load(repo, id).await?.downcast::<Service>() {
        Ok(s) if s.doc.registry().is_some() => Ok(s),
        _ => Err(invalid(format!("{id} is not a credential-status service"))),
    }
}

/// The signing key named by `kid`: its kms service must be a dependency of the status service.
pub(crate) async fn signing_key(
    repo: &dyn Repository,
    service: &Target,
    key_id: &Target,
) -> Result<KeyDoc, ApiError> {
    let kms_service = key_id
        .parent()
        .ok_or_else(|| invalid("kid: not a key path"))?;
    let deps = repo.dependencies(service).await?;
    if !deps.contains(&kms_service) {
        return Err(invalid(format!(
            "kid: the kms service {kms_service} is not an attached dependency of {service}"
        )));
    }
    repo.get(key_id)
        .await?
        .and_then(|r| r.downcast::<KeyDoc>().ok())
        .map(|r| r.doc)
        .ok_or_else(|| invalid(format!("kid: key {key_id} does not exist")))
}

/// The first certificate of an `x5Chain` must certify the key that signs the lists: a chain
/// for another key would make every verifier reject them.
fn leaf_is_the_signing_key(leaf_pem: &str, key: &KeyDoc) -> Result<(), ApiError> {
    let der = trustfn_x509::pem::decode_one_certificate(leaf_pem)
        .map_err(|e| invalid(format!("x5Chain[0]: {e}")))?;
    let leaf =
        trustfn_x509::parse::public_key(&der).map_err(|e| invalid(format!("x5Chain[0]: {e}")))?;
    if leaf != key.public_key {
        return Err(invalid(
            "x5Chain[0]: the leaf certificate's key is not the kid key; verifiers would reject the lists",
        ));
    }
    Ok(())
}

fn kid_path(kid: &str) -> Result<Target, ApiError> {
    Target::parse(kid).map_err(|e| invalid(format!("kid: {}", e.message)))
}

/// `POST /v1/{statusService}.{configId}/credential-status-service-api/status-credential/create`
pub async fn create_config(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::StatusConfigCreate>,
    body: CreateConfig,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    // The key the lists will be signed with is named in the body: it needs its own right,
    // checked before anything about it is read.
    let kid = kid_path(&body.kid)?;
    auth.principal().authorize::<act::KeyUse>(&kid)?;
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
    let from = match &body.x5_chain_from {
        None => None,
        Some(_) if body.x5_chain.is_some() => {
            return Err(invalid("give x5Chain or x5ChainFrom, not both"))
        }
        Some(path) => {
            let (p, t) = (auth.principal(), auth.target());
            let (_, cert) = named_certificate(repo, p, t, "x5ChainFrom", path).await?;
            Some(cert.data.pem)
        }
    };
    let x5 = match &from {
        Some(pem) => vec![pem.clone()],
        None => body.x5_chain.clone().unwrap_or_default(),
    };
    for (i, pem) in x5.iter().enumerate() {
        let der = trustfn_x509::pem::decode_one_certificate(pem)
            .map_err(|e| invalid(format!("x5Chain[{i}]: {e}")))?;
        trustfn_x509::parse::facts(&der).map_err(|e| invalid(format!("x5Chain[{i}]: {e}")))?;
    }
    if let Some(d) = &body.did {
        if !d.starts_with("did:") || d.len() > 2048 {
            return Err(invalid("did: must be a DID (did:...)"));
        }
    }
    let key = signing_key(repo, &service, &kid).await?;
    // A W3C list credential names its issuer: the did:jwk of the signing key unless the body
    // names one (walt.id's examples always do; trustfn fills it in).
    let w3c = body.config.kind != "TokenStatusList";
    let did = match body.did.clone() {
        None if w3c && x5.is_empty() => Some(crate::did::did_jwk(&key.public_key)),
        d => d,
    };
    let config = normalise(
        body.config,
        did.is_some(),
        !x5.is_empty(),
        body.api_url.as_deref(),
    )?;
    if let Some(leaf) = x5.first() {
        leaf_is_the_signing_key(leaf, &key).map_err(|e| match &from {
            Some(_) => invalid(e.message.replace(
                "x5Chain[0]: the leaf certificate's",
                "x5ChainFrom: the certificate's",
            )),
            None => e,
        })?;
    }
    if let Some(d) = &body.did {
        // A verifier resolves the issuer DID to the key that must verify the lists.
        crate::did::check(d, &key.public_key).map_err(|why| {
            invalid(format!(
                "did: {why}, not the signing key {kid} ({}). A verifier resolves the issuer DID \
                 to the key that verifies the lists, so it would reject them: give a DID of \
                 {kid}, or leave did out to issue as {}",
                key.public_key.curve.jwk_crv(),
                crate::did::did_jwk(&key.public_key)
            ))
        })?;
    }
    let doc = StatusConfig {
        kid,
        config,
        lists: Vec::new(),
        current_list: None,
        did,
        x5_chain: (!x5.is_empty()).then_some(x5),
        x5_chain_from: body.x5_chain_from,
    };
    let key_id = doc.kid.clone();
    let rec = Record::new(target.clone(), doc);
    repo.commit(vec![
        Op::Create(rec.clone()),
        Op::Count {
            id: service.clone(),
            children: 1,
            dependants: 0,
        },
        // The configuration refers to its key: the key cannot be deleted (nor its path bound
        // to another key) while the configuration exists.
        Op::AddEdge {
            from: target.clone(),
            to: key_id.clone(),
        },
        Op::Count {
            id: key_id.clone(),
            children: 0,
            dependants: 1,
        },
    ])
    .await
    .map_err(|e| match e {
        RepoError::ConditionFailed { index: Some(1) } => {
            ApiError::not_found(format!("{service} not found"))
        }
        RepoError::ConditionFailed { index: Some(3) } => {
            invalid(format!("kid: key {key_id} does not exist"))
        }
        RepoError::ConditionFailed { .. } => ApiError::duplicate(target.as_str()),
        other => ApiError::from(other),
    })?;
    tracing::info!(config = %target, "status credential configuration created");
    Ok(Reply::json(201, rec.to_public()))
}

/// The configuration at `target`: 404 when missing, 400 when it is something else.
pub(crate) async fn load_config(
    repo: &dyn Repository,
    target: &Target,
) -> Result<Record<StatusConfig>, ApiError> {
    load_as::<StatusConfig>(repo, target).await
}

/// A status value of a request (`field` names it in errors): it fits the list's status size and,
/// when the configuration names its statuses, is one of them.
pub(crate) fn check_status(config: &ListConfig, s: &str, field: &str) -> Result<u8, ApiError> {
    let bits = config.status_size;
    let v = StatusValue::parse(s)
        .filter(|v| v.0 <= config.max_status())
        .ok_or_else(|| invalid(format!("{field} {s:?} does not fit in {bits} bit(s)")))?;
    if let Some(list) = &config.statuses {
        if !list.iter().any(|m| m.status == v) {
            return Err(invalid(format!(
                "{field} {s:?} is not one of the configured statuses"
            )));
        }
    }
    Ok(v.0)
}
