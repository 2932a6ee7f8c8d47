//! VICAL services (ISO/IEC 18013-5 Annex C issuer lists) and the versions they publish.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The configuration of a `vical-service`: the KMS key that signs its VICALs, the stored
/// certificate of that key (extended key usage 1.0.18013.5.1.8) and the chain above it, all
/// checked when set (see the vical crate), and the default publish request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VicalServiceConfig {
    /// Path of a key of an attached kms service.
    pub signing_key_id: String,
    /// Path of the signer's certificate in an attached store.
    pub signer_certificate_id: String,
    /// Paths of the certificates above the signer, in order (issuer first), in attached stores.
    #[serde(default)]
    pub signer_certificate_chain_ids: Vec<String>,
    /// The stored partial `publish-vical` request (`default-requests/publish-vical`).
    #[serde(
        default,
        rename = "_publishDefaults",
        skip_serializing_if = "Option::is_none"
    )]
    pub publish_defaults: Option<Map<String, Value>>,
    /// The version id of the latest published VICAL.
    #[serde(default, rename = "_latest", skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    /// When the scheduled refresh publishes the next version (Unix seconds): three quarters into
    /// the latest's validity, or later after failed attempts.
    #[serde(
        default,
        rename = "_refreshAt",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_at: Option<i64>,
    /// Refresh attempts that failed since the last publish.
    #[serde(default, rename = "_failures", skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// Other settings the client keeps in `config`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One published VICAL: what was published and the signed bytes, kept for good (a version is
/// removed only with its service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VicalVersion {
    pub version_id: String,
    pub vical_issue_id: u64,
    pub vical_provider: String,
    #[serde(with = "super::time::secs")]
    pub date: DateTime<Utc>,
    #[serde(
        default,
        with = "super::time::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_update: Option<DateTime<Utc>>,
    pub entry_count: u32,
    /// SHA-256 of the signed VICAL (the COSE_Sign1), lower-case hex.
    pub sha256: String,
    /// The signed VICAL, base64 (standard alphabet).
    #[serde(rename = "_cbor")]
    pub cbor: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
