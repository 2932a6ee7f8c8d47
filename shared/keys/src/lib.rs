//! KMS keys of a `kms` service: generate, import, list, view, delete (the port is
//! [`trustfn_domain::ports::KeyManager`]).
//! Private keys never leave KMS; a key record holds the key's ARN and public JWK.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::defaults;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Doc, KeyArn, KeyDoc, Kind, Record, ServiceType};
use trustfn_domain::ports::{KeyManager, KmsError};
use trustfn_domain::reply::PageParams;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::{kind_listing, load, load_as, refuse_if_used};
use trustfn_domain::target::Target;
use trustfn_signer::{Curve, PublicKey};

/// Tag put on every key trustfn creates: the key's resource path. A key carrying it is managed
/// by trustfn and is never adopted.
pub const PATH_TAG: &str = "trustfn:path";

/// Tag an AWS key administrator puts on an existing KMS key to let trustfn adopt it: a resource
/// path (`acme`, `acme.t1.kms`, or the key path itself). Only an import whose target lies at or
/// below that path may adopt the key.
pub const ADOPT_TAG: &str = "trustfn:adopt-by";

/// The one answer to every refused adoption, so an import never tells whether an ARN exists,
/// belongs to someone else, is disabled or has the wrong spec.
fn not_adoptable() -> ApiError {
    ApiError::validation(
        "keyArn: this key cannot be adopted here. An adoptable key is an enabled ECC_NIST_P256, \
         ECC_NIST_P384 or ECC_NIST_P521 SIGN_VERIFY key in this account, not managed by trustfn \
         (no trustfn:path tag), not adopted yet, and tagged trustfn:adopt-by with this key's \
         path or one of its ancestors by the account's key administrator",
    )
}

fn key_doc(curve: Curve, arn: &KeyArn, public: &PublicKey, imported: bool) -> KeyDoc {
    KeyDoc {
        key_type: curve,
        public_key: public.clone(),
        kms_key_arn: arn.clone(),
        imported,
    }
}

/// What the key routes answer for a key: its path, the KMS key's ARN and public JWK.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView<'a> {
    #[serde(rename = "_id")]
    pub id: String,
    pub parent: Option<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub doc: &'a KeyDoc,
    /// walt.id's form of the key ([`KeyDoc::walt_key`]).
    pub key: serde_json::Value,
    pub version: u64,
    pub created_at: &'a str,
}

fn key_view(r: &Record) -> Result<KeyView<'_>, ApiError> {
    let key = r
        .get::<KeyDoc>()
        .ok_or_else(|| ApiError::internal_msg(format!("{} is not a key record", r.id)))?;
    Ok(KeyView {
        id: r.id.to_string(),
        parent: r.id.parent().map(|p| p.to_string()),
        kind: "key",
        doc: key,
        key: key.walt_key(),
        version: r.version,
        created_at: &r.created_at,
    })
}

/// Checks that `target` is a new key's id under an existing `kms` service; that service's path
/// and record.
async fn new_key_parent(
    repo: &dyn Repository,
    target: &Target,
) -> Result<(Target, Record), ApiError> {
    let parent = target
        .parent()
        .filter(|_| target.depth() >= 4)
        .ok_or_else(|| {
            ApiError::bad_request(
                "InvalidTarget",
                "the target of a new key is '<kms service>.<keyId>'",
            )
        })?;
    let rec = load(repo, &parent).await?;
    if rec.service_type() != Some(ServiceType::Kms) {
        return Err(ApiError::validation(format!(
            "{parent} is not a kms service"
        )));
    }
    if repo.get(target).await?.is_some() {
        return Err(ApiError::duplicate(target.as_str()));
    }
    Ok((parent, rec))
}

/// Writes a new key record; on failure the KMS key we created is scheduled for deletion again.
async fn store_key(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    target: &Target,
    parent: &Target,
    doc: KeyDoc,
    retire_on_failure: Option<&str>,
) -> Result<Record, ApiError> {
    // "Adopted once" is atomic: the ARN's claim is written with the key record.
    let claim = doc.arn_claim();
    let rec = Record::new(target.clone(), doc);
    let mut ops = vec![
        Op::Create(rec.clone()),
        Op::Count {
            id: parent.clone(),
            children: 1,
            dependants: 0,
        },
    ];
    if let Some(name) = claim {
        ops.push(Op::Claim {
            name,
            owner: target.clone(),
        });
    }
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
            RepoError::ConditionFailed { index: Some(2) } => {
                tracing::info!(key = %target, "KMS key import refused: already adopted");
                not_adoptable()
            }
            RepoError::ConditionFailed { .. } => ApiError::duplicate(target.as_str()),
            other => ApiError::from(other),
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

/// `POST /v1/{kms}.{keyId}/kms-service-api/keys/generate`: the body deep-merged over the kms
/// service's default request `generate-key` (`defaultKeyGenerationRequests`), so `{}` works
/// once a `keyType` is stored there.
pub async fn generate(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    auth: &Authorized<'_, act::KeyGenerate>,
    body: Value,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    if !body.is_object() {
        return Err(ApiError::validation("body must be a JSON object"));
    }
    let (parent, service) = new_key_parent(repo, target).await?;
    let Doc::Service(service) = &service.doc else {
        return Err(ApiError::internal_msg(format!("{parent} is not a service")));
    };
    let op = defaults::operation(ServiceType::Kms, "generate-key")?;
    let body: GenerateKey = defaults::apply(service, op, body)?;
    let curve = Curve::from_key_type(&body.key_type).ok_or_else(|| {
        let why = if body.key_type.eq_ignore_ascii_case("ed25519") {
            " (Ed25519: AWS KMS signs with ECC_NIST_EDWARDS25519, but trustfn does not offer it \
             yet: mDL and status-list profiles use the NIST curves)"
        } else {
            ""
        };
        ApiError::validation(format!(
            "keyType {:?}: use secp256r1, secp384r1 or secp521r1{why}",
            body.key_type
        ))
    })?;
    if let Some(b) = body
        .backend
        .as_deref()
        .filter(|b| *b != "aws" && *b != "kms")
    {
        return Err(ApiError::validation(format!(
            "backend {b:?}: trustfn keeps no private key outside AWS KMS; use \"aws\" (or omit \
             it), or adopt an existing KMS key with keys/import/aws"
        )));
    }
    let created = kms
        .create_key(
            curve,
            &format!("trustfn key {target}"),
            &[(PATH_TAG, target.as_str())],
        )
        .await?;
    let doc = key_doc(curve, &created.arn, &created.public, false);
    let rec = store_key(repo, kms, target, &parent, doc, Some(created.arn.as_str())).await?;
    tracing::info!(key = %target, key_type = curve.key_type(), "KMS key generated");
    Ok(Reply::typed(201, &key_view(&rec)?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportAwsKey {
    pub key_arn: String,
}

/// `POST /v1/{kms}.{keyId}/kms-service-api/keys/import/aws`: adopts an existing KMS key. The
/// key must be granted to this path by its `trustfn:adopt-by` tag (see [`ADOPT_TAG`]), be an
/// enabled SIGN_VERIFY key on P-256/384/521, and not be managed or adopted already; every refusal
/// is the same 400. Deleting the record later does not delete an adopted key.
pub async fn import_aws(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    auth: &Authorized<'_, act::KeyImport>,
    body: ImportAwsKey,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let arn = body.key_arn.trim();
    if KeyArn::parse(arn).is_err() || arn.len() > 2048 {
        return Err(ApiError::validation(
            "keyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
        ));
    }
    let (parent, _) = new_key_parent(repo, target).await?;
    let (curve, arn, public) = match adoptable(kms, arn, target).await? {
        Ok(found) => found,
        Err(reason) => {
            tracing::info!(key = %target, reason, "KMS key import refused");
            return Err(not_adoptable());
        }
    };
    let doc = key_doc(curve, &arn, &public, true);
    let rec = store_key(repo, kms, target, &parent, doc, None).await?;
    tracing::info!(key = %target, "KMS key adopted");
    Ok(Reply::typed(201, &key_view(&rec)?))
}

/// The key's curve, canonical ARN and public key when `target` may adopt it; otherwise why not
/// (for the log only). KMS outages stay errors.
async fn adoptable(
    kms: &dyn KeyManager,
    arn: &str,
    target: &Target,
) -> Result<Result<(Curve, KeyArn, PublicKey), &'static str>, ApiError> {
    let info = match kms.describe(arn).await {
        Ok(info) => info,
        Err(KmsError::NotFound | KmsError::Unusable(_)) => return Ok(Err("not visible")),
        Err(e) => return Err(e.into()),
    };
    if info.tag(PATH_TAG).is_some() {
        return Ok(Err("managed by trustfn (trustfn:path tag)"));
    }
    let granted = info
        .tag(ADOPT_TAG)
        .and_then(|v| Target::parse(v.trim()).ok())
        .is_some_and(|grant| target.is_within(&grant));
    if !granted {
        return Ok(Err("no trustfn:adopt-by grant for this path"));
    }
    let Some(curve) = info.curve else {
        return Ok(Err("key spec"));
    };
    if !info.sign_verify {
        return Ok(Err("key usage"));
    }
    if !info.enabled {
        return Ok(Err("key state"));
    }
    let public = match kms.public_key(info.arn.as_str()).await {
        Ok(p) => p,
        Err(KmsError::NotFound | KmsError::Unusable(_)) => return Ok(Err("public key")),
        Err(e) => return Err(e.into()),
    };
    if public.curve != curve {
        return Ok(Err("public key does not match the key spec"));
    }
    Ok(Ok((curve, info.arn, public)))
}

/// `GET /v1/{kms}/kms-service-api/keys/list`
pub async fn list(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::KeyList>,
    page: &PageParams,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let rec = load(repo, target).await?;
    if rec.service_type() != Some(ServiceType::Kms) {
        return Err(ApiError::validation(format!(
            "{target} is not a kms service"
        )));
    }
    kind_listing(repo, target, Kind::Key, page, |r| {
        serde_json::to_value(key_view(r)?)
            .map_err(|e| ApiError::internal_msg(format!("key view of {}: {e}", r.id)))
    })
    .await
}

/// `GET /v1/{key}/kms-service-api/keys/view`: the public JWK and metadata.
pub async fn view(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::KeyView>,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let rec = load_as::<KeyDoc>(repo, target).await?;
    let rec = rec.upcast();
    Ok(Reply::typed(200, &key_view(&rec)?))
}

/// `DELETE /v1/{key}/kms-service-api/keys/delete`: schedules the KMS key for deletion (30-day
/// window; adopted keys are left alone) and removes the record. If the record cannot be removed,
/// the deletion is cancelled again.
pub async fn delete(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    auth: &Authorized<'_, act::KeyDelete>,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let rec = load_as::<KeyDoc>(repo, target).await?;
    // A key a status configuration signs with stays (and so does its path's binding).
    refuse_if_used(repo, auth.principal(), &rec.clone().upcast()).await?;
    let key = &rec.doc;
    if !key.imported {
        kms.schedule_deletion(key.kms_key_arn.as_str()).await?;
    }
    let parent = target.parent().expect("keys have a parent");
    let mut ops = vec![
        Op::Delete {
            id: target.clone(),
            children: rec.children,
            dependants: rec.dependants,
            version: Some(rec.version),
        },
        Op::Count {
            id: parent,
            children: -1,
            dependants: 0,
        },
    ];
    ops.extend(release(target, key));
    if let Err(e) = repo.commit(ops).await {
        if !key.imported {
            if let Err(ke) = kms.cancel_deletion(key.kms_key_arn.as_str()).await {
                tracing::error!(error = %ke, key = %target, "could not cancel the deletion of a KMS key whose record remains");
            }
        }
        return Err(ApiError::from(e));
    }
    tracing::info!(key = %target, scheduled = !key.imported, "KMS key deleted");
    Ok(Reply::json(
        202,
        json!({"_id": target.as_str(), "deleted": 1}),
    ))
}

/// The op that gives an adopted key's ARN back when its record goes (so the key may be adopted
/// again, by a path its `trustfn:adopt-by` tag grants).
fn release(id: &Target, key: &KeyDoc) -> Option<Op> {
    key.arn_claim().map(|name| Op::Release {
        name,
        owner: id.clone(),
    })
}

/// Schedules deletion of the KMS keys behind removed key records (after a resource delete).
/// Failures are logged; the records are already gone.
pub async fn retire(kms: &dyn KeyManager, removed: &[Record]) {
    for (id, key) in removed
        .iter()
        .filter_map(|r| r.get::<KeyDoc>().map(|k| (&r.id, k)))
        .filter(|(_, k)| !k.imported)
    {
        match kms.schedule_deletion(key.kms_key_arn.as_str()).await {
            Ok(()) => tracing::info!(key = %id, "KMS key scheduled for deletion"),
            Err(e) => {
                tracing::error!(key = %id, error = %e, "could not schedule deletion of a removed key's KMS key")
            }
        }
    }
}
