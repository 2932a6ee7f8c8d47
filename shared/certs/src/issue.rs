//! The X.509 Certificate Service: ISO 18013-5 IACA and Document Signer issuance with KMS keys,
//! written through to every attached X.509 store in one transaction.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use trustfn_domain::auth::{act, Authorized, Principal};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    Certificate, CertificateData, CertificateType, KeyDoc, Record, ServiceType,
};
use trustfn_domain::ports::KeyManager;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::load;
use trustfn_domain::target::Target;
use trustfn_x509::parse::{self, ParsedIaca};
use trustfn_x509::{DsData, IacaData, PublicKey, Signer, X509Error};

pub(crate) fn x509_error(e: X509Error) -> ApiError {
    match e {
        X509Error::Profile { rule, message } => ApiError::validation(format!("{rule}: {message}")),
        X509Error::Key(m) => ApiError::validation(m),
        X509Error::Parse(m) => ApiError::validation(m),
        X509Error::Signer(m) => {
            tracing::error!(error = %m, "signing failed");
            ApiError::upstream("KMS")
        }
        X509Error::BadSignature => {
            tracing::error!(
                "KMS returned a signature that does not verify against the key's public key"
            );
            ApiError::new(
                502,
                "BadSignatureException",
                "the signing key returned an invalid signature; nothing was issued",
            )
        }
    }
}

#[derive(Deserialize, Debug)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum KeyDescriptor {
    #[serde(rename = "kms-hosted-key-descriptor", rename_all = "camelCase")]
    KmsHosted { key_id_path: String },
    #[serde(rename = "jwk-encoded-key-descriptor")]
    JwkEncoded { jwk: Value },
}

/// An x509-service issuing for one caller: its attached dependencies, and the caller, whose
/// rights are checked on every resource the request names besides the service.
struct Issuer<'a> {
    repo: &'a dyn Repository,
    caller: &'a Principal,
    target: &'a Target,
    deps: Vec<Record>,
}

impl<'a> Issuer<'a> {
    /// The x509-service at `target` (already authorized) and its attached dependencies.
    async fn load(
        repo: &'a dyn Repository,
        caller: &'a Principal,
        target: &'a Target,
    ) -> Result<Issuer<'a>, ApiError> {
        let rec = load(repo, target).await?;
        if rec.service_type() != Some(ServiceType::X509Service) {
            return Err(ApiError::validation(format!(
                "{target} is not an x509-service"
            )));
        }
        let deps = repo.get_many(&repo.dependencies(target).await?).await?;
        Ok(Issuer {
            repo,
            caller,
            target,
            deps,
        })
    }

    /// A KMS key named in the request: the caller needs `kms-key-use` on it (checked before
    /// anything about it is read), and its kms service must be attached to this service.
    async fn kms_key(&self, field: &str, path: &str) -> Result<KeyDoc, ApiError> {
        let key_id = Target::parse(path)
            .map_err(|e| ApiError::validation(format!("{field}.keyIdPath: {}", e.message)))?;
        self.caller.authorize::<act::KeyUse>(&key_id)?;
        let kms_service = key_id
            .parent()
            .ok_or_else(|| ApiError::validation(format!("{field}.keyIdPath: not a key path")))?;
        if !self
            .deps
            .iter()
            .any(|d| d.id == kms_service && d.service_type() == Some(ServiceType::Kms))
        {
            return Err(ApiError::validation(format!(
                "{field}.keyIdPath: the kms service {kms_service} is not an attached dependency of this x509-service"
            )));
        }
        self.repo
            .get(&key_id)
            .await?
            .and_then(|r| r.downcast::<KeyDoc>().ok())
            .map(|r| r.doc)
            .ok_or_else(|| {
                ApiError::validation(format!("{field}.keyIdPath: key {key_id} does not exist"))
            })
    }

    /// The IACA key: it signs, so it must be a KMS key of an attached kms service.
    async fn iaca_key(&self, field: &str, desc: &KeyDescriptor) -> Result<KeyDoc, ApiError> {
        match desc {
            KeyDescriptor::KmsHosted { key_id_path } => self.kms_key(field, key_id_path).await,
            KeyDescriptor::JwkEncoded { .. } => Err(ApiError::validation(format!(
                "{field}: the IACA key signs, so it must be a kms-hosted-key-descriptor"
            ))),
        }
    }

    /// The attached stores a certificate is written through to, under `cert_id` (one segment,
    /// a UUID when the request gives none). The caller needs `x509-store-certificate-add` on
    /// each, checked before anything is signed.
    fn stores(&self, cert_id: Option<String>) -> Result<Option<WriteThrough>, ApiError> {
        let stores: Vec<&Record> = self
            .deps
            .iter()
            .filter(|d| d.service_type() == Some(ServiceType::X509Store))
            .collect();
        let id = stored_id(cert_id)?;
        if stores.is_empty() {
            return Ok(None);
        }
        let mut paths = Vec::new();
        for s in stores {
            let path = s.id.child(&id)?;
            self.caller.authorize::<act::CertificateAdd>(&path)?;
            paths.push((s.id.clone(), path));
        }
        Ok(Some(WriteThrough { id, paths }))
    }
}

/// Where an issued certificate is written: `(store, certificate path)` for each attached store.
struct WriteThrough {
    id: String,
    paths: Vec<(Target, Target)>,
}

fn signer_for(kms: &dyn KeyManager, k: &KeyDoc) -> Box<dyn Signer> {
    kms.signer(&k.kms_key_arn, k.public_key.clone())
}

/// Validates a caller-chosen stored certificate id (one path segment).
fn stored_id(id: Option<String>) -> Result<String, ApiError> {
    match id {
        None => Ok(uuid::Uuid::new_v4().to_string()),
        Some(s) => {
            let t = Target::parse(&s)
                .map_err(|e| ApiError::validation(format!("storedCertificateId: {}", e.message)))?;
            if t.depth() != 1 {
                return Err(ApiError::validation(
                    "storedCertificateId: one segment, without dots",
                ));
            }
            Ok(s)
        }
    }
}

/// A store record's document for a certificate.
pub(crate) fn certificate_doc(
    der: &[u8],
    pem: &str,
    kind: CertificateType,
    metadata: Option<Map<String, Value>>,
) -> Result<Certificate, ApiError> {
    let f = parse::facts(der).map_err(x509_error)?;
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(Certificate {
        data: CertificateData {
            kind,
            pem: pem.to_owned(),
            complementary_metadata: metadata,
        },
        subject: f.subject,
        issuer: f.issuer,
        serial_number: f.serial,
        not_before: time(f.not_before),
        not_after: time(f.not_after),
        sha256_fingerprint: f.sha256,
    })
}

/// Writes the certificate into every attached store under one id, atomically.
async fn write_through(
    repo: &dyn Repository,
    to: &WriteThrough,
    doc: Certificate,
) -> Result<Vec<String>, ApiError> {
    let mut ops = Vec::new();
    for (store, path) in &to.paths {
        ops.push(Op::Create(Record::new(path.clone(), doc.clone())));
        ops.push(Op::Count {
            id: store.clone(),
            children: 1,
            dependants: 0,
        });
    }
    repo.commit(ops).await.map_err(|e| match e {
        RepoError::ConditionFailed { index: Some(i) } if i % 2 == 1 => {
            ApiError::conflict("an attached store was removed concurrently; nothing was written")
        }
        RepoError::ConditionFailed { .. } => ApiError::new(
            409,
            "DuplicateTarget",
            format!(
                "storedCertificateId {} already exists in an attached store; nothing was written to any store",
                to.id
            ),
        ),
        other => ApiError::from(other),
    })?;
    Ok(to.paths.iter().map(|(_, p)| p.to_string()).collect())
}

/// Writes an issued certificate through to the attached stores and builds the 201 answer.
async fn store_and_reply<D: serde::Serialize>(
    issuer: &Issuer<'_>,
    to: Option<WriteThrough>,
    issued: trustfn_x509::Issued<D>,
    (kind, metadata): (CertificateType, Option<Map<String, Value>>),
    what: &str,
) -> Result<Reply, ApiError> {
    let doc = certificate_doc(&issued.der, &issued.pem, kind, metadata)?;
    let stored_ids = match &to {
        Some(to) => Some(write_through(issuer.repo, to, doc).await?),
        None => None,
    };
    tracing::info!(service = %issuer.target, stores = stored_ids.as_ref().map_or(0, Vec::len), certificate = what, "certificate issued");
    Ok(issued_reply(
        issued.pem,
        serde_json::to_value(&issued.data).expect("data"),
        stored_ids,
    ))
}

fn issued_reply(pem: String, data: Value, stored: Option<Vec<String>>) -> Reply {
    let mut out = json!({"certificatePEM": pem, "certificateData": data});
    if let Some(ids) = stored {
        out["storedCertificateIds"] = json!(ids);
    }
    Reply::json(201, out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueIaca {
    #[serde(default)]
    pub stored_certificate_id: Option<String>,
    pub certificate_data: IacaData,
    pub iaca_key_desc: KeyDescriptor,
    #[serde(default)]
    pub vical_entry_complementary_metadata: Option<Map<String, Value>>,
}

/// `POST /v1/{x509Service}/x509-service-api/iso/iacas`
pub async fn issue_iaca(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    auth: &Authorized<'_, act::IacaIssue>,
    body: IssueIaca,
) -> Result<Reply, ApiError> {
    let issuer = Issuer::load(repo, auth.principal(), auth.target()).await?;
    let key = issuer.iaca_key("iacaKeyDesc", &body.iaca_key_desc).await?;
    let to = issuer.stores(body.stored_certificate_id)?;
    // `issue` checks every profile rule before the one KMS Sign.
    let signer = signer_for(kms, &key);
    let issued = body
        .certificate_data
        .issue(signer.as_ref())
        .await
        .map_err(x509_error)?;
    let metadata = body.vical_entry_complementary_metadata;
    let kind = if metadata.is_some() {
        CertificateType::VicalEntry
    } else {
        CertificateType::Base
    };
    store_and_reply(&issuer, to, issued, (kind, metadata), "IACA").await
}

#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum IacaSigner {
    #[serde(rename = "iaca-pem-cert-descriptor", rename_all = "camelCase")]
    Pem {
        iaca_pem_encoded_certificate: String,
        iaca_key_desc: KeyDescriptor,
    },
    #[serde(rename = "stored-certificate-descriptor", rename_all = "camelCase")]
    Stored {
        stored_certificate_path: String,
        iaca_key_desc: KeyDescriptor,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueDs {
    #[serde(default)]
    pub stored_certificate_id: Option<String>,
    pub iaca_signer: IacaSigner,
    pub certificate_data: DsData,
    pub ds_key_descriptor: KeyDescriptor,
}

/// `POST /v1/{x509Service}/x509-service-api/iso/document-signers`
pub async fn issue_document_signer(
    repo: &dyn Repository,
    kms: &dyn KeyManager,
    auth: &Authorized<'_, act::DocumentSignerIssue>,
    body: IssueDs,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let p = auth.principal();
    let issuer = Issuer::load(repo, p, target).await?;
    let now = chrono::Utc::now();
    let (iaca_pem, iaca_key_desc) = match body.iaca_signer {
        IacaSigner::Pem {
            iaca_pem_encoded_certificate,
            iaca_key_desc,
        } => (iaca_pem_encoded_certificate, iaca_key_desc),
        IacaSigner::Stored {
            stored_certificate_path,
            iaca_key_desc,
        } => {
            let path = Target::parse(&stored_certificate_path).map_err(|e| {
                ApiError::validation(format!("iacaSigner.storedCertificatePath: {}", e.message))
            })?;
            if path.org() != target.org() {
                return Err(ApiError::validation(
                    "iacaSigner.storedCertificatePath: not in this organization",
                ));
            }
            p.authorize::<act::CertificateView>(&path)?;
            let cert = repo
                .get(&path)
                .await?
                .and_then(|r| r.downcast::<Certificate>().ok())
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "iacaSigner.storedCertificatePath: no stored certificate at {path}"
                    ))
                })?;
            let pem = cert.doc.data.pem;
            (pem, iaca_key_desc)
        }
    };
    let iaca: ParsedIaca = parse::parse_iaca_pem(&iaca_pem, now).map_err(x509_error)?;
    let iaca_key = issuer
        .iaca_key("iacaSigner.iacaKeyDesc", &iaca_key_desc)
        .await?;
    if iaca_key.public_key != iaca.public_key {
        return Err(ApiError::validation(
            "iacaSigner.iacaKeyDesc: the key is not the IACA certificate's key; certificates it signed would never verify",
        ));
    }
    let ds_key: PublicKey = match &body.ds_key_descriptor {
        KeyDescriptor::KmsHosted { key_id_path } => {
            issuer
                .kms_key("dsKeyDescriptor", key_id_path)
                .await?
                .public_key
        }
        KeyDescriptor::JwkEncoded { jwk } => PublicKey::from_jwk(jwk)
            .map_err(|e| ApiError::validation(format!("dsKeyDescriptor.jwk: {e}")))?,
    };
    let to = issuer.stores(body.stored_certificate_id)?;
    let signer = signer_for(kms, &iaca_key);
    let issued = body
        .certificate_data
        .issue(&iaca, &ds_key, signer.as_ref())
        .await
        .map_err(x509_error)?;
    store_and_reply(
        &issuer,
        to,
        issued,
        (CertificateType::Base, None),
        "Document Signer",
    )
    .await
}
