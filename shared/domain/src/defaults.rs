//! Default requests (walt.id's generic mechanism): a partial request body stored on a service per
//! operation and deep-merged under every call's body (the call's values win), so repeated settings
//! (an issuing IACA, a key type, a list specification) are sent once.
//!
//! A kms service keeps its key generation default in `config.defaultKeyGenerationRequests` (as
//! walt.id's KMS document shows it); the other services keep theirs in
//! `config.defaultRequests.<operation>`. Both are visible in `configuration/view` and may be set
//! with `configuration/update` too, checked the same way. A VICAL service's `publish-vical`
//! default has its own route and field (see the vical crate).
//!
//! Defaults never widen anyone's rights: the merged body is authorized like any other, so a
//! default naming a key or a certificate needs the caller's right on it at each call.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::auth::{Action, Principal};
use crate::error::ApiError;
use crate::model::{Service, ServiceType};
use crate::target::Target;

/// One operation that takes a default request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// Its name in `default-requests/<name>`.
    pub name: &'static str,
    pub service: ServiceType,
    /// The call it applies to (for messages).
    pub call: &'static str,
    /// The action of that call: storing its default needs it too.
    pub action: Action,
    /// The body fields a default may set (never a per-call id).
    pub fields: &'static [&'static str],
}

/// The kms service's configuration field of its key generation default.
pub const KEY_GENERATION_DEFAULTS: &str = "defaultKeyGenerationRequests";
/// The configuration field of the other services' defaults.
pub const DEFAULT_REQUESTS: &str = "defaultRequests";

/// Every operation with a default request here (besides `publish-vical`).
pub const OPERATIONS: [Operation; 5] = [
    Operation {
        name: "generate-key",
        service: ServiceType::Kms,
        call: "keys/generate",
        action: Action::KeyGenerate,
        fields: &["keyType", "backend"],
    },
    Operation {
        name: "issue-iaca",
        service: ServiceType::X509Service,
        call: "iso/iacas",
        action: Action::IacaIssue,
        // Never the subject key: each call names the key it certifies.
        fields: &["certificateData", "vicalEntryComplementaryMetadata"],
    },
    Operation {
        name: "issue-document-signer",
        service: ServiceType::X509Service,
        call: "iso/document-signers",
        action: Action::DocumentSignerIssue,
        // The issuing IACA, not the key certified: each call names its Document Signer's key.
        fields: &["iacaSigner", "certificateData"],
    },
    Operation {
        name: "create-status-credential",
        service: ServiceType::CredentialStatus,
        call: "status-credential/create",
        action: Action::StatusConfigCreate,
        fields: &["kid", "did", "x5Chain", "x5ChainFrom", "config"],
    },
    Operation {
        name: "create-status-entries",
        service: ServiceType::CredentialStatus,
        call: "status-credential/entries",
        action: Action::StatusEntryAllocate,
        fields: &["count", "initialStatus"],
    },
];

/// The operation `name` of a `service` service; a 404 naming the ones it has otherwise.
pub fn operation(service: ServiceType, name: &str) -> Result<&'static Operation, ApiError> {
    OPERATIONS
        .iter()
        .find(|o| o.service == service && o.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = OPERATIONS
                .iter()
                .filter(|o| o.service == service)
                .map(|o| o.name)
                .collect();
            ApiError::not_found(format!(
                "no default request {name:?} for a {}; its operations: {}",
                service.as_str(),
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ))
        })
}

/// Checks a default request of `op`: an object of the fields the operation's body has.
pub fn check(op: &Operation, default: &Value, field: &str) -> Result<(), ApiError> {
    let Value::Object(m) = default else {
        return Err(ApiError::validation(format!(
            "{field}: a partial {} body (an object)",
            op.call
        )));
    };
    if let Some(k) = m.keys().find(|k| !op.fields.contains(&k.as_str())) {
        return Err(ApiError::validation(format!(
            "{field}.{k}: not a field a {} default may set ({})",
            op.call,
            op.fields.join(", ")
        )));
    }
    if op.name == "generate-key" {
        if let Some((k, _)) = m.iter().find(|(_, v)| !v.is_string()) {
            return Err(ApiError::validation(format!(
                "{field}.{k} must be a string"
            )));
        }
    }
    Ok(())
}

/// Checks the defaults a service configuration carries (`configuration/update`, `services/create`).
pub fn check_config(service: ServiceType, config: &Map<String, Value>) -> Result<(), ApiError> {
    if service == ServiceType::Kms {
        if let Some(d) = config.get(KEY_GENERATION_DEFAULTS) {
            check(&OPERATIONS[0], d, KEY_GENERATION_DEFAULTS)?;
        }
        return Ok(());
    }
    let Some(all) = config.get(DEFAULT_REQUESTS) else {
        return Ok(());
    };
    let Value::Object(all) = all else {
        return Err(ApiError::validation(format!(
            "config.{DEFAULT_REQUESTS}: an object of default requests by operation"
        )));
    };
    for (name, d) in all {
        let op = operation(service, name).map_err(|e| {
            ApiError::validation(format!("config.{DEFAULT_REQUESTS}: {}", e.message))
        })?;
        check(op, d, &format!("config.{DEFAULT_REQUESTS}.{name}"))?;
    }
    Ok(())
}

/// Default requests set, changed or removed by a configuration written whole (`services/create`,
/// `configuration/update`) need what the `default-requests` route needs: `update-default-requests`
/// and each operation's own action on the service.
pub fn authorize_changes(
    p: &Principal,
    target: &Target,
    old: Option<&Service>,
    new: &Service,
) -> Result<(), ApiError> {
    for op in OPERATIONS
        .iter()
        .filter(|o| o.service == new.service_type())
    {
        if old.and_then(|s| stored(s, op)) != stored(new, op) {
            p.require(target, Action::DefaultRequestsUpdate)?;
            p.require(target, op.action)?;
        }
    }
    Ok(())
}

fn config(service: &Service) -> Option<&Map<String, Value>> {
    match service {
        Service::Kms(c) => Some(c),
        Service::X509Service(c) => Some(&c.extra),
        Service::CredentialStatus(c) => Some(&c.extra),
        _ => None,
    }
}

fn config_mut(service: &mut Service) -> Option<&mut Map<String, Value>> {
    match service {
        Service::Kms(c) => Some(c),
        Service::X509Service(c) => Some(&mut c.extra),
        Service::CredentialStatus(c) => Some(&mut c.extra),
        _ => None,
    }
}

/// The stored default of `op` on `service`, if any.
pub fn stored<'s>(service: &'s Service, op: &Operation) -> Option<&'s Value> {
    let c = config(service)?;
    if op.service == ServiceType::Kms {
        return c.get(KEY_GENERATION_DEFAULTS);
    }
    c.get(DEFAULT_REQUESTS)?.get(op.name)
}

/// Stores (`Some`) or removes (`None`) the default of `op` on `service`; whether one was there.
pub fn set(service: &mut Service, op: &Operation, default: Option<Value>) -> bool {
    let Some(c) = config_mut(service) else {
        return false;
    };
    if op.service == ServiceType::Kms {
        return match default {
            Some(d) => c.insert(KEY_GENERATION_DEFAULTS.into(), d).is_some(),
            None => c.remove(KEY_GENERATION_DEFAULTS).is_some(),
        };
    }
    let all = c
        .entry(DEFAULT_REQUESTS)
        .or_insert_with(|| Value::Object(Map::new()));
    if !all.is_object() {
        *all = Value::Object(Map::new());
    }
    let all = all.as_object_mut().expect("an object");
    let had = match default {
        Some(d) => all.insert(op.name.into(), d).is_some(),
        None => all.remove(op.name).is_some(),
    };
    if all.is_empty() {
        c.remove(DEFAULT_REQUESTS);
    }
    had
}

/// `body` deep-merged over the default of `op` stored on `service` (the call's values win), read
/// as the call's request type; a body that does not parse is a 400 naming the field.
pub fn apply<T: DeserializeOwned>(
    service: &Service,
    op: &Operation,
    body: Value,
) -> Result<T, ApiError> {
    if !body.is_object() {
        return Err(ApiError::validation("body must be a JSON object"));
    }
    let Some(default) = stored(service, op).filter(|d| d.is_object()) else {
        return parse(body, "");
    };
    let mut merged = default.clone();
    crate::json::deep_merge(&mut merged, body);
    parse(
        merged,
        &format!(" (over the service's default request {})", op.name),
    )
}

/// `body` read as the call's request type, without a default.
pub fn apply_none<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    parse(body, "")
}

fn parse<T: DeserializeOwned>(v: Value, context: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        ApiError::validation(format!("body{context}: {at}{}", e.into_inner()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        count: u64,
        #[serde(default)]
        initial_status: Option<String>,
    }

    fn status_service() -> Service {
        serde_json::from_value(json!({"type": "credential-status", "config": {"registry": {
            "type": "aws", "bucketName": "b", "region": "us-east-1"}}}))
        .unwrap()
    }

    #[test]
    fn a_stored_default_lies_under_the_call_and_the_call_wins() {
        let mut s = status_service();
        let op = operation(ServiceType::CredentialStatus, "create-status-entries").unwrap();
        let b: Body = apply(&s, op, json!({"count": 2})).unwrap();
        assert_eq!(
            b,
            Body {
                count: 2,
                initial_status: None
            }
        );
        assert!(!set(
            &mut s,
            op,
            Some(json!({"count": 10, "initialStatus": "0x1"}))
        ));
        let b: Body = apply(&s, op, json!({})).unwrap();
        assert_eq!(
            b,
            Body {
                count: 10,
                initial_status: Some("0x1".into())
            }
        );
        let b: Body = apply(&s, op, json!({"count": 3})).unwrap();
        assert_eq!(b.count, 3, "the call's value wins");
        assert!(set(&mut s, op, None));
        assert!(stored(&s, op).is_none());
        let e = apply::<Body>(&s, op, json!({})).unwrap_err();
        assert!(e.message.contains("count"), "{}", e.message);
    }

    #[test]
    fn defaults_are_checked_by_operation_and_field() {
        let op = operation(ServiceType::X509Service, "issue-document-signer").unwrap();
        check(op, &json!({"certificateData": {}}), "body").unwrap();
        let e = check(op, &json!({"storedCertificateId": "x"}), "body").unwrap_err();
        assert!(
            e.message.starts_with("body.storedCertificateId"),
            "{}",
            e.message
        );
        assert_eq!(
            operation(ServiceType::Kms, "issue-iaca")
                .unwrap_err()
                .status,
            404
        );
        let mut c = Map::new();
        c.insert(DEFAULT_REQUESTS.into(), json!({"nope": {}}));
        assert_eq!(
            check_config(ServiceType::X509Service, &c)
                .unwrap_err()
                .status,
            400
        );
        c.insert(
            DEFAULT_REQUESTS.into(),
            json!({"issue-iaca": {"iacaKeyDesc": {}}}),
        );
        assert!(
            check_config(ServiceType::X509Service, &c).is_err(),
            "never the subject key"
        );
        c.insert(
            DEFAULT_REQUESTS.into(),
            json!({"issue-iaca": {"certificateData": {}}}),
        );
        check_config(ServiceType::X509Service, &c).unwrap();
        let mut k = Map::new();
        k.insert(KEY_GENERATION_DEFAULTS.into(), json!({"keyType": 1}));
        assert!(check_config(ServiceType::Kms, &k).is_err());
    }
}
