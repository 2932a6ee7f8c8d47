//! VICAL services (ISO/IEC 18013-5 Annex C issuer lists) and the versions they publish.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Doc, DocKind, Kind, PublishState, Service};
use crate::registry_config::{RegistryConfig, Sealed};

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
    /// Where every version is also published (`config.registry`, secrets sealed): the latest as
    /// `vicals/<service>/latest.cbor`, each version as `vicals/<service>/versions/<id>.cbor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryConfig<Sealed>>,
    /// The publishing engine's state of the registry copy (with a registry only).
    #[serde(
        default,
        rename = "_registryPublish",
        with = "copy_state",
        skip_serializing_if = "Option::is_none"
    )]
    pub registry_publish: Option<Box<PublishState>>,
    /// Versions published since the registry last took one (the latest included), oldest
    /// first: the next registry publish puts each (bounded: see the vical crate).
    #[serde(
        default,
        rename = "_registryBacklog",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub registry_backlog: Vec<Backlogged>,
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

/// The stored form of the registry copy's publish state (times in Unix seconds).
mod copy_state {
    use super::super::publish::lease_of;
    use super::PublishState;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Stored {
        revision: i64,
        published_revision: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        published_number: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lease_owner: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leased_at: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lease_until: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issued_at: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refresh_at: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        object_version: Option<String>,
        #[serde(default)]
        failures: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_error_at: Option<i64>,
        #[serde(default)]
        publishes: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        known_through: Option<i64>,
    }

    pub fn serialize<S: Serializer>(
        v: &Option<Box<PublishState>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.as_ref()
            .map(|p| Stored {
                revision: p.revision,
                published_revision: p.published_revision,
                published_number: p.published_number,
                lease_owner: p.lease.as_ref().map(|l| l.owner.clone()),
                leased_at: p.lease.as_ref().map(|l| l.since),
                lease_until: p.lease.as_ref().map(|l| l.until),
                issued_at: p.issued_at,
                expires_at: p.expires_at,
                refresh_at: p.refresh_at,
                object_version: p.object_version.clone(),
                failures: p.failures,
                last_error: p.last_error.clone(),
                last_error_at: p.last_error_at,
                publishes: p.publishes,
                known_through: p.known_through,
            })
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Box<PublishState>>, D::Error> {
        Ok(Option::<Stored>::deserialize(d)?.map(|s| {
            Box::new(PublishState {
                revision: s.revision,
                published_revision: s.published_revision,
                // The copy's number is the version's vicalIssueID: no lease allocates one.
                number: None,
                published_number: s.published_number,
                lease: lease_of(s.lease_owner, s.lease_until, s.leased_at),
                issued_at: s.issued_at,
                expires_at: s.expires_at,
                refresh_at: s.refresh_at,
                object_version: s.object_version,
                failures: s.failures,
                last_error: s.last_error,
                last_error_at: s.last_error_at,
                publishes: s.publishes,
                known_through: s.known_through,
            })
        }))
    }
}

/// A version not in the registry yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backlogged {
    pub version_id: String,
    pub vical_issue_id: u64,
}

impl VicalServiceConfig {
    /// When the scheduled refresh takes the service up: the next version is due, or the
    /// registry copy is (failing, behind, or left by a publisher that died).
    pub fn refresh_at(&self) -> Option<i64> {
        let copy = self.registry_publish.as_ref().and_then(|p| p.refresh_at);
        match (self.refresh_at, copy) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A vical-service's record, read as its configuration (the publishing engine's view of it).
impl DocKind for VicalServiceConfig {
    const KIND: Kind = Kind::Service;
    fn from_doc(doc: Doc) -> Result<Self, Box<Doc>> {
        match doc {
            Doc::Service(Service::Vical(c)) => Ok(c),
            other => Err(Box::new(other)),
        }
    }
    fn as_doc(doc: &Doc) -> Option<&Self> {
        match doc {
            Doc::Service(Service::Vical(c)) => Some(c),
            _ => None,
        }
    }
    fn into_doc(self) -> Doc {
        Doc::Service(Service::Vical(self))
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
