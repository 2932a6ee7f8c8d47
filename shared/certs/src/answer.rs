//! The answers of the certificate routes, as types: what `certificates/issued`, `crls`,
//! `certificates/revoke` and the issuance routes return (docs/API.md, infra/openapi.yaml).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use trustfn_domain::model::{time, Revocation, SerialNumber};
use trustfn_domain::target::Target;

/// An issued certificate (`certificates/issued`, and the base of the revoke answer).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedView {
    #[serde(rename = "_id")]
    pub id: String,
    pub profile: &'static str,
    pub serial_number: SerialNumber,
    pub subject: Option<String>,
    pub issuer: String,
    /// The signing IACA's serial (none for an IACA).
    pub iaca_serial_number: Option<String>,
    #[serde(with = "time::secs_opt")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(with = "time::secs_opt")]
    pub not_after: Option<DateTime<Utc>>,
    pub sha256_fingerprint: Option<String>,
    pub key_path: Option<Target>,
    pub stored_certificate_paths: Vec<String>,
    pub adopted: bool,
    /// `valid` or `revoked`.
    pub state: &'static str,
    pub revocation: Option<Revocation>,
    /// How many certificates an IACA signed here (none for the others).
    pub issued_count: Option<i64>,
    #[serde(rename = "certificatePEM")]
    pub certificate_pem: Option<String>,
    pub created_at: String,
}

/// An IACA's CRL (`crls`, and `crl` in the revoke answer).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrlView {
    pub iaca: String,
    pub iaca_serial_number: SerialNumber,
    pub iaca_subject: Option<String>,
    pub url: Option<String>,
    pub number: Option<u64>,
    pub this_update: Option<String>,
    pub next_update: Option<String>,
    pub revoked_count: u64,
    pub last_publish_error: Option<String>,
    pub last_publish_error_at: Option<String>,
    pub pending: bool,
    pub consecutive_failures: u32,
}

/// `certificates/revoke`: the certificate as now recorded, and whether its IACA's CRL holds it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeAnswer {
    #[serde(flatten)]
    pub certificate: IssuedView,
    pub crl_published: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl: Option<CrlView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl_publish_error: Option<String>,
}

/// What the issuance routes answer (201).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedAnswer {
    #[serde(rename = "certificatePEM")]
    pub certificate_pem: String,
    /// The request's certificate data with every default filled in.
    pub certificate_data: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_certificate_ids: Option<Vec<String>>,
    /// An IACA's first CRL was published (only when the service has a CRL target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl_published: Option<bool>,
}
