//! What an x509-service records of the certificates it issues: one record per certificate, the
//! IACAs as children of the service (`{service}.{iaca serial}`) and what each IACA signed as its
//! children (`{service}.{iaca serial}.{serial}`). An IACA's record also holds the state of the
//! CRL it signs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::publish::{lease_of, rfc3339, unix_opt, PublishState};
use super::SerialNumber;
use crate::target::Target;

/// Which Annex B profile a recorded certificate has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssuedProfile {
    Iaca,
    DocumentSigner,
    StatusListSigner,
    /// The certificate of a key that signs VICALs (extended key usage 1.0.18013.5.1.8).
    VicalSigner,
    /// A certificate this service's records lost (its service was deleted and created again, or
    /// the table was restored) that a published CRL lists as revoked: known by its serial and
    /// revocation only, kept so no later CRL drops it.
    Unknown,
}

impl IssuedProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuedProfile::Iaca => "iaca",
            IssuedProfile::DocumentSigner => "document-signer",
            IssuedProfile::StatusListSigner => "status-list-signer",
            IssuedProfile::VicalSigner => "vical-signer",
            IssuedProfile::Unknown => "unknown",
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
    /// The date the CRL entry carries.
    #[serde(with = "super::time::secs")]
    pub revocation_date: DateTime<Utc>,
    /// When the revocation was recorded.
    #[serde(with = "super::time::secs")]
    pub revoked_at: DateTime<Utc>,
}

/// The CRL an IACA signs: its publish state (`number` is the last cRLNumber allocated,
/// `revision` is bumped by every revocation of a certificate of this IACA, `issued_at` and
/// `expires_at` are the published CRL's thisUpdate and nextUpdate) and how many entries it holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredCrlState", into = "StoredCrlState")]
pub struct CrlState {
    pub publish: PublishState,
    pub revoked_count: u64,
    /// Every revocation of a certificate of this IACA is in its revoked set (see
    /// `repo::Op::AddRevoked`), so the CRL is built from the set alone. False for IACAs that
    /// recorded revocations before the set existed: theirs are read from the issued records.
    pub revoked_set: bool,
}

/// A CRL state as stored (the field names it always had).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StoredCrlState {
    number: u64,
    revision: u64,
    published_revision: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    published_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    this_update: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_update: Option<String>,
    #[serde(default)]
    revoked_count: u64,
    #[serde(
        rename = "_revokedSet",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    revoked_set: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    publish_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    publish_error_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    publishes: Option<u64>,
    #[serde(rename = "_failures", default, skip_serializing_if = "Option::is_none")]
    failures: Option<u32>,
    #[serde(
        rename = "_refreshAt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    refresh_at: Option<i64>,
    #[serde(
        rename = "_leaseUntil",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    lease_until: Option<i64>,
    #[serde(
        rename = "_leaseOwner",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    lease_owner: Option<String>,
    #[serde(rename = "_leasedAt", default, skip_serializing_if = "Option::is_none")]
    leased_at: Option<i64>,
    #[serde(
        rename = "_objectVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    object_version: Option<String>,
    #[serde(
        rename = "_knownThrough",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    known_through: Option<i64>,
}

impl TryFrom<StoredCrlState> for CrlState {
    type Error = String;
    fn try_from(s: StoredCrlState) -> Result<CrlState, String> {
        let publish = PublishState {
            revision: i64::try_from(s.revision).map_err(|_| "revision is too large")?,
            published_revision: s.published_revision,
            number: Some(s.number),
            published_number: s.published_number,
            lease: lease_of(s.lease_owner, s.lease_until, s.leased_at),
            issued_at: unix_opt("thisUpdate", s.this_update.as_deref())?,
            expires_at: unix_opt("nextUpdate", s.next_update.as_deref())?,
            refresh_at: s.refresh_at,
            object_version: s.object_version,
            failures: s.failures.unwrap_or(0),
            last_error: s.publish_error,
            last_error_at: unix_opt("publishErrorAt", s.publish_error_at.as_deref())?,
            publishes: s.publishes.unwrap_or(0),
            known_through: s.known_through,
        };
        Ok(CrlState {
            publish,
            revoked_count: s.revoked_count,
            revoked_set: s.revoked_set,
        })
    }
}

impl From<CrlState> for StoredCrlState {
    fn from(c: CrlState) -> StoredCrlState {
        let p = c.publish;
        StoredCrlState {
            number: p.number.unwrap_or(0),
            revision: p.revision.max(0) as u64,
            published_revision: p.published_revision,
            published_number: p.published_number,
            this_update: p.issued_at.map(rfc3339),
            next_update: p.expires_at.map(rfc3339),
            revoked_count: c.revoked_count,
            revoked_set: c.revoked_set,
            publish_error: p.last_error,
            publish_error_at: p.last_error_at.map(rfc3339),
            publishes: (p.publishes > 0).then_some(p.publishes),
            failures: (p.failures > 0).then_some(p.failures),
            refresh_at: p.refresh_at,
            lease_until: p.lease.as_ref().map(|l| l.until),
            leased_at: p.lease.as_ref().map(|l| l.since),
            lease_owner: p.lease.map(|l| l.owner),
            object_version: p.object_version,
            known_through: p.known_through,
        }
    }
}

impl CrlState {
    /// The state of a CRL never published, of an IACA that has recorded no revocation yet (a
    /// revocation creates the state: an IACA without one has none).
    pub fn unpublished() -> CrlState {
        CrlState {
            publish: PublishState {
                number: Some(0),
                ..PublishState::unpublished()
            },
            revoked_count: 0,
            revoked_set: true,
        }
    }
}

/// A certificate an x509-service issued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuedCertificate {
    pub profile: IssuedProfile,
    /// Lower-case hex, as in the certificate.
    pub serial_number: SerialNumber,
    /// The certificate's facts; absent only for a certificate known from a CRL
    /// ([`IssuedProfile::Unknown`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub issuer: String,
    #[serde(
        with = "super::time::secs_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(
        with = "super::time::secs_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub not_after: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_fingerprint: Option<String>,
    /// The KMS key path of the certified key, when it is one (the IACA's own key for an IACA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<Target>,
    /// Where the certificate was written through to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stored_certificate_paths: Vec<String>,
    /// An IACA this service did not issue, recorded when it first signed here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
    /// IACAs only: the CRL they sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<CrlState>,
}

impl IssuedCertificate {
    /// The certificate's PEM; an error naming the record when it has none (only a certificate
    /// known from a CRL has none, and nothing is built from one).
    pub fn pem_of(&self, id: &crate::Target) -> Result<&str, crate::ApiError> {
        self.pem.as_deref().ok_or_else(|| {
            crate::ApiError::internal_msg(format!("{id}: the record holds no certificate"))
        })
    }
}
