//! What an x509-service issued: its records (IACAs as `{service}.{serial}`, what each IACA
//! signed as `{service}.{iaca serial}.{serial}`), `certificates/issued` and `crls`.

use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::SerialNumber;
use trustfn_domain::model::{
    Certificate, IssuedCertificate, IssuedProfile, Kind, Record, Service, ServiceType,
};
use trustfn_domain::reply::{PageParams, Reply};
use trustfn_domain::repo::Repository;
use trustfn_domain::resource::{children_of_kind, children_page, load};
use trustfn_domain::target::Target;

use crate::answer::{CrlView, IssuedView};
use crate::crl_publication::crl_view;

/// A serial number a request names in `field` (hex, colons and case optional).
pub(crate) fn serial_param(field: &str, s: &str) -> Result<SerialNumber, ApiError> {
    SerialNumber::parse(s).map_err(|e| ApiError::validation(format!("{field}: {e}")))
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
    key_path: Option<Target>,
    stored: Vec<String>,
) -> IssuedCertificate {
    IssuedCertificate {
        profile,
        serial_number: cert.serial_number.clone(),
        subject: Some(cert.subject.clone()),
        issuer: cert.issuer.clone(),
        not_before: Some(cert.not_before),
        not_after: Some(cert.not_after),
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
pub(crate) fn issued_view(rec: &Record<IssuedCertificate>) -> IssuedView {
    let c = &rec.doc;
    let iaca = match c.profile {
        IssuedProfile::Iaca => None,
        _ => rec.id.parent().map(|p| p.leaf().to_owned()),
    };
    IssuedView {
        id: rec.id.to_string(),
        profile: c.profile.as_str(),
        serial_number: c.serial_number.clone(),
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        iaca_serial_number: iaca,
        not_before: c.not_before,
        not_after: c.not_after,
        sha256_fingerprint: c.sha256_fingerprint.clone(),
        key_path: c.key_path.clone(),
        stored_certificate_paths: c.stored_certificate_paths.clone(),
        adopted: c.adopted,
        state: if c.revocation.is_some() {
            "revoked"
        } else {
            "valid"
        },
        revocation: c.revocation.clone(),
        issued_count: (c.profile == IssuedProfile::Iaca).then_some(rec.children),
        certificate_pem: c.pem.clone(),
        created_at: rec.created_at.clone(),
    }
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
            let serial = serial_param("iaca", s)?;
            let id = service.child(serial.as_str())?;
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
    let items: Vec<IssuedView> = out
        .items
        .into_iter()
        .filter_map(|r| r.downcast::<IssuedCertificate>().ok())
        .filter(|r| want.is_none_or(|revoked| r.doc.revocation.is_some() == revoked))
        .map(|r| issued_view(&r))
        .collect();
    let mut reply = Reply::typed(200, &items);
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
    let items: Vec<CrlView> = iacas(repo, auth.target())
        .await?
        .iter()
        .filter(|r| r.doc.profile == IssuedProfile::Iaca)
        .map(|r| crl_view(r, target))
        .collect();
    Ok(Reply::typed(200, &items))
}
