//! What an x509-service issued: its records (IACAs as `{service}.{serial}`, what each IACA
//! signed as `{service}.{iaca serial}.{serial}`), `certificates/issued`, and
//! `certificates/revoke`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{
    Certificate, IssuedCertificate, IssuedProfile, Kind, Record, Revocation, RevocationReason,
    Service, ServiceType,
};
use trustfn_domain::reply::{PageParams, Reply};
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_domain::resource::{children_of_kind, children_page, load, load_as, named_certificate};
use trustfn_domain::target::Target;

use crate::crl::{crl_view, publish_revision};
use trustfn_publish::{grace_secs, rfc3339, PublishDeps, Settled};

/// A serial number as the API takes it: hex, colons and case optional; stored lower-case.
pub(crate) fn normalise_serial(field: &str, s: &str) -> Result<String, ApiError> {
    let hex: String = s
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.is_empty() || hex.len() > 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::validation(format!(
            "{field}: a certificate serial number in hex (colons optional)"
        )));
    }
    Ok(hex)
}

/// The x509-service at `target`, with its document.
pub(crate) async fn x509_service(
    repo: &dyn Repository,
    target: &Target,
) -> Result<Record<Service>, ApiError> {
    let rec = load(repo, target).await?;
    if rec.service_type() != Some(ServiceType::X509Service) {
        return Err(ApiError::validation(format!(
            "{target} is not an x509-service"
        )));
    }
    rec.downcast::<Service>()
        .map_err(|_| ApiError::internal_msg("a service record that is not a service"))
}

/// Every IACA the service has recorded, in serial order (a handful per service).
pub(crate) async fn iacas(
    repo: &dyn Repository,
    service: &Target,
) -> Result<Vec<Record<IssuedCertificate>>, ApiError> {
    Ok(children_of_kind(repo, service, Kind::Issued)
        .await?
        .into_iter()
        .filter_map(|r| r.downcast::<IssuedCertificate>().ok())
        .collect())
}

/// The record of an issued certificate, from the facts its store document holds.
pub(crate) fn issued_doc(
    profile: IssuedProfile,
    cert: &Certificate,
    key_path: Option<String>,
    stored: Vec<String>,
) -> IssuedCertificate {
    IssuedCertificate {
        profile,
        serial_number: cert.serial_number.clone(),
        subject: Some(cert.subject.clone()),
        issuer: cert.issuer.clone(),
        not_before: Some(cert.not_before.clone()),
        not_after: Some(cert.not_after.clone()),
        sha256_fingerprint: Some(cert.sha256_fingerprint.clone()),
        key_path,
        stored_certificate_paths: stored,
        adopted: false,
        pem: Some(cert.data.pem.clone()),
        revocation: None,
        crl: None,
    }
}

/// The public view of an issued certificate (the IACA's CRL state is shown by `crls`).
pub(crate) fn issued_view(rec: &Record<IssuedCertificate>) -> Value {
    let c = &rec.doc;
    let iaca = match c.profile {
        IssuedProfile::Iaca => None,
        _ => rec.id.parent().map(|p| p.leaf().to_owned()),
    };
    json!({
        "_id": rec.id.to_string(),
        "profile": c.profile.as_str(),
        "serialNumber": c.serial_number,
        "subject": c.subject,
        "issuer": c.issuer,
        "iacaSerialNumber": iaca,
        "notBefore": c.not_before,
        "notAfter": c.not_after,
        "sha256Fingerprint": c.sha256_fingerprint,
        "keyPath": c.key_path,
        "storedCertificatePaths": c.stored_certificate_paths,
        "adopted": c.adopted,
        "state": if c.revocation.is_some() { "revoked" } else { "valid" },
        "revocation": c.revocation,
        "issuedCount": (c.profile == IssuedProfile::Iaca).then_some(rec.children),
        "certificatePEM": c.pem,
        "createdAt": rec.created_at,
    })
}

/// Query parameters of `certificates/issued`.
pub const ISSUED_QUERY: &[&str] = &["limit", "offset", "cursor", "iaca", "state"];

/// `GET /v1/{x509Service}/x509-service-api/certificates/issued[?iaca=<serial>][&state=valid|revoked]`:
/// without `iaca`, a page of the service's IACAs (each with `issuedCount`); with it, a page of
/// what that IACA signed here. `state` keeps the items of the page in that state (a page may
/// then be shorter than `limit`; `x-next-cursor` goes on).
pub async fn issued(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::IssuedList>,
    page: &PageParams,
    iaca: Option<&str>,
    state: Option<&str>,
) -> Result<Reply, ApiError> {
    let service = auth.target();
    x509_service(repo, service).await?;
    let want = match state {
        None => None,
        Some(s @ ("valid" | "revoked")) => Some(s == "revoked"),
        Some(_) => return Err(ApiError::validation("state: valid or revoked")),
    };
    let parent = match iaca {
        None => service.clone(),
        Some(s) => {
            let serial = normalise_serial("iaca", s)?;
            let id = service.child(&serial)?;
            // Storage failures stay 5xx; only a missing IACA is a 404.
            let is_iaca = repo.get(&id).await?.is_some_and(|r| {
                r.get::<IssuedCertificate>()
                    .is_some_and(|c| c.profile == IssuedProfile::Iaca)
            });
            if !is_iaca {
                return Err(ApiError::not_found(format!(
                    "no IACA {serial} recorded in {service}"
                )));
            }
            id
        }
    };
    let out = children_page(repo, &parent, page).await?;
    let items: Vec<Value> = out
        .items
        .into_iter()
        .filter_map(|r| r.downcast::<IssuedCertificate>().ok())
        .filter(|r| want.is_none_or(|revoked| r.doc.revocation.is_some() == revoked))
        .map(|r| issued_view(&r))
        .collect();
    let mut reply = Reply::json(200, Value::Array(items));
    if let Some(n) = out.next {
        reply.headers.push(("x-next-cursor", n));
    }
    Ok(reply)
}

/// `GET /v1/{x509Service}/x509-service-api/crls`: per IACA, its CRL's number, thisUpdate,
/// nextUpdate, revoked count, public URL and last publish error.
pub async fn crls(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::CrlView>,
) -> Result<Reply, ApiError> {
    let service = x509_service(repo, auth.target()).await?;
    let target = service.doc.crl_target();
    let items: Vec<Value> = iacas(repo, auth.target())
        .await?
        .iter()
        .filter(|r| r.doc.profile == IssuedProfile::Iaca)
        .map(|r| crl_view(r, target))
        .collect();
    Ok(Reply::json(200, Value::Array(items)))
}

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
        (Some(s), None) => normalise_serial("serialNumber", s)?,
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
        .map(|i| i.id.child(&serial))
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
            revocation_date: rfc3339(date.timestamp()),
            revoked_at: rfc3339(deps.now()),
        });
        let mut next_iaca = iaca.clone();
        let crl = next_iaca
            .doc
            .crl
            .get_or_insert_with(|| crate::crl::new_state(target.as_ref(), deps.now()));
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
    let mut out = issued_view(&cert);
    let Some(target) = target else {
        out["crlPublished"] = json!(false);
        return Ok(Reply::json(200, out));
    };
    // The truth: published once the CRL holds the revocation (waiting for another publisher
    // holding the lease, within the request's time); else the refresh publishes it.
    let settled = publish_revision(repo, deps, &iaca_id, revision).await?;
    let iaca = load_as::<IssuedCertificate>(repo, &iaca_id).await?;
    out["crlPublished"] = json!(settled == Settled::Published);
    out["crl"] = crl_view(&iaca, Some(&target));
    if let Settled::Unpublished(Some(e)) = settled {
        tracing::error!(code = "CRL_PUBLISH_FAILED", iaca = %iaca_id, error = %e, "revoked, but the CRL could not be published now");
        out["crlPublishError"] = json!(e);
    }
    Ok(Reply::json(200, out))
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
    let profile = match trustfn_x509::parse::is_mdl_document_signer(&der) {
        true => IssuedProfile::DocumentSigner,
        false => IssuedProfile::StatusListSigner,
    };
    let mut doc = issued_doc(profile, cert, None, vec![path.to_string()]);
    doc.adopted = true;
    Some(Record::with_doc(
        iaca.id.child(&doc.serial_number).ok()?,
        doc,
    ))
}
