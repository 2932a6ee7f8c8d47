//! KMS keys of a `kms` service: the key-management port and the key endpoints.
//! Private keys never leave KMS; a key record holds the key's ARN and public JWK.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use trustfn_x509::{Curve, PublicKey, Signer};

use crate::auth::{Action, Principal};
use crate::error::ApiError;
use crate::model::{Kind, Record, ServiceType};
use crate::ops::{storage, Reply};
use crate::repo::{Op, RepoError, Repository};
use crate::target::Target;

/// Tag put on every key trustfn creates: the key's resource path.
pub const PATH_TAG: &str = "trustfn:path";

#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub arn: String,
    pub public: PublicKey,
}

#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub arn: String,
    pub curve: Option<Curve>,
    pub spec: String,
    pub sign_verify: bool,
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error("key not found")]
    NotFound,
    #[error("key unusable: {0}")]
    Unusable(String),
    #[error("KMS unavailable: {0}")]
    Unavailable(String),
}

/// The key-management port (AWS KMS in production).
#[async_trait]
pub trait KeyManager: Send + Sync {
    async fn create_key(
        &self,
        curve: Curve,
        description: &str,
        tags: &[(&str, &str)],
    ) -> Result<CreatedKey, KmsError>;
    async fn describe(&self, key_id: &str) -> Result<KeyInfo, KmsError>;
    async fn public_key(&self, key_id: &str) -> Result<PublicKey, KmsError>;
    /// Schedules deletion with the longest waiting period (30 days), so a mistake can be undone.
    async fn schedule_deletion(&self, arn: &str) -> Result<(), KmsError>;
    async fn cancel_deletion(&self, arn: &str) -> Result<(), KmsError>;
    fn signer(&self, arn: &str, public: PublicKey) -> Box<dyn Signer>;
}

pub fn kms_failure(e: KmsError) -> ApiError {
    match e {
        KmsError::NotFound => {
            ApiError::validation("the KMS key does not exist or is not accessible")
        }
        KmsError::Unusable(m) => ApiError::validation(format!("the KMS key is not usable: {m}")),
        KmsError::Unavailable(detail) => {
            tracing::error!(error = %detail, "KMS failure");
            ApiError::upstream("KMS")
        }
    }
}

/// A key record, read back.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: Target,
    pub arn: String,
    pub public: PublicKey,
    pub imported: bool,
}

impl StoredKey {
    pub fn from_record(r: &Record) -> Option<StoredKey> {
        if r.kind != Kind::Key {
            return None;
        }
        Some(StoredKey {
            id: r.id.clone(),
            arn: r.doc.get("kmsKeyArn")?.as_str()?.to_owned(),
            public: PublicKey::from_jwk(r.doc.get("publicKey")?).ok()?,
            imported: r
                .doc
                .get("imported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

fn key_doc(curve: Curve, arn: &str, public: &PublicKey, imported: bool) -> Value {
    json!({"keyType": curve.key_type(), "publicKey": public.to_jwk(), "kmsKeyArn": arn, "imported": imported})
}

fn key_view(r: &Record) -> Value {
    let mut v = r.to_public();
    v["type"] = json!("key");
    v
}

/// Checks that `target` is a new key's id under an existing `kms` service.
async fn new_key_parent(repo: &dyn Repository, target: &Target) -> Result<Target, ApiError> {
    let parent = target
        .parent()
        .filter(|_| target.depth() >= 4)
        .ok_or_else(|| {
            ApiError::bad_request(
                "InvalidTarget",
                "the target of a new key is '<kms service>.<keyId>'",
            )
        })?;
    let rec = repo
        .get(&parent)
        .await
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found(format!("{parent} not found")))?;
    if rec.service_type() != Some(ServiceType::Kms) {
        return Err(ApiError::validation(format!(
            "{parent} is not a kms service"
        )));
    }
    if repo.get(target).await.map_err(storage)?.is_some() {
        return Err(ApiError::duplicate(target.as_str()));
    }
    Ok(parent)
}

/// Writes a new key record; on failure the KMS key we created is scheduled for deletion again.
async fn store_key(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    target: &Target,
    parent: &Target,
    doc: Value,
    retire_on_failure: Option<&str>,
) -> Result<Record, ApiError> {
    let rec = Record::new(target.clone(), Kind::Key, doc);
    let ops = vec![
        Op::Create(rec.clone()),
        Op::Count {
            id: parent.clone(),
            children: 1,
            dependants: 0,
        },
    ];
    if let Err(e) = repo.commit(ops).await {
        if let Some(arn) = retire_on_failure {
            if let Err(ke) = kms.schedule_deletion(arn).await {
                tracing::error!(error = %ke, key = %target, "could not retire the KMS key of a failed create");
            }
        }
        return Err(match e {
            RepoError::ConditionFailed { index: Some(1) } => {
                ApiError::not_found(format!("{parent} not found"))
            }
            RepoError::ConditionFailed { .. } => ApiError::duplicate(target.as_str()),
            other => storage(other),
        });
    }
    Ok(rec)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenerateKey {
    pub key_type: String,
    /// Accepted for walt.id compatibility; only `aws` keys exist here.
    #[serde(default)]
    pub backend: Option<String>,
}

/// `POST /v1/{kms}.{keyId}/kms-service-api/keys/generate`
pub async fn generate(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    p: &Principal,
    target: &Target,
    body: GenerateKey,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::KeyGenerate)?;
    let curve = Curve::from_key_type(&body.key_type).ok_or_else(|| {
        ApiError::validation(format!(
            "keyType {:?}: use secp256r1, secp384r1 or secp521r1",
            body.key_type
        ))
    })?;
    if let Some(b) = body
        .backend
        .as_deref()
        .filter(|b| *b != "aws" && *b != "kms")
    {
        return Err(ApiError::validation(format!(
            "backend {b:?}: keys are held in AWS KMS (use \"aws\" or omit it)"
        )));
    }
    let parent = new_key_parent(repo, target).await?;
    let created = kms
        .create_key(
            curve,
            &format!("trustfn key {target}"),
            &[(PATH_TAG, target.as_str())],
        )
        .await
        .map_err(kms_failure)?;
    let doc = key_doc(curve, &created.arn, &created.public, false);
    let rec = store_key(repo, kms, target, &parent, doc, Some(&created.arn)).await?;
    tracing::info!(key = %target, key_type = curve.key_type(), "KMS key generated");
    Ok(Reply::json(201, key_view(&rec)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportAwsKey {
    pub key_arn: String,
}

/// `POST /v1/{kms}.{keyId}/kms-service-api/keys/import/aws`: adopts an existing KMS key after
/// checking it is an enabled SIGN_VERIFY key on P-256/384/521. Deleting the record later does
/// not delete an adopted key.
pub async fn import_aws(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    p: &Principal,
    target: &Target,
    body: ImportAwsKey,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::KeyImport)?;
    let arn = body.key_arn.trim();
    if !(arn.starts_with("arn:") && arn.contains(":kms:") && arn.contains(":key/"))
        || arn.len() > 2048
    {
        return Err(ApiError::validation(
            "keyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
        ));
    }
    let parent = new_key_parent(repo, target).await?;
    let info = kms.describe(arn).await.map_err(kms_failure)?;
    let curve = info.curve.ok_or_else(|| {
        ApiError::validation(format!(
            "keyArn: key spec {} is not ECC_NIST_P256, ECC_NIST_P384 or ECC_NIST_P521",
            info.spec
        ))
    })?;
    if !info.sign_verify {
        return Err(ApiError::validation(
            "keyArn: the key's usage is not SIGN_VERIFY",
        ));
    }
    if !info.enabled {
        return Err(ApiError::validation("keyArn: the key is not enabled"));
    }
    let public = kms.public_key(arn).await.map_err(kms_failure)?;
    if public.curve != curve {
        return Err(ApiError::validation(
            "keyArn: the public key does not match the key spec",
        ));
    }
    let doc = key_doc(curve, &info.arn, &public, true);
    let rec = store_key(repo, kms, target, &parent, doc, None).await?;
    tracing::info!(key = %target, "KMS key adopted");
    Ok(Reply::json(201, key_view(&rec)))
}

/// `GET /v1/{kms}/kms-service-api/keys/list`
pub async fn list(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::KeyList)?;
    let rec = repo
        .get(target)
        .await
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found(format!("{target} not found")))?;
    if rec.service_type() != Some(ServiceType::Kms) {
        return Err(ApiError::validation(format!(
            "{target} is not a kms service"
        )));
    }
    let keys = crate::ops::children_of_kind(repo, target, Kind::Key).await?;
    let out = keys.iter().map(key_view).collect();
    Ok(Reply::json(200, Value::Array(out)))
}

/// Loads a key record or answers 404 (400 when the path is something else).
pub async fn load(repo: &dyn Repository, target: &Target) -> Result<(Record, StoredKey), ApiError> {
    let rec = repo
        .get(target)
        .await
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found(format!("{target} not found")))?;
    let key = StoredKey::from_record(&rec)
        .ok_or_else(|| ApiError::validation(format!("{target} is not a key")))?;
    Ok((rec, key))
}

/// `GET /v1/{key}/kms-service-api/keys/view`: the public JWK and metadata.
pub async fn view(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::KeyView)?;
    let (rec, _) = load(repo, target).await?;
    Ok(Reply::json(200, key_view(&rec)))
}

/// `DELETE /v1/{key}/kms-service-api/keys/delete`: schedules the KMS key for deletion (30-day
/// window; adopted keys are left alone) and removes the record. If the record cannot be removed,
/// the deletion is cancelled again.
pub async fn delete(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    p: &Principal,
    target: &Target,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::KeyDelete)?;
    let (rec, key) = load(repo, target).await?;
    if !key.imported {
        kms.schedule_deletion(&key.arn).await.map_err(kms_failure)?;
    }
    let parent = target.parent().expect("keys have a parent");
    let ops = vec![
        Op::Delete {
            id: target.clone(),
            children: rec.children,
            dependants: rec.dependants,
        },
        Op::Count {
            id: parent,
            children: -1,
            dependants: 0,
        },
    ];
    if let Err(e) = repo.commit(ops).await {
        if !key.imported {
            if let Err(ke) = kms.cancel_deletion(&key.arn).await {
                tracing::error!(error = %ke, key = %target, "could not cancel the deletion of a KMS key whose record remains");
            }
        }
        return Err(storage(e));
    }
    tracing::info!(key = %target, scheduled = !key.imported, "KMS key deleted");
    Ok(Reply::json(
        202,
        json!({"_id": target.as_str(), "deleted": 1}),
    ))
}

/// Schedules deletion of the KMS keys behind removed key records (after a resource delete).
/// Failures are logged; the records are already gone.
pub async fn retire(kms: &dyn KeyManager, removed: &[Record]) {
    for key in removed
        .iter()
        .filter_map(StoredKey::from_record)
        .filter(|k| !k.imported)
    {
        match kms.schedule_deletion(&key.arn).await {
            Ok(()) => tracing::info!(key = %key.id, "KMS key scheduled for deletion"),
            Err(e) => {
                tracing::error!(key = %key.id, error = %e, "could not schedule deletion of a removed key's KMS key")
            }
        }
    }
}

/// Encrypts small secrets (registry credentials) with a KMS key, bound to an encryption context.
#[async_trait]
pub trait SecretBox: Send + Sync {
    async fn seal(&self, plaintext: &str, context: &str) -> Result<String, KmsError>;
    async fn open(&self, sealed: &str, context: &str) -> Result<String, KmsError>;
}

/// Seals every plaintext secret of a credential-status registry in place (`kms:<base64>`).
pub async fn seal_registry(
    secrets: &dyn SecretBox,
    service: &Target,
    config: &mut Value,
) -> Result<(), ApiError> {
    let Some(reg) = config.get_mut("registry").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let fields = crate::registry::plaintext_secrets(&Value::Object(reg.clone()));
    for f in fields {
        let plain = match reg.get(f) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => continue,
        };
        let sealed = secrets
            .seal(&plain, service.as_str())
            .await
            .map_err(kms_failure)?;
        reg.insert(f.to_owned(), Value::String(sealed));
    }
    Ok(())
}

/// A copy of the registry with its sealed secrets opened, for the registry writer only.
pub async fn open_registry(
    secrets: &dyn SecretBox,
    service: &Target,
    registry: &Value,
) -> Result<Value, ApiError> {
    let mut reg = registry.clone();
    if let Some(obj) = reg.as_object_mut() {
        for f in crate::registry::SECRET_FIELDS {
            if let Some(Value::String(s)) = obj.get(f).cloned() {
                if s.starts_with(crate::registry::SEALED_PREFIX) {
                    let plain = secrets
                        .open(&s, service.as_str())
                        .await
                        .map_err(kms_failure)?;
                    obj.insert(f.to_owned(), Value::String(plain));
                }
            }
        }
    }
    Ok(reg)
}
