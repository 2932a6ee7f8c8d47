//! What an issuance writes: the certificate through to every attached store and its
//! issued-certificate record, in one transaction, and the 201 answer.

use serde_json::{Map, Value};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::SerialNumber;
use trustfn_domain::model::{
    Certificate, CertificateData, CertificateType, IssuedCertificate, IssuedProfile, Record,
};
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::target::Target;
use trustfn_publish::{Outcome, PublishDeps};
use trustfn_x509::parse::{self};

use super::issuer::now;
use super::issuer::{Issuer, WriteThrough};
use crate::answer::IssuedAnswer;
use crate::error::x509_error;
use crate::inventory::issued_doc;

/// A store record's document for a certificate.
pub(crate) fn certificate_doc(
    der: &[u8],
    pem: &str,
    kind: CertificateType,
    metadata: Option<Map<String, Value>>,
) -> Result<Certificate, ApiError> {
    let f = parse::facts(der).map_err(x509_error)?;
    Ok(Certificate {
        data: CertificateData {
            kind,
            pem: pem.to_owned(),
            complementary_metadata: metadata,
        },
        subject: f.subject,
        issuer: f.issuer,
        serial_number: SerialNumber::from_bytes(&f.serial),
        not_before: f.not_before,
        not_after: f.not_after,
        sha256_fingerprint: f.sha256,
    })
}

/// Writes the certificate into every attached store under one id and records it in the
/// service (`record`, under `parent`), in one transaction.
pub(crate) async fn write_through(
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
        if let Some(key) = iaca.and_then(|c| c.key_path.as_ref()) {
            edges.extend(crate::crl_publication::key_edge(&r.id, key));
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
pub(crate) struct Recording {
    pub(crate) profile: IssuedProfile,
    pub(crate) parent: Target,
    pub(crate) key_path: Option<Target>,
    /// The parent IACA's record when this service has not recorded it yet.
    pub(crate) adopt: Option<Record>,
    /// The parent IACA's CRL was never published (publish it now, so the distribution point
    /// just written answers).
    pub(crate) parent_unpublished: bool,
}

/// Writes an issued certificate through to the attached stores, records it, and builds the
/// answer.
pub(crate) async fn store_and_reply<D: serde::Serialize>(
    issuer: &Issuer<'_>,
    deps: Option<&PublishDeps<'_>>,
    to: Option<WriteThrough>,
    issued: trustfn_x509::Issued<D>,
    (kind, metadata): (CertificateType, Option<Map<String, Value>>),
    rec: Recording,
) -> Result<IssuedAnswer, ApiError> {
    let doc = certificate_doc(&issued.der, &issued.pem, kind, metadata)?;
    let stored = to.as_ref().map(WriteThrough::stored_ids);
    let mut book = issued_doc(
        rec.profile,
        &doc,
        rec.key_path,
        stored.clone().unwrap_or_default(),
    );
    if rec.profile == IssuedProfile::Iaca {
        book.crl = Some(crate::crl_publication::new_state(
            issuer.crl.as_ref(),
            now(),
        ));
    }
    let id = rec.parent.child(book.serial_number.as_str())?;
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
    Ok(IssuedAnswer {
        certificate_pem: issued.pem,
        certificate_data: serde_json::to_value(&issued.data).expect("certificate data serializes"),
        stored_certificate_ids: stored,
        crl_published: None,
    })
}

/// Publishes the first CRL of a newly recorded IACA; a failure is logged (the refresh retries
/// it, and `crls` shows the error) and does not undo the issuance.
pub(crate) async fn first_crl(
    repo: &dyn Repository,
    deps: Option<&PublishDeps<'_>>,
    iaca: &Target,
) -> bool {
    let Some(deps) = deps else {
        return false;
    };
    match crate::crl_publication::publish_crl(repo, deps, iaca, false).await {
        Ok(o) => matches!(o, Outcome::Published | Outcome::UpToDate),
        Err(e) => {
            tracing::error!(code = "CRL_PUBLISH_FAILED", iaca = %iaca, error = %e.message, "the first CRL could not be published; the refresh retries it");
            false
        }
    }
}
