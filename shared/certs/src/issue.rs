//! The X.509 Certificate Service: ISO 18013-5 IACA and Document Signer issuance with KMS keys,
//! written through to every attached X.509 store in one transaction.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use trustfn_domain::auth::{act, Authorized, Principal};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    Certificate, CertificateData, CertificateType, CrlTarget, IssuedProfile, KeyDoc, Record,
    ServiceType,
};
use trustfn_domain::ports::KeyManager;
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::named_certificate;
use trustfn_domain::target::Target;
use trustfn_x509::parse::{self, ParsedIaca};
use trustfn_x509::{DsData, IacaData, PublicKey, Signer, StatusListSignerData, X509Error};

use crate::issued::{issued_doc, x509_service};
use trustfn_domain::model::IssuedCertificate;
use trustfn_publish::{Outcome, PublishDeps};

/// Now, in Unix seconds.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

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
    /// A PKCS#10 request (Document Signers only): its key is certified once its self-signature
    /// verifies; its subject is ignored.
    #[serde(rename = "pkcs10-csr", rename_all = "camelCase")]
    Pkcs10Csr { csr_pem: String },
}

/// An x509-service issuing for one caller: its attached dependencies, and the caller, whose
/// rights are checked on every resource the request names besides the service.
struct Issuer<'a> {
    repo: &'a dyn Repository,
    caller: &'a Principal,
    target: &'a Target,
    deps: Vec<Record>,
    /// Where the service publishes its IACAs' CRLs, if it does.
    crl: Option<CrlTarget>,
}

impl<'a> Issuer<'a> {
    /// The x509-service at `target` (already authorized) and its attached dependencies.
    async fn load(
        repo: &'a dyn Repository,
        caller: &'a Principal,
        target: &'a Target,
    ) -> Result<Issuer<'a>, ApiError> {
        let crl = x509_service(repo, target).await?.doc.crl_target().cloned();
        let deps = repo.get_many(&repo.dependencies(target).await?).await?;
        Ok(Issuer {
            repo,
            caller,
            target,
            deps,
            crl,
        })
    }

    /// The CRL distribution point of what the IACA with `iaca_serial` signs: with a CRL
    /// target, the URL its CRL is published at (a `given` one must equal it); else `given`.
    fn distribution_point(
        &self,
        iaca_serial: &str,
        given: Option<String>,
    ) -> Result<Option<String>, ApiError> {
        let Some(target) = &self.crl else {
            return Ok(given);
        };
        let url = crate::crl::crl_url(target, self.target, iaca_serial);
        match given {
            Some(g) if g != url => Err(ApiError::validation(format!(
                "certificateData.crlDistributionPointUri: must be {url} (where this x509-service publishes the IACA's CRL), or left out to be filled in"
            ))),
            _ => Ok(Some(url)),
        }
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
    async fn iaca_key(
        &self,
        field: &str,
        desc: &KeyDescriptor,
    ) -> Result<(KeyDoc, String), ApiError> {
        match desc {
            KeyDescriptor::KmsHosted { key_id_path } => {
                Ok((self.kms_key(field, key_id_path).await?, key_id_path.clone()))
            }
            _ => Err(ApiError::validation(format!(
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

impl WriteThrough {
    /// The stored certificates' paths.
    fn stored_ids(&self) -> Vec<String> {
        self.paths.iter().map(|(_, p)| p.to_string()).collect()
    }
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

/// Writes the certificate into every attached store under one id and records it in the
/// service (`record`, under `parent`), in one transaction.
async fn write_through(
    repo: &dyn Repository,
    to: Option<&WriteThrough>,
    doc: Certificate,
    record: Record,
    adopt: Option<Record>,
) -> Result<(), ApiError> {
    let mut ops = Vec::new();
    for (store, path) in to.iter().flat_map(|t| t.paths.iter()) {
        ops.push(Op::Create(Record::new(path.clone(), doc.clone())));
        ops.push(Op::Count {
            id: store.clone(),
            children: 1,
            dependants: 0,
        });
    }
    let stores = ops.len();
    let parent = record.id.parent().expect("recorded under the service");
    // A recorded IACA refers to its key: the key stays while the IACA's CRL is published.
    let mut edges = Vec::new();
    for r in std::iter::once(&record).chain(adopt.as_ref()) {
        let iaca = r
            .get::<IssuedCertificate>()
            .filter(|c| c.profile == IssuedProfile::Iaca);
        if let Some(path) = iaca.and_then(|c| c.key_path.as_deref()) {
            let key = Target::parse(path).map_err(|e| ApiError::validation(e.message))?;
            edges.extend(crate::crl::key_edge(&r.id, &key));
        }
    }
    match adopt {
        // The signing IACA's record, created with this certificate as its one child.
        Some(iaca) => {
            let service = iaca.id.parent().expect("IACAs live in a service");
            ops.push(Op::Create(Record {
                children: 1,
                ..iaca
            }));
            ops.push(Op::Count {
                id: service,
                children: 1,
                dependants: 0,
            });
            ops.push(Op::Create(record));
        }
        None => {
            ops.push(Op::Create(record));
            ops.push(Op::Count {
                id: parent,
                children: 1,
                dependants: 0,
            });
        }
    }
    ops.extend(edges);
    repo.commit(ops).await.map_err(|e| match e {
        RepoError::ConditionFailed { index: Some(i) } if i >= stores => ApiError::conflict(
            "the x509-service (or the IACA's record) changed concurrently; nothing was written, retry",
        ),
        RepoError::ConditionFailed { index: Some(i) } if i % 2 == 1 => {
            ApiError::conflict("an attached store was removed concurrently; nothing was written")
        }
        RepoError::ConditionFailed { .. } => ApiError::new(
            409,
            "DuplicateTarget",
            format!(
                "storedCertificateId {} already exists in an attached store; nothing was written to any store",
                to.map_or("", |t| t.id.as_str())
            ),
        ),
        other => ApiError::from(other),
    })
}

/// What an issuance records besides the certificate: its profile, where it is recorded (the
/// service for an IACA, the IACA's record otherwise) and the certified key's path.
struct Recording {
    profile: IssuedProfile,
    parent: Target,
    key_path: Option<String>,
    /// The parent IACA's record when this service has not recorded it yet.
    adopt: Option<Record>,
    /// The parent IACA's CRL was never published (publish it now, so the distribution point
    /// just written answers).
    parent_unpublished: bool,
}

/// Writes an issued certificate through to the attached stores, records it, and builds the 201
/// answer.
async fn store_and_reply<D: serde::Serialize>(
    issuer: &Issuer<'_>,
    deps: Option<&PublishDeps<'_>>,
    to: Option<WriteThrough>,
    issued: trustfn_x509::Issued<D>,
    (kind, metadata): (CertificateType, Option<Map<String, Value>>),
    rec: Recording,
) -> Result<Reply, ApiError> {
    let doc = certificate_doc(&issued.der, &issued.pem, kind, metadata)?;
    let stored = to.as_ref().map(WriteThrough::stored_ids);
    let mut book = issued_doc(
        rec.profile,
        &doc,
        rec.key_path,
        stored.clone().unwrap_or_default(),
    );
    if rec.profile == IssuedProfile::Iaca {
        book.crl = Some(crate::crl::new_state(issuer.crl.as_ref(), now()));
    }
    let id = rec.parent.child(&book.serial_number)?;
    let adopted = rec.adopt.as_ref().map(|r| r.id.clone());
    let record = Record::new(id.clone(), book);
    write_through(issuer.repo, to.as_ref(), doc, record, rec.adopt).await?;
    if let Some(iaca) = &adopted {
        tracing::info!(service = %issuer.target, iaca = %iaca, "recorded an IACA issued elsewhere");
    }
    if rec.parent_unpublished && issuer.crl.is_some() {
        // The distribution point just written answers from now on: an IACA whose CRL was never
        // published (just recorded, or recorded before the target was configured) publishes it.
        first_crl(issuer.repo, deps, &rec.parent).await;
    }
    tracing::info!(service = %issuer.target, record = %id, stores = to.as_ref().map_or(0, |t| t.paths.len()), certificate = rec.profile.as_str(), "certificate issued");
    Ok(issued_reply(
        issued.pem,
        serde_json::to_value(&issued.data).expect("data"),
        stored,
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
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::IacaIssue>,
    body: IssueIaca,
) -> Result<Reply, ApiError> {
    let kms = deps.kms;
    let issuer = Issuer::load(repo, auth.principal(), auth.target()).await?;
    let (key, key_path) = issuer.iaca_key("iacaKeyDesc", &body.iaca_key_desc).await?;
    let to = issuer.stores(body.stored_certificate_id)?;
    let serial = trustfn_x509::profile::iso_serial();
    let serial_hex = parse::hex(&serial);
    let mut data = body.certificate_data;
    data.crl_distribution_point_uri =
        issuer.distribution_point(&serial_hex, data.crl_distribution_point_uri)?;
    // `issue` checks every profile rule before the one KMS Sign.
    let signer = signer_for(kms, &key);
    let issued = data
        .issue_with_serial(&serial, signer.as_ref())
        .await
        .map_err(x509_error)?;
    let metadata = body.vical_entry_complementary_metadata;
    let kind = if metadata.is_some() {
        CertificateType::VicalEntry
    } else {
        CertificateType::Base
    };
    let rec = Recording {
        profile: IssuedProfile::Iaca,
        parent: issuer.target.clone(),
        key_path: Some(key_path),
        adopt: None,
        parent_unpublished: false,
    };
    let mut reply = store_and_reply(&issuer, None, to, issued, (kind, metadata), rec).await?;
    // The distribution point answers from day one: the empty CRL is published now.
    if issuer.crl.is_some() {
        let id = issuer.target.child(&serial_hex)?;
        let published = first_crl(repo, Some(deps), &id).await;
        if let Some(body) = reply.body.as_mut() {
            body["crlPublished"] = json!(published);
        }
    }
    Ok(reply)
}

/// Publishes the first CRL of a newly recorded IACA; a failure is logged (the refresh retries
/// it, and `crls` shows the error) and does not undo the issuance.
async fn first_crl(repo: &dyn Repository, deps: Option<&PublishDeps<'_>>, iaca: &Target) -> bool {
    let Some(deps) = deps else {
        return false;
    };
    match crate::crl::publish_crl(repo, deps, iaca, false).await {
        Ok(o) => matches!(o, Outcome::Published | Outcome::UpToDate),
        Err(e) => {
            tracing::error!(code = "CRL_PUBLISH_FAILED", iaca = %iaca, error = %e.message, "the first CRL could not be published; the refresh retries it");
            false
        }
    }
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

/// The IACA a request names to sign with (`iacaSigner`): it passed the IACA profile and the
/// `iacaKeyDesc` key (a KMS key of an attached kms service the caller may use) is its key.
struct SigningIaca {
    parsed: ParsedIaca,
    /// Its facts (serial, subject, fingerprint ...) and PEM, as a store would keep them.
    cert: Certificate,
    key: KeyDoc,
    key_path: String,
}

async fn signing_iaca(issuer: &Issuer<'_>, signer: IacaSigner) -> Result<SigningIaca, ApiError> {
    let (repo, p, target) = (issuer.repo, issuer.caller, issuer.target);
    let (iaca_pem, iaca_key_desc) = match signer {
        IacaSigner::Pem {
            iaca_pem_encoded_certificate,
            iaca_key_desc,
        } => (iaca_pem_encoded_certificate, iaca_key_desc),
        IacaSigner::Stored {
            stored_certificate_path,
            iaca_key_desc,
        } => {
            let field = "iacaSigner.storedCertificatePath";
            let (_, cert) =
                named_certificate(repo, p, target, field, &stored_certificate_path).await?;
            (cert.data.pem, iaca_key_desc)
        }
    };
    let der = trustfn_x509::pem::decode_one_certificate(&iaca_pem)
        .map_err(|e| ApiError::validation(format!("iacaSigner: {e}")))?;
    let parsed: ParsedIaca = parse::parse_iaca(&der, chrono::Utc::now()).map_err(x509_error)?;
    let (key, key_path) = issuer
        .iaca_key("iacaSigner.iacaKeyDesc", &iaca_key_desc)
        .await?;
    if key.public_key != parsed.public_key {
        return Err(ApiError::validation(
            "iacaSigner.iacaKeyDesc: the key is not the IACA certificate's key; certificates it signed would never verify",
        ));
    }
    let pem = trustfn_x509::pem::encode_certificate(&der);
    let cert = certificate_doc(&der, &pem, CertificateType::Base, None)?;
    Ok(SigningIaca {
        parsed,
        cert,
        key,
        key_path,
    })
}

/// The record of the IACA that signs here: its id, the record to create with what it signs when
/// this service has not recorded it yet (an IACA issued elsewhere, or before issued certificates
/// were recorded: `adopted`), and whether its CRL was never published. What it signs is recorded
/// under it, and its CRL is published from it.
async fn iaca_record(
    issuer: &Issuer<'_>,
    iaca: &SigningIaca,
) -> Result<(Target, Option<Record>, bool), ApiError> {
    let key_path = Some(iaca.key_path.clone());
    let mut doc = issued_doc(IssuedProfile::Iaca, &iaca.cert, key_path, vec![]);
    let id = issuer.target.child(&doc.serial_number)?;
    if let Some(rec) = issuer.repo.get(&id).await? {
        // The same serial must be the same IACA: another certificate posing under a recorded
        // IACA's serial would file its certificates (and revocations) under the wrong CRL.
        let recorded = rec.get::<IssuedCertificate>();
        if recorded.is_none_or(|c| c.sha256_fingerprint != doc.sha256_fingerprint) {
            return Err(ApiError::conflict(format!(
                "iacaSigner: {id} records another certificate with this IACA's serial number; \
                 nothing was issued"
            )));
        }
        let unpublished = recorded
            .and_then(|c| c.crl.as_ref())
            .is_none_or(|c| c.publish.published_number.is_none());
        return Ok((id, None, unpublished));
    }
    doc.adopted = true;
    doc.crl = Some(crate::crl::new_state(issuer.crl.as_ref(), now()));
    Ok((id.clone(), Some(Record::new(id, doc)), true))
}

/// `POST /v1/{x509Service}/x509-service-api/iso/document-signers`
pub async fn issue_document_signer(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::DocumentSignerIssue>,
    body: IssueDs,
) -> Result<Reply, ApiError> {
    let issuer = Issuer::load(repo, auth.principal(), auth.target()).await?;
    let iaca = signing_iaca(&issuer, body.iaca_signer).await?;
    let (ds_key, key_path): (PublicKey, Option<String>) = match &body.ds_key_descriptor {
        KeyDescriptor::KmsHosted { key_id_path } => (
            issuer
                .kms_key("dsKeyDescriptor", key_id_path)
                .await?
                .public_key,
            Some(key_id_path.clone()),
        ),
        KeyDescriptor::JwkEncoded { jwk } => (
            PublicKey::from_jwk(jwk)
                .map_err(|e| ApiError::validation(format!("dsKeyDescriptor.jwk: {e}")))?,
            None,
        ),
        KeyDescriptor::Pkcs10Csr { csr_pem } => (
            trustfn_x509::csr::csr_public_key(csr_pem)
                .map_err(|e| ApiError::validation(format!("dsKeyDescriptor.csrPem: {e}")))?,
            None,
        ),
    };
    let to = issuer.stores(body.stored_certificate_id)?;
    let leaf = (ds_key, key_path, IssuedProfile::DocumentSigner);
    issue_under(&issuer, deps, iaca, to, body.certificate_data, leaf).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueStatusListSigner {
    #[serde(default)]
    pub stored_certificate_id: Option<String>,
    pub iaca_signer: IacaSigner,
    pub certificate_data: StatusListSignerData,
    pub signer_key_descriptor: KeyDescriptor,
}

/// `POST /v1/{x509Service}/x509-service-api/iso/status-list-signers`: the certificate of a key
/// that signs status lists, under an IACA (ISO/IEC 18013-5 2nd edition, MSO revocation list
/// signer), so the lists share the credentials' trust anchor.
pub async fn issue_status_list_signer(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::StatusListSignerIssue>,
    body: IssueStatusListSigner,
) -> Result<Reply, ApiError> {
    let issuer = Issuer::load(repo, auth.principal(), auth.target()).await?;
    let iaca = signing_iaca(&issuer, body.iaca_signer).await?;
    // The key signs status lists, so it must be a KMS key here.
    let KeyDescriptor::KmsHosted { key_id_path } = &body.signer_key_descriptor else {
        return Err(ApiError::validation(
            "signerKeyDescriptor: the status-list signing key signs, so it must be a kms-hosted-key-descriptor",
        ));
    };
    let key = issuer
        .kms_key("signerKeyDescriptor", key_id_path)
        .await?
        .public_key;
    let to = issuer.stores(body.stored_certificate_id)?;
    let leaf = (
        key,
        Some(key_id_path.clone()),
        IssuedProfile::StatusListSigner,
    );
    issue_under(&issuer, deps, iaca, to, body.certificate_data, leaf).await
}

/// The certificate data of what an IACA signs (a Document Signer, a status-list signer).
trait UnderIaca: Clone + serde::Serialize + Sized {
    fn distribution_point(&mut self) -> &mut Option<String>;
    fn validate(
        self,
        iaca: &ParsedIaca,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, X509Error>;
    async fn issue(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<trustfn_x509::Issued<Self>, X509Error>;
}

impl UnderIaca for DsData {
    fn distribution_point(&mut self) -> &mut Option<String> {
        &mut self.crl_distribution_point_uri
    }
    fn validate(
        self,
        iaca: &ParsedIaca,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, X509Error> {
        DsData::validate(self, iaca, now)
    }
    async fn issue(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<trustfn_x509::Issued<Self>, X509Error> {
        self.issue_with_serial(serial, iaca, key, signer).await
    }
}

impl UnderIaca for StatusListSignerData {
    fn distribution_point(&mut self) -> &mut Option<String> {
        &mut self.crl_distribution_point_uri
    }
    fn validate(
        self,
        iaca: &ParsedIaca,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, X509Error> {
        StatusListSignerData::validate(self, iaca, now)
    }
    async fn issue(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<trustfn_x509::Issued<Self>, X509Error> {
        self.issue_with_serial(serial, iaca, key, signer).await
    }
}

/// Issues `data` for `key` under the signing IACA: the distribution point filled in (or checked)
/// from the CRL target, every profile rule checked before the IACA is recorded or anything is
/// signed, one KMS Sign, then the write-through and the record (with the IACA's, if new).
async fn issue_under<D: UnderIaca>(
    issuer: &Issuer<'_>,
    deps: &PublishDeps<'_>,
    iaca: SigningIaca,
    to: Option<WriteThrough>,
    mut data: D,
    (key, key_path, profile): (PublicKey, Option<String>, IssuedProfile),
) -> Result<Reply, ApiError> {
    let dp = data.distribution_point().take();
    *data.distribution_point() = issuer.distribution_point(&iaca.cert.serial_number, dp)?;
    data.clone()
        .validate(&iaca.parsed, chrono::Utc::now())
        .map_err(x509_error)?;
    let (parent, adopt, parent_unpublished) = iaca_record(issuer, &iaca).await?;
    let signer = signer_for(deps.kms, &iaca.key);
    let serial = trustfn_x509::profile::iso_serial();
    let issued = data
        .issue(&serial, &iaca.parsed, &key, signer.as_ref())
        .await
        .map_err(x509_error)?;
    let rec = Recording {
        profile,
        parent,
        key_path,
        adopt,
        parent_unpublished,
    };
    let kind = (CertificateType::Base, None);
    store_and_reply(issuer, Some(deps), to, issued, kind, rec).await
}
