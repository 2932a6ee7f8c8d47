//! The x509-service issuing for one caller: its attached kms services and stores, checked
//! against the caller's rights for every resource a request names.

use serde::Deserialize;
use serde_json::Value;
use trustfn_domain::auth::{act, Principal};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::SerialNumber;
use trustfn_domain::model::{CrlTarget, KeyDoc, Record, ServiceType};
use trustfn_domain::ports::KeyManager;
use trustfn_domain::repo::Repository;
use trustfn_domain::target::Target;
use trustfn_x509::Signer;

use crate::inventory::x509_service;

/// An x509-service issuing for one caller: its attached dependencies, and the caller, whose
/// rights are checked on every resource the request names besides the service.
pub(crate) struct Issuer<'a> {
    pub(crate) repo: &'a dyn Repository,
    pub(crate) caller: &'a Principal,
    pub(crate) target: &'a Target,
    pub(crate) deps: Vec<Record>,
    /// Where the service publishes its IACAs' CRLs, if it does.
    pub(crate) crl: Option<CrlTarget>,
}

impl<'a> Issuer<'a> {
    /// The x509-service at `target` (already authorized) and its attached dependencies.
    pub(crate) async fn load(
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
    pub(crate) fn distribution_point(
        &self,
        iaca_serial: &SerialNumber,
        given: Option<String>,
    ) -> Result<Option<String>, ApiError> {
        let Some(target) = &self.crl else {
            return Ok(given);
        };
        let url = crate::crl_publication::crl_url(target, self.target, iaca_serial);
        match given {
            Some(g) if g != url => Err(ApiError::validation(format!(
                "certificateData.crlDistributionPointUri: must be {url} (where this x509-service publishes the IACA's CRL), or left out to be filled in"
            ))),
            _ => Ok(Some(url)),
        }
    }

    /// A KMS key named in the request: the caller needs `kms-key-use` on it (checked before
    /// anything about it is read), and its kms service must be attached to this service. The
    /// key's document and its path, parsed.
    pub(crate) async fn kms_key(
        &self,
        field: &str,
        path: &str,
    ) -> Result<(KeyDoc, Target), ApiError> {
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
            .map(|r| (r.doc, r.id))
            .ok_or_else(|| {
                ApiError::validation(format!("{field}.keyIdPath: key {key_id} does not exist"))
            })
    }

    /// The IACA key: it signs, so it must be a KMS key of an attached kms service.
    pub(crate) async fn iaca_key(
        &self,
        field: &str,
        desc: &KeyDescriptor,
    ) -> Result<(KeyDoc, Target), ApiError> {
        match desc {
            KeyDescriptor::KmsHosted { key_id_path } => self.kms_key(field, key_id_path).await,
            _ => Err(ApiError::validation(format!(
                "{field}: the IACA key signs, so it must be a kms-hosted-key-descriptor"
            ))),
        }
    }

    /// The attached stores a certificate is written through to, under `cert_id` (one segment,
    /// a UUID when the request gives none). The caller needs `x509-store-certificate-add` on
    /// each, checked before anything is signed.
    pub(crate) fn stores(&self, cert_id: Option<String>) -> Result<Option<WriteThrough>, ApiError> {
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
            let path = s.id.child(id.as_str())?;
            self.caller.authorize::<act::CertificateAdd>(&path)?;
            paths.push((s.id.clone(), path));
        }
        Ok(Some(WriteThrough { id, paths }))
    }
}

pub(crate) fn signer_for(kms: &dyn KeyManager, k: &KeyDoc) -> Box<dyn Signer> {
    kms.signer(k.kms_key_arn.as_str(), k.public_key.clone())
}

/// The id an issued certificate is stored under in every attached store: one path segment,
/// the caller's `storedCertificateId` or a UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredCertificateId(String);

impl StoredCertificateId {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Validates a caller-chosen stored certificate id (one path segment).
pub(crate) fn stored_id(id: Option<String>) -> Result<StoredCertificateId, ApiError> {
    match id {
        None => Ok(StoredCertificateId(uuid::Uuid::new_v4().to_string())),
        Some(s) => {
            let t = Target::parse(&s)
                .map_err(|e| ApiError::validation(format!("storedCertificateId: {}", e.message)))?;
            if t.depth() != 1 {
                return Err(ApiError::validation(
                    "storedCertificateId: one segment, without dots",
                ));
            }
            Ok(StoredCertificateId(s))
        }
    }
}

/// Where an issued certificate is written: `(store, certificate path)` for each attached store.
pub(crate) struct WriteThrough {
    pub(crate) id: StoredCertificateId,
    pub(crate) paths: Vec<(Target, Target)>,
}

impl WriteThrough {
    /// The stored certificates' paths.
    pub(crate) fn stored_ids(&self) -> Vec<String> {
        self.paths.iter().map(|(_, p)| p.to_string()).collect()
    }
}

/// Now, in Unix seconds.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
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
