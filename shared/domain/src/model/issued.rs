//! What an x509-service records of the certificates it issues: one record per certificate, the
//! IACAs as children of the service (`{service}.{iaca serial}`) and what each IACA signed as its
//! children (`{service}.{iaca serial}.{serial}`). An IACA's record also holds the state of the
//! CRL it signs.

use serde::{Deserialize, Serialize};

/// Which Annex B profile a recorded certificate has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssuedProfile {
    Iaca,
    DocumentSigner,
    StatusListSigner,
}

impl IssuedProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuedProfile::Iaca => "iaca",
            IssuedProfile::DocumentSigner => "document-signer",
            IssuedProfile::StatusListSigner => "status-list-signer",
        }
    }
}

/// RFC 5280 §5.3.1 reasons a certificate can be revoked for. `certificateHold` and
/// `removeFromCRL` are left out: a revocation here is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    #[serde(rename = "cACompromise")]
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
    #[serde(rename = "aACompromise")]
    AaCompromise,
}

impl RevocationReason {
    pub const NAMES: &'static str =
        "unspecified, keyCompromise, cACompromise, affiliationChanged, \
         superseded, cessationOfOperation, privilegeWithdrawn, aACompromise";
}

/// A recorded revocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revocation {
    pub reason: RevocationReason,
    /// The date the CRL entry carries (RFC 3339).
    pub revocation_date: String,
    /// When the revocation was recorded (RFC 3339).
    pub revoked_at: String,
}

/// The CRL an IACA signs: what was allocated, what was published, and its publisher's lease.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CrlState {
    /// The last cRLNumber allocated (each publish attempt takes the next; never reused).
    pub number: u64,
    /// Bumped by every revocation of a certificate of this IACA.
    pub revision: u64,
    /// The revision last published (CRLs published before any revocation: 0); -1 before the
    /// first publish.
    pub published_revision: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub this_update: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
    #[serde(default)]
    pub revoked_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_error_at: Option<String>,
    /// Publishes that failed in a row since the last success (the refresh backs off by it).
    #[serde(rename = "_failures", default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// When the scheduled refresh re-issues the CRL (Unix seconds): the refresh index's sort
    /// key. `None` while the service has no CRL target.
    #[serde(
        rename = "_refreshAt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_at: Option<i64>,
    #[serde(
        rename = "_leaseUntil",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_until: Option<i64>,
    #[serde(
        rename = "_leaseOwner",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_owner: Option<String>,
    /// The registry's version of the CRL object as its last publisher stored it (the next upload
    /// expects it).
    #[serde(
        rename = "_objectVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub object_version: Option<String>,
}

impl CrlState {
    /// The state of a CRL never published.
    pub fn unpublished() -> CrlState {
        CrlState {
            published_revision: -1,
            ..CrlState::default()
        }
    }
}

/// A certificate an x509-service issued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuedCertificate {
    pub profile: IssuedProfile,
    /// Lower-case hex, as in the certificate.
    pub serial_number: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    pub sha256_fingerprint: String,
    /// The KMS key path of the certified key, when it is one (the IACA's own key for an IACA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// Where the certificate was written through to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stored_certificate_paths: Vec<String>,
    /// An IACA this service did not issue, recorded when it first signed here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    pub pem: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
    /// IACAs only: the CRL they sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<CrlState>,
}
