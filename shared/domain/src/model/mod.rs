//! What the resource tree stores: kinds of resources, the service types with their APIs, and a
//! typed document per kind. Stored JSON is converted to and from these types in one place
//! ([`Doc::from_stored`], [`Doc::to_stored`]); a record that does not parse is an error naming
//! it, never a default.

mod access;
mod issued;
mod key;
mod publish;
mod serial;
mod status;
pub mod time;
mod tree;
mod vical;

pub use access::{ApiKey, MappingConditions, Role, RoleBinding, RoleMapping};
pub use issued::{CrlState, IssuedCertificate, IssuedProfile, Revocation, RevocationReason};
pub use key::{Certificate, CertificateData, CertificateType, KeyArn, KeyDoc};
pub use publish::{Lease, PublishState};
pub use serial::{InvalidSerial, SerialNumber};
pub use status::{
    ListConfig, ListFormat, ListId, ListType, Purpose, StatusConfig, StatusList, StatusMessage,
    StatusValue, UriMode,
};
pub use tree::{
    CrlTarget, Organization, Profile, Service, StatusServiceConfig, Tenant, X509ServiceConfig,
};
pub use vical::{Backlogged, VicalServiceConfig, VicalVersion};

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// A certificate an x509-service issued (its record of it, with any revocation).
    Issued,
    /// A VICAL a vical-service published.
    VicalVersion,
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
            Kind::Issued => "issued-certificate",
            Kind::VicalVersion => "vical-version",
        }
    }
    /// The kind in a sentence, with its article: "a key", "an API key".
    pub fn described(self) -> &'static str {
        match self {
            Kind::Organization => "an organization",
            Kind::Tenant => "a tenant",
            Kind::Service => "a service",
            Kind::Role => "a role",
            Kind::ApiKey => "an API key",
            Kind::Key => "a key",
            Kind::Certificate => "a stored certificate",
            Kind::StatusConfig => "a status credential configuration",
            Kind::StatusList => "a status list",
            Kind::Issued => "an issued certificate",
            Kind::VicalVersion => "a published VICAL",
        }
    }

    pub const ALL: [Kind; 11] = [
        Kind::Organization,
        Kind::Tenant,
        Kind::Service,
        Kind::Role,
        Kind::ApiKey,
        Kind::Key,
        Kind::Certificate,
        Kind::StatusConfig,
        Kind::StatusList,
        Kind::Issued,
        Kind::VicalVersion,
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
    #[serde(rename = "vical-service")]
    Vical,
}

impl ServiceType {
    pub const ALL: [ServiceType; 5] = [
        ServiceType::Kms,
        ServiceType::X509Service,
        ServiceType::X509Store,
        ServiceType::CredentialStatus,
        ServiceType::Vical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::Kms => "kms",
            ServiceType::X509Service => "x509-service",
            ServiceType::X509Store => "x509-store",
            ServiceType::CredentialStatus => "credential-status",
            ServiceType::Vical => "vical-service",
        }
    }

    /// The `{service-api}` segment of this type's routes.
    pub fn api(self) -> &'static str {
        match self {
            ServiceType::Kms => "kms-service-api",
            ServiceType::X509Service => "x509-service-api",
            ServiceType::X509Store => "x509-store-api",
            ServiceType::CredentialStatus => "credential-status-service-api",
            ServiceType::Vical => "vical-service-api",
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
            ServiceType::Vical => &[ServiceType::Kms, ServiceType::X509Store],
            ServiceType::Kms | ServiceType::X509Store => &[],
        }
    }
}

/// A document type of one kind: what [`Record::downcast`] and `resource::load_as` turn a
/// [`Doc`] into.
pub trait DocKind: Sized {
    const KIND: Kind;
    fn from_doc(doc: Doc) -> Result<Self, Box<Doc>>;
    fn as_doc(doc: &Doc) -> Option<&Self>;
    fn into_doc(self) -> Doc;
}

/// Declares [`Doc`] (a stored document, one variant per kind) and its conversions from one list.
macro_rules! doc_kinds {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// A stored document, one variant per kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Doc {
            $($variant($ty),)*
        }

        impl Doc {
            pub fn kind(&self) -> Kind {
                match self { $(Doc::$variant(_) => Kind::$variant,)* }
            }

            /// Parses a stored document of `kind`.
            pub fn from_stored(kind: Kind, doc: Value) -> Result<Doc, serde_json::Error> {
                Ok(match kind { $(Kind::$variant => Doc::$variant(serde_json::from_value(doc)?),)* })
            }

            /// The stored form of the document (hidden `_` fields and sealed secrets included).
            pub fn to_stored(&self) -> Value {
                let v = match self { $(Doc::$variant(d) => serde_json::to_value(d),)* };
                v.expect("documents serialize")
            }
        }
        $(
            impl DocKind for $ty {
                const KIND: Kind = Kind::$variant;
                fn from_doc(doc: Doc) -> Result<Self, Box<Doc>> {
                    match doc { Doc::$variant(d) => Ok(d), other => Err(Box::new(other)) }
                }
                fn as_doc(doc: &Doc) -> Option<&Self> {
                    match doc { Doc::$variant(d) => Some(d), _ => None }
                }
                fn into_doc(self) -> Doc {
                    Doc::$variant(self)
                }
            }
            impl From<$ty> for Doc {
                fn from(d: $ty) -> Doc {
                    Doc::$variant(d)
                }
            }
        )*
    };
}

doc_kinds!(
    Organization(Organization),
    Tenant(Tenant),
    Service(Service),
    Role(Role),
    ApiKey(ApiKey),
    Key(KeyDoc),
    Certificate(Certificate),
    StatusConfig(StatusConfig),
    StatusList(StatusList),
    Issued(IssuedCertificate),
    VicalVersion(VicalVersion),
);

/// A node of the resource tree as stored: identity, document, optimistic-lock version and the
/// counters that make deletes race-free (`children`, `dependants`). `D` is [`Doc`] (any kind) or
/// one document type.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<D = Doc> {
    pub id: Target,
    pub doc: D,
    pub version: u64,
    pub children: i64,
    pub dependants: i64,
    pub created_at: String,
}

impl Record<Doc> {
    /// A new record (version 1, no children or dependants, created now).
    pub fn new(id: Target, doc: impl Into<Doc>) -> Record {
        Record::with_doc(id, doc.into())
    }

    pub fn kind(&self) -> Kind {
        self.doc.kind()
    }

    /// The service type of a service record.
    pub fn service_type(&self) -> Option<ServiceType> {
        match &self.doc {
            Doc::Service(s) => Some(s.service_type()),
            _ => None,
        }
    }

    /// When the scheduled refresh takes this record up: status lists, IACAs whose CRL is
    /// published, and VICAL services with a nextUpdate (the adapter keeps it in the refresh index).
    pub fn refresh_at(&self) -> Option<i64> {
        match &self.doc {
            Doc::StatusList(l) => l.publish.refresh_at,
            Doc::Issued(c) => c.crl.as_ref().and_then(|crl| crl.publish.refresh_at),
            Doc::Service(Service::Vical(c)) => c.refresh_at(),
            _ => None,
        }
    }

    /// The document, when it is a `T`.
    pub fn get<T: DocKind>(&self) -> Option<&T> {
        T::as_doc(&self.doc)
    }

    /// The record with its document as a `T`, or the record back unchanged.
    pub fn downcast<T: DocKind>(self) -> Result<Record<T>, Box<Record>> {
        match T::from_doc(self.doc) {
            Ok(doc) => Ok(Record {
                id: self.id,
                doc,
                version: self.version,
                children: self.children,
                dependants: self.dependants,
                created_at: self.created_at,
            }),
            Err(doc) => Err(Box::new(Record { doc: *doc, ..self })),
        }
    }

    /// The public JSON view: `_id`, `parent`, `type` and the document's fields. Fields whose name
    /// starts with `_` (internal bookkeeping) are not shown; registry secrets show as `***`.
    pub fn to_public(&self) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("_id".into(), Value::String(self.id.to_string()));
        if let Some(p) = self.id.parent() {
            out.insert("parent".into(), Value::String(p.to_string()));
        }
        let fields = match &self.doc {
            Doc::Service(s) => s.public(),
            other => {
                out.insert("type".into(), Value::String(other.kind().as_str().into()));
                other.to_stored()
            }
        };
        if let Value::Object(doc) = fields {
            for (k, v) in doc {
                if !k.starts_with('_') {
                    out.insert(k, v);
                }
            }
        }
        if let Doc::Key(k) = &self.doc {
            out.insert("key".into(), k.walt_key());
        }
        out.insert("version".into(), Value::from(self.version));
        out.insert("createdAt".into(), Value::String(self.created_at.clone()));
        Value::Object(out)
    }
}

impl<D> Record<D> {
    /// A new record of one document type (version 1, no children or dependants, created now).
    pub fn with_doc(id: Target, doc: D) -> Record<D> {
        Record {
            id,
            doc,
            version: 1,
            children: 0,
            dependants: 0,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

impl<T: DocKind> Record<T> {
    /// Back to a record of any kind (to commit it).
    pub fn upcast(self) -> Record {
        Record {
            id: self.id,
            doc: self.doc.into_doc(),
            version: self.version,
            children: self.children,
            dependants: self.dependants,
            created_at: self.created_at,
        }
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
