//! A vical-service's configuration: read from a create or update request and checked against
//! what it names. The signing key must be in an attached kms service and usable by the caller;
//! the signer certificate and its chain must be in attached stores and readable by the caller;
//! the signer certificate must certify the signing key, carry extended key usage
//! 1.0.18013.5.1.8 and a signing key usage, be valid now, and the chain must verify up to its
//! last element. Each violation is a 400 naming the field.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use trustfn_domain::auth::{act, Principal};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{KeyDoc, PublishState, Record, ServiceType, VicalServiceConfig};
use trustfn_domain::registry_config::{RegistryConfig, Sealed};
use trustfn_domain::repo::Repository;
use trustfn_domain::resource::named_certificate;
use trustfn_domain::target::Target;
use trustfn_signer::PublicKey;
use trustfn_x509::describe::{describe, Described};

/// Most certificates `signerCertificateChainIds` may name.
pub const MAX_CHAIN: usize = 8;

/// The fields of a vical-service's configuration the walt.id create body carries at its top
/// level (they may also come inside `config`).
pub const TOP_LEVEL_FIELDS: [&str; 3] = [
    "signingKeyId",
    "signerCertificateId",
    "signerCertificateChainIds",
];

/// Reads a vical-service's `config` (fields whose name starts with `_` are trustfn's own and
/// refused); what a stored configuration keeps besides (the latest version, the default publish
/// request) is carried over from `stored`.
///
/// `registry` is the checked and sealed `config.registry`. The registry copy's publish state
/// is kept while the registry stays the same; a new or changed registry starts unpublished and
/// due at once when a version exists (the refresh uploads the latest there).
pub fn config_from_request(
    config: Map<String, Value>,
    registry: Option<RegistryConfig<Sealed>>,
    stored: Option<&VicalServiceConfig>,
) -> Result<VicalServiceConfig, ApiError> {
    if let Some(k) = config.keys().find(|k| k.starts_with('_')) {
        return Err(ApiError::validation(format!(
            "config.{k}: fields starting with '_' are kept by trustfn and cannot be set"
        )));
    }
    for field in ["signingKeyId", "signerCertificateId"] {
        match config.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => return Err(ApiError::validation(format!("{field}: a resource path"))),
            None => {
                return Err(ApiError::validation(format!(
                    "{field} is required for a vical-service"
                )))
            }
        }
    }
    match config.get("signerCertificateChainIds") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) && a.len() <= MAX_CHAIN => {}
        Some(_) => {
            return Err(ApiError::validation(format!(
                "signerCertificateChainIds: an array of at most {MAX_CHAIN} certificate paths"
            )))
        }
    }
    let mut config = config;
    if config.get("signerCertificateChainIds") == Some(&Value::Null) {
        config.remove("signerCertificateChainIds");
    }
    let mut c: VicalServiceConfig = serde_json::from_value(Value::Object(config))
        .map_err(|e| ApiError::validation(format!("config: {e}")))?;
    if let Some(s) = stored {
        c.latest = s.latest.clone();
        c.refresh_at = s.refresh_at;
        c.failures = s.failures;
        c.publish_defaults = s.publish_defaults.clone();
    }
    // The same destination (secrets aside: sealing is not deterministic, and a secret sent again
    // is the usual repair of a failing registry) keeps the copy's state; versions not uploaded
    // yet stay due wherever the registry now is.
    let destination =
        |r: Option<&RegistryConfig<Sealed>>| r.map(|r| serde_json::to_value(r.redacted()).ok());
    let same_registry =
        stored.is_some_and(|s| destination(s.registry.as_ref()) == destination(registry.as_ref()));
    if let (Some(_), Some(s)) = (&registry, stored) {
        c.registry_backlog = s.registry_backlog.clone();
    }
    c.registry_publish = match (&registry, stored) {
        (None, _) => None,
        (Some(_), Some(s)) if same_registry => s.registry_publish.clone(),
        (Some(_), _) => {
            let mut st = PublishState::unpublished();
            // Due at once (the index sorts by time; 0 is before any run).
            st.refresh_at = c.latest.is_some().then_some(0);
            Some(Box::new(st))
        }
    };
    c.registry = registry;
    Ok(c)
}

/// What a checked configuration resolves to: the key and the certificates, signer first.
pub struct Resolved {
    pub key: KeyDoc,
    pub key_path: Target,
    /// DER, the signer's certificate first, then the chain in order.
    pub x5chain: Vec<Vec<u8>>,
    pub signer: Described,
}

fn attached(deps: &[Record], service: &Target, t: ServiceType) -> bool {
    deps.iter()
        .any(|d| d.id == *service && d.service_type() == Some(t))
}

/// Checks `config` of the vical-service at `service`, whose dependencies are `deps`, for
/// `caller`, at `now`.
pub async fn check(
    repo: &dyn Repository,
    caller: &Principal,
    service: &Target,
    deps: &[Record],
    config: &VicalServiceConfig,
    now: DateTime<Utc>,
) -> Result<Resolved, ApiError> {
    // The key: the caller's right to use it first, before anything about it is read.
    let field = "signingKeyId";
    let key_path = Target::parse(&config.signing_key_id)
        .map_err(|e| ApiError::validation(format!("{field}: {}", e.message)))?;
    if key_path.org() != service.org() {
        return Err(ApiError::validation(format!(
            "{field}: not in this organization"
        )));
    }
    caller.authorize::<act::KeyUse>(&key_path)?;
    let kms = key_path
        .parent()
        .ok_or_else(|| ApiError::validation(format!("{field}: not a key path")))?;
    if !attached(deps, &kms, ServiceType::Kms) {
        return Err(ApiError::validation(format!(
            "{field}: the kms service {kms} is not an attached dependency of this vical-service"
        )));
    }
    let key = repo
        .get(&key_path)
        .await?
        .and_then(|r| r.downcast::<KeyDoc>().ok())
        .ok_or_else(|| ApiError::validation(format!("{field}: key {key_path} does not exist")))?
        .doc;

    // The certificates: each readable by the caller, in an attached store.
    let mut named = vec![(
        "signerCertificateId".to_owned(),
        &config.signer_certificate_id,
    )];
    for (i, id) in config.signer_certificate_chain_ids.iter().enumerate() {
        named.push((format!("signerCertificateChainIds[{i}]"), id));
    }
    let mut x5chain = Vec::new();
    let mut described = Vec::new();
    for (field, path) in &named {
        let (path, cert) = named_certificate(repo, caller, service, field, path).await?;
        let store = path.parent().unwrap_or_else(|| path.clone());
        if !attached(deps, &store, ServiceType::X509Store) {
            return Err(ApiError::validation(format!(
                "{field}: the store {store} is not an attached dependency of this vical-service"
            )));
        }
        let der = trustfn_x509::pem::decode_one_certificate(&cert.data.pem)
            .map_err(|e| ApiError::validation(format!("{field}: {e}")))?;
        let d = describe(&der).map_err(|e| ApiError::validation(format!("{field}: {e}")))?;
        if !d.valid_at(now) {
            return Err(ApiError::validation(format!(
                "{field}: the certificate is not valid now (valid {} to {})",
                d.not_before.to_rfc3339(),
                d.not_after.to_rfc3339()
            )));
        }
        x5chain.push(der);
        described.push(d);
    }
    let signer = &described[0];
    let f = "signerCertificateId";
    if signer.public_key.as_ref() != Some(&key.public_key) {
        return Err(ApiError::validation(format!(
            "{f}: the certificate does not certify the signing key {key_path} (its public key differs)"
        )));
    }
    if !signer.is_vical_signer() {
        return Err(ApiError::validation(format!(
            "{f}: the certificate lacks the VICAL signer extended key usage 1.0.18013.5.1.8"
        )));
    }
    if !(signer.digital_signature || signer.non_repudiation) {
        return Err(ApiError::validation(format!(
            "{f}: the certificate's keyUsage allows neither digitalSignature nor nonRepudiation"
        )));
    }
    // Each certificate is signed by the next; the last by itself when the chain is only the
    // signer (a self-signed signer), else it is the anchor the relying party holds.
    for i in 0..x5chain.len() {
        let (field, issuer_key): (String, Option<&PublicKey>) = match described.get(i + 1) {
            Some(next) => (named[i + 1].0.clone(), next.public_key.as_ref()),
            None if i == 0 => (
                "signerCertificateChainIds".to_owned(),
                described[0].public_key.as_ref(),
            ),
            None => break,
        };
        let verified = issuer_key
            .is_some_and(|k| trustfn_x509::parse::verify_signed_by(&x5chain[i], k).is_ok());
        if !verified {
            let what = if i == 0 && described.len() == 1 {
                "the signer certificate is not self-signed: name the certificates above it, issuer first".to_owned()
            } else {
                format!("{} is not signed by this certificate's key", named[i].0)
            };
            return Err(ApiError::validation(format!("{field}: {what}")));
        }
    }
    Ok(Resolved {
        key,
        key_path,
        x5chain,
        signer: described.swap_remove(0),
    })
}
