//! What the resource tree stores: kinds of resources and the service types with their APIs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use trustfn_signer::PublicKey;

use crate::error::ApiError;
use crate::target::Target;

/// The kind of a node in the resource tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Organization,
    Tenant,
    Service,
    Role,
    ApiKey,
    /// A KMS key of a `kms` service.
    Key,
    /// A certificate in an `x509-store` service.
    Certificate,
    /// A status credential configuration of a `credential-status` service.
    StatusConfig,
    /// One published status list of a configuration.
    StatusList,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Organization => "organization",
            Kind::Tenant => "tenant",
            Kind::Service => "service",
            Kind::Role => "role",
            Kind::ApiKey => "api-key",
            Kind::Key => "key",
            Kind::Certificate => "certificate",
            Kind::StatusConfig => "status-credential",
            Kind::StatusList => "status-list",
        }
    }
    pub const ALL: [Kind; 9] = [
        Kind::Organization,
        Kind::Tenant,
        Kind::Service,
        Kind::Role,
        Kind::ApiKey,
        Kind::Key,
        Kind::Certificate,
        Kind::StatusConfig,
        Kind::StatusList,
    ];

    pub fn parse(s: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The service types trustfn hosts, each with its own `{service-api}` path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceType {
    #[serde(rename = "kms")]
    Kms,
    #[serde(rename = "x509-service")]
    X509Service,
    #[serde(rename = "x509-store")]
    X509Store,
    #[serde(rename = "credential-status")]
    CredentialStatus,
}

impl ServiceType {
    pub const ALL: [ServiceType; 4] = [
        ServiceType::Kms,
        ServiceType::X509Service,
        ServiceType::X509Store,
        ServiceType::CredentialStatus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::Kms => "kms",
            ServiceType::X509Service => "x509-service",
            ServiceType::X509Store => "x509-store",
            ServiceType::CredentialStatus => "credential-status",
        }
    }

    /// The `{service-api}` segment of this type's routes.
    pub fn api(self) -> &'static str {
        match self {
            ServiceType::Kms => "kms-service-api",
            ServiceType::X509Service => "x509-service-api",
            ServiceType::X509Store => "x509-store-api",
            ServiceType::CredentialStatus => "credential-status-service-api",
        }
    }

    pub fn parse(s: &str) -> Result<ServiceType, ApiError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "unknown service type {s:?}; supported: {}",
                    Self::ALL.map(|t| t.as_str()).join(", ")
                ))
            })
    }

    pub fn from_api(api: &str) -> Result<ServiceType, ApiError> {
        Self::ALL
            .into_iter()
            .find(|t| t.api() == api)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "UnknownServiceApi",
                    format!(
                        "unknown service API {api:?}; supported: {}",
                        Self::ALL.map(|t| t.api()).join(", ")
                    ),
                )
            })
    }

    /// The service types this type may depend on.
    pub fn allowed_dependencies(self) -> &'static [ServiceType] {
        match self {
            ServiceType::X509Service => &[ServiceType::Kms, ServiceType::X509Store],
            ServiceType::CredentialStatus => &[ServiceType::Kms],
            ServiceType::Kms | ServiceType::X509Store => &[],
        }
    }
}

/// A node of the resource tree as stored: identity, kind, document, optimistic-lock version and
/// the counters that make deletes race-free (`children`, `dependants`).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: Target,
    pub kind: Kind,
    /// The resource's document (everything the API shows besides `_id`/`parent`/`type`).
    pub doc: Value,
    pub version: u64,
    pub children: i64,
    pub dependants: i64,
    pub created_at: String,
}

impl Record {
    pub fn new(id: Target, kind: Kind, doc: Value) -> Record {
        Record {
            id,
            kind,
            doc,
            version: 1,
            children: 0,
            dependants: 0,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    /// The service type of a service record.
    pub fn service_type(&self) -> Option<ServiceType> {
        if self.kind != Kind::Service {
            return None;
        }
        self.doc
            .get("type")
            .and_then(Value::as_str)
            .and_then(|s| ServiceType::parse(s).ok())
    }

    /// The public JSON view: `_id`, `parent`, `type` and the document's fields. Fields whose name
    /// starts with `_` inside the document (internal bookkeeping) are not shown.
    pub fn to_public(&self) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("_id".into(), Value::String(self.id.to_string()));
        if let Some(p) = self.id.parent() {
            out.insert("parent".into(), Value::String(p.to_string()));
        }
        if self.kind != Kind::Service {
            out.insert("type".into(), Value::String(self.kind.as_str().into()));
        }
        if let Value::Object(doc) = &self.doc {
            for (k, v) in doc {
                if !k.starts_with('_') {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        out.insert("version".into(), Value::from(self.version));
        out.insert("createdAt".into(), Value::String(self.created_at.clone()));
        Value::Object(out)
    }
}

/// A key record, read back.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: Target,
    pub arn: String,
    pub public: PublicKey,
    pub imported: bool,
}

impl StoredKey {
    pub fn from_record(r: &Record) -> Option<StoredKey> {
        if r.kind != Kind::Key {
            return None;
        }
        Some(StoredKey {
            id: r.id.clone(),
            arn: r.doc.get("kmsKeyArn")?.as_str()?.to_owned(),
            public: PublicKey::from_jwk(r.doc.get("publicKey")?).ok()?,
            imported: r
                .doc
                .get("imported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        for t in ServiceType::ALL {
            assert_eq!(ServiceType::parse(t.as_str()).unwrap(), t);
            assert_eq!(ServiceType::from_api(t.api()).unwrap(), t);
        }
    }
}
