//! `certificates/revoke`: a revocation recorded in the certificate's record and its IACA's CRL
//! revision in one transaction, then the CRL published.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::time::{from_unix, whole_seconds};
use trustfn_domain::model::{
    Certificate, IssuedCertificate, IssuedProfile, Record, Revocation, RevocationReason,
};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, RepoError, Repository, RevokedEntry};
use trustfn_domain::resource::{load_as, named_certificate};
use trustfn_domain::target::Target;

use crate::answer::RevokeAnswer;
use crate::crl_publication::{crl_view, publish_revision};
use crate::inventory::{iacas, issued_doc, issued_view, serial_param, x509_service};
use trustfn_publish::{grace_secs, PublishDeps, Settled};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeRequest {
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub stored_certificate_path: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub revocation_date: Option<DateTime<Utc>>,
}

/// Times a revocation re-reads and retries when a concurrent one changed its IACA's record.
const RACES: usize = 8;

/// `POST /v1/{x509Service}/x509-service-api/certificates/revoke`
pub async fn revoke(
    repo: &dyn Repository,
    deps: &PublishDeps<'_>,
    auth: &Authorized<'_, act::CertificateRevoke>,
    body: RevokeRequest,
) -> Result<Reply, ApiError> {
    let service_id = auth.target();
    let p = auth.principal();
    // The stored certificate, when the request names one (with where it is stored).
    let mut stored: Option<(Target, Certificate)> = None;
    let serial = match (&body.serial_number, &body.stored_certificate_path) {
        (Some(s), None) => serial_param("serialNumber", s)?,
        (None, Some(path)) => {
            // The certificate is named in the body: reading it is its own right.
            let (path, cert) =
                named_certificate(repo, p, service_id, "storedCertificatePath", path).await?;
            let serial = cert.serial_number.clone();
            stored = Some((path, cert));
            serial
        }
        _ => {
            return Err(ApiError::validation(
                "give exactly one of serialNumber and storedCertificatePath",
            ))
        }
    };
    let reason = match &body.reason {
        None => RevocationReason::Unspecified,
        Some(r) => serde_json::from_value(Value::String(r.clone())).map_err(|_| {
            ApiError::validation(format!(
                "reason: one of {} (a revocation is final: no certificateHold)",
                RevocationReason::NAMES
            ))
        })?,
    };
    let now_t = Utc::now();
    let date = body.revocation_date.unwrap_or(now_t);
    if date > now_t + chrono::Duration::minutes(5) {
        return Err(ApiError::validation(
            "revocationDate: must not be in the future",
        ));
    }
    let service = x509_service(repo, service_id).await?;
    let target = service.doc.crl_target().cloned();
    let iacas = iacas(repo, service_id).await?;
    if iacas.iter().any(|i| i.doc.serial_number == serial) {
        return Err(ApiError::validation(
            "serialNumber: this is an IACA; an IACA is not revoked through its own CRL (rotate it: issue a new IACA and re-issue its Document Signers, see the runbook)",
        ));
    }
    let ids: Vec<Target> = iacas
        .iter()
        .map(|i| i.id.child(serial.as_str()))
        .collect::<Result<_, _>>()?;
    let mut races = 0;
    let (cert, revision) = loop {
        // Recorded at issuance; or, named by its stored copy, issued before issuance was
        // recorded by an IACA recorded here (its signature verifies with that IACA's key): then
        // it is recorded now, with its revocation.
        let (cert, new) = match repo.get_many(&ids).await?.into_iter().next() {
            Some(found) => (
                found.downcast::<IssuedCertificate>().map_err(|r| {
                    ApiError::internal_msg(format!("{} is not an issued certificate", r.id))
                })?,
                false,
            ),
            None => match stored
                .as_ref()
                .and_then(|(path, c)| signed_here(&iacas, path, c))
            {
                Some(rec) => (rec, true),
                None => {
                    return Err(ApiError::not_found(format!(
                        "no certificate with serial number {serial} was issued by {service_id}"
                    )))
                }
            },
        };
        let iaca_id = cert.id.parent().expect("under an IACA");
        let iaca = load_as::<IssuedCertificate>(repo, &iaca_id).await?;
        if cert.doc.revocation.is_some() {
            // Idempotent: the revocation stands as first recorded.
            let revision = iaca.doc.crl.as_ref().map_or(0, |c| c.publish.revision);
            break (cert, revision);
        }
        let mut revoked = cert.clone();
        revoked.doc.revocation = Some(Revocation {
            reason,
            revocation_date: whole_seconds(date),
            revoked_at: from_unix(deps.now()),
        });
        let mut next_iaca = iaca.clone();
        let crl = next_iaca
            .doc
            .crl
            .get_or_insert_with(|| crate::crl_publication::new_state(target.as_ref(), deps.now()));
        let crl = &mut crl.publish;
        crl.revision += 1;
        if target.is_some() {
            // Should our publish not happen, the refresh publishes the revocation.
            crl.refresh_at = Some(
                crl.refresh_at
                    .unwrap_or(i64::MAX)
                    .min(deps.now() + grace_secs()),
            );
        }
        let revision = crl.revision;
        let entry = RevokedEntry {
            serial: revoked.id.leaf().to_owned(),
            revoked_at: whole_seconds(date).timestamp(),
        };
        let ops = vec![
            match new {
                true => Op::Create(revoked.clone().upcast()),
                false => Op::Replace {
                    record: revoked.clone().upcast(),
                    expected_version: cert.version,
                    children_delta: 0,
                },
            },
            Op::Replace {
                record: next_iaca.upcast(),
                expected_version: iaca.version,
                children_delta: i64::from(new),
            },
            Op::AddRevoked {
                iaca: iaca_id.clone(),
                entry,
            },
        ];
        match repo.commit(ops).await {
            Ok(()) => {
                tracing::info!(service = %service_id, serial = %serial, reason = ?reason, "certificate revoked");
                break (revoked, revision);
            }
            Err(RepoError::ConditionFailed { .. } | RepoError::TransactionConflict)
                if races < RACES =>
            {
                races += 1;
            }
            Err(e) => return Err(ApiError::from(e)),
        }
    };
    let iaca_id = cert.id.parent().expect("under an IACA");
    let mut out = RevokeAnswer {
        certificate: issued_view(&cert),
        crl_published: false,
        crl: None,
        crl_publish_error: None,
    };
    let Some(target) = target else {
        return Ok(Reply::typed(200, &out));
    };
    // The truth: published once the CRL holds the revocation (waiting for another publisher
    // holding the lease, within the request's time); else the refresh publishes it.
    let settled = publish_revision(repo, deps, &iaca_id, revision).await?;
    let iaca = load_as::<IssuedCertificate>(repo, &iaca_id).await?;
    out.crl_published = settled == Settled::Published;
    out.crl = Some(crl_view(&iaca, Some(&target)));
    if let Settled::Unpublished(Some(e)) = settled {
        tracing::error!(code = "CRL_PUBLISH_FAILED", iaca = %iaca_id, error = %e, "revoked, but the CRL could not be published now");
        out.crl_publish_error = Some(e);
    }
    Ok(Reply::typed(200, &out))
}

/// The record of a stored certificate that one of the service's IACAs signed but that was not
/// recorded (issued before issuance was recorded): the IACA's subject is its issuer and the
/// IACA's key verifies its signature. Marked `adopted`.
fn signed_here(
    iacas: &[Record<IssuedCertificate>],
    path: &Target,
    cert: &Certificate,
) -> Option<Record<IssuedCertificate>> {
    let der = trustfn_x509::pem::decode_one_certificate(&cert.data.pem).ok()?;
    let iaca = iacas.iter().find(|i| {
        i.doc.profile == IssuedProfile::Iaca
            && i.doc.subject.as_deref() == Some(cert.issuer.as_str())
            && trustfn_x509::pem::decode_one_certificate(i.doc.pem.as_deref().unwrap_or_default())
                .and_then(|d| trustfn_x509::parse::public_key(&d))
                .and_then(|k| trustfn_x509::parse::verify_signed_by(&der, &k))
                .is_ok()
    })?;
    let vical = trustfn_x509::describe::describe(&der).is_ok_and(|d| d.is_vical_signer());
    let profile = match (trustfn_x509::parse::is_mdl_document_signer(&der), vical) {
        (true, _) => IssuedProfile::DocumentSigner,
        (false, true) => IssuedProfile::VicalSigner,
        (false, false) => IssuedProfile::StatusListSigner,
    };
    let mut doc = issued_doc(profile, cert, None, vec![path.to_string()]);
    doc.adopted = true;
    Some(Record::with_doc(
        iaca.id.child(doc.serial_number.as_str()).ok()?,
        doc,
    ))
}
