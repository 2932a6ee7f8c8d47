//! Documents of the resource tree: organizations, tenants, services.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::registry_config::{RegistryConfig, Sealed};

use super::{ServiceType, VicalServiceConfig};

/// An organization: the root of one customer's tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub profile: Profile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<Map<String, Value>>,
    /// Which values of the single sign-on roles claim give which of the organization's roles
    /// (walt.id's external role mappings): the organization's one mapping document, edited
    /// through `roles-api/roles/external-mappings`, read by every SSO request of the
    /// organization. Internal (`_`): never shown in the organization's view.
    #[serde(
        rename = "_roleMappings",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub role_mappings: Vec<super::RoleMapping>,
}

/// An organization's profile: a name and whatever else the client keeps there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A tenant (or sub-tenant) of an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Map<String, Value>>,
}

/// A service: its type and that type's configuration, stored as `{"type", "config"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "config", deny_unknown_fields)]
pub enum Service {
    #[serde(rename = "kms")]
    Kms(Map<String, Value>),
    #[serde(rename = "x509-service")]
    X509Service(X509ServiceConfig),
    #[serde(rename = "x509-store")]
    X509Store(Map<String, Value>),
    #[serde(rename = "credential-status")]
    CredentialStatus(StatusServiceConfig),
    #[serde(rename = "vical-service")]
    Vical(VicalServiceConfig),
}

/// The configuration of a `credential-status` service: where its lists are published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusServiceConfig {
    pub registry: RegistryConfig<Sealed>,
    /// Other settings the client keeps in `config`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where an x509-service publishes the CRLs its IACAs sign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CrlTarget {
    pub registry: RegistryConfig<Sealed>,
    /// Days from a CRL's thisUpdate to its nextUpdate.
    pub validity_days: u32,
}

/// The configuration of an `x509-service`: an optional CRL target and whatever else the client
/// keeps in `config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct X509ServiceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<CrlTarget>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `config.crl` is a CRL target when it is an object with a `registry` (and must then parse as
/// one: a damaged target is an error, never ignored). Before CRL targets existed the
/// configuration was free-form, so any other `crl` value a client stored stays the client's own
/// (in `extra`), as it was.
impl<'de> Deserialize<'de> for X509ServiceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut extra = Map::<String, Value>::deserialize(d)?;
        let crl = match extra.remove("crl") {
            Some(v @ Value::Object(_)) if v.get("registry").is_some() => {
                Some(serde_json::from_value(v).map_err(serde::de::Error::custom)?)
            }
            Some(other) => {
                extra.insert("crl".into(), other);
                None
            }
            None => None,
        };
        Ok(X509ServiceConfig { crl, extra })
    }
}

impl Service {
    pub fn service_type(&self) -> ServiceType {
        match self {
            Service::Kms(_) => ServiceType::Kms,
            Service::X509Service(_) => ServiceType::X509Service,
            Service::X509Store(_) => ServiceType::X509Store,
            Service::CredentialStatus(_) => ServiceType::CredentialStatus,
            Service::Vical(_) => ServiceType::Vical,
        }
    }

    /// The registry of a credential-status service.
    pub fn registry(&self) -> Option<&RegistryConfig<Sealed>> {
        match self {
            Service::CredentialStatus(c) => Some(&c.registry),
            _ => None,
        }
    }

    /// The CRL target of an x509-service.
    pub fn crl_target(&self) -> Option<&CrlTarget> {
        match self {
            Service::X509Service(c) => c.crl.as_ref(),
            _ => None,
        }
    }

    /// The document as answers show it: `{"type", "config"}` with registry secrets as `***`.
    pub fn public(&self) -> Value {
        let config = match self {
            Service::Kms(c) | Service::X509Store(c) => Value::Object(c.clone()),
            Service::X509Service(c) => {
                let mut m = c.extra.clone();
                if let Some(crl) = &c.crl {
                    m.insert(
                        "crl".into(),
                        serde_json::json!({
                            "registry": serde_json::to_value(crl.registry.redacted()).unwrap_or_default(),
                            "validityDays": crl.validity_days,
                        }),
                    );
                }
                Value::Object(m)
            }
            Service::CredentialStatus(c) => {
                let mut m = c.extra.clone();
                m.insert(
                    "registry".into(),
                    serde_json::to_value(c.registry.redacted()).unwrap_or_default(),
                );
                Value::Object(m)
            }
            Service::Vical(c) => {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                if let Value::Object(m) = &mut v {
                    m.retain(|k, _| !k.starts_with('_'));
                    if let Some(r) = &c.registry {
                        m.insert(
                            "registry".into(),
                            serde_json::to_value(r.redacted()).unwrap_or_default(),
                        );
                    }
                }
                v
            }
        };
        serde_json::json!({"type": self.service_type().as_str(), "config": config})
    }
}
