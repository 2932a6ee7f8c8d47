//! Where a credential-status service publishes its lists: `config.registry` of the service.
//! Validated when the service is created or its configuration replaced.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::ports::SecretBox;
use crate::target::Target;

/// Registry fields that hold secrets: never shown in a response or a log line.
pub const SECRET_FIELDS: [&str; 5] = [
    "secretKey",
    "accountKey",
    "sasToken",
    "connectionString",
    "serviceAccountKeyJson",
];

/// The placeholder shown in place of a secret.
pub const REDACTED: &str = "***";

struct Spec {
    required: &'static [&'static str],
    optional: &'static [&'static str],
}

fn spec(kind: &str) -> Option<Spec> {
    Some(match kind {
        "aws" => Spec {
            required: &["bucketName", "region"],
            optional: &["accessKeyId", "secretKey", "endpointUrl", "bucketUrl"],
        },
        "azure" => Spec {
            required: &["accountName", "containerName"],
            optional: &[
                "accountKey",
                "sasToken",
                "connectionString",
                "endpointUrl",
                "bucketUrl",
            ],
        },
        "gcs" => Spec {
            required: &["bucketName"],
            optional: &[
                "projectId",
                "serviceAccountKeyJson",
                "endpointUrl",
                "bucketUrl",
            ],
        },
        _ => return None,
    })
}

fn err(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("config.registry.{field}: {why}"))
}

/// Validates `config.registry` of a credential-status service.
pub fn validate(registry: Option<&Value>) -> Result<(), ApiError> {
    let reg = registry
        .ok_or_else(|| {
            ApiError::validation("config.registry is required for a credential-status service")
        })?
        .as_object()
        .ok_or_else(|| ApiError::validation("config.registry must be an object"))?;
    let kind = reg
        .get("type")
        .ok_or_else(|| err("type", "is required (aws, azure or gcs)"))?
        .as_str()
        .ok_or_else(|| err("type", "must be a string"))?;
    let spec = spec(kind).ok_or_else(|| {
        err(
            "type",
            format!("unknown registry type {kind:?}; supported: aws, azure, gcs"),
        )
    })?;
    for (k, v) in reg {
        if k == "type" {
            continue;
        }
        if !spec.required.contains(&k.as_str()) && !spec.optional.contains(&k.as_str()) {
            return Err(err(k, format!("is not a field of the {kind} registry")));
        }
        let ok = if k == "serviceAccountKeyJson" {
            v.is_object() || v.is_string()
        } else {
            v.is_string()
        };
        if !ok {
            return Err(err(k, "must be a string"));
        }
        if v.as_str().is_some_and(|s| s.trim().is_empty()) {
            return Err(err(k, "must not be empty"));
        }
    }
    for f in spec.required {
        if !reg.contains_key(*f) {
            return Err(err(f, "is required"));
        }
    }
    let s = |k: &str| reg.get(k).and_then(Value::as_str);
    match kind {
        "aws" => {
            let bucket = s("bucketName").unwrap_or_default();
            if !(3..=63).contains(&bucket.len())
                || !bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            {
                return Err(err(
                    "bucketName",
                    "must be a valid S3 bucket name (3-63 lower-case letters, digits, '-', '.')",
                ));
            }
            if reg.contains_key("accessKeyId") != reg.contains_key("secretKey") {
                return Err(err(
                    if reg.contains_key("accessKeyId") {
                        "secretKey"
                    } else {
                        "accessKeyId"
                    },
                    "accessKeyId and secretKey must be given together",
                ));
            }
        }
        "azure" => {
            let container = s("containerName").unwrap_or_default();
            if !(3..=63).contains(&container.len())
                || !container
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(err(
                    "containerName",
                    "must be a valid container name (3-63 lower-case letters, digits, '-')",
                ));
            }
            let auth: Vec<_> = ["accountKey", "sasToken", "connectionString"]
                .into_iter()
                .filter(|k| reg.contains_key(*k))
                .collect();
            if auth.len() > 1 {
                return Err(err(
                    auth[1],
                    "give at most one of accountKey, sasToken, connectionString",
                ));
            }
        }
        _ => {
            if let Some(Value::String(json)) = reg.get("serviceAccountKeyJson") {
                if serde_json::from_str::<Map<String, Value>>(json).is_err() {
                    return Err(err(
                        "serviceAccountKeyJson",
                        "must be a JSON object or a string holding one",
                    ));
                }
            }
        }
    }
    for url in ["endpointUrl", "bucketUrl"] {
        if let Some(u) = s(url) {
            if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() < 10 {
                return Err(err(url, "must be an absolute http(s) URL"));
            }
        }
    }
    Ok(())
}

/// A copy of a service document with every registry secret replaced by [`REDACTED`].
pub fn redact(doc: &Value) -> Value {
    let mut out = doc.clone();
    if let Some(reg) = out
        .pointer_mut("/config/registry")
        .and_then(Value::as_object_mut)
    {
        for f in SECRET_FIELDS {
            if let Some(v) = reg.get_mut(f) {
                *v = Value::String(REDACTED.to_owned());
            }
        }
    }
    out
}

/// Seals every plaintext secret of a credential-status registry in place (`kms:<base64>`).
pub async fn seal_registry(
    secrets: &dyn SecretBox,
    service: &Target,
    config: &mut Value,
) -> Result<(), ApiError> {
    let Some(reg) = config.get_mut("registry").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let fields = plaintext_secrets(&Value::Object(reg.clone()));
    for f in fields {
        let plain = match reg.get(f) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => continue,
        };
        let sealed = secrets.seal(&plain, service.as_str()).await?;
        reg.insert(f.to_owned(), Value::String(sealed));
    }
    Ok(())
}

/// A copy of the registry with its sealed secrets opened, for the registry writer only.
pub async fn open_registry(
    secrets: &dyn SecretBox,
    service: &Target,
    registry: &Value,
) -> Result<Value, ApiError> {
    let mut reg = registry.clone();
    if let Some(obj) = reg.as_object_mut() {
        for f in SECRET_FIELDS {
            if let Some(Value::String(s)) = obj.get(f).cloned() {
                if s.starts_with(SEALED_PREFIX) {
                    let plain = secrets.open(&s, service.as_str()).await?;
                    obj.insert(f.to_owned(), Value::String(plain));
                }
            }
        }
    }
    Ok(reg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_each_registry() {
        validate(Some(
            &json!({"type": "aws", "bucketName": "status-lists", "region": "eu-central-1"}),
        ))
        .unwrap();
        validate(Some(&json!({"type": "aws", "bucketName": "status-lists", "region": "eu-central-1",
            "accessKeyId": "AKIA", "secretKey": "s", "endpointUrl": "http://127.0.0.1:4566", "bucketUrl": "https://cdn.example.com"}))).unwrap();
        validate(Some(&json!({"type": "azure", "accountName": "acct", "containerName": "lists", "sasToken": "sv=x"}))).unwrap();
        validate(Some(&json!({"type": "gcs", "bucketName": "lists", "serviceAccountKeyJson": {"type": "service_account"}}))).unwrap();
    }

    #[test]
    fn names_the_failing_field() {
        let cases = [
            (json!({"type": "aws", "region": "x"}), "bucketName"),
            (json!({"type": "aws", "bucketName": "ok-bucket"}), "region"),
            (
                json!({"type": "aws", "bucketName": "B", "region": "x"}),
                "bucketName",
            ),
            (
                json!({"type": "aws", "bucketName": "ok-bucket", "region": "x", "secretKey": "s"}),
                "accessKeyId",
            ),
            (
                json!({"type": "aws", "bucketName": "ok-bucket", "region": 5}),
                "region",
            ),
            (
                json!({"type": "aws", "bucketName": "ok-bucket", "region": "x", "bogus": "1"}),
                "bogus",
            ),
            (json!({"type": "ftp"}), "type"),
            (
                json!({"type": "azure", "accountName": "a", "containerName": "lists", "sasToken": "a", "accountKey": "b"}),
                "sasToken",
            ),
            (
                json!({"type": "gcs", "bucketName": "b", "endpointUrl": "ftp://x"}),
                "endpointUrl",
            ),
        ];
        for (reg, field) in cases {
            let e = validate(Some(&reg)).unwrap_err();
            assert!(e.message.contains(field), "{reg} -> {}", e.message);
        }
        assert!(validate(None).is_err());
    }

    #[test]
    fn redacts_secrets() {
        let doc = json!({"type": "credential-status", "config": {"registry": {"type": "aws", "secretKey": "hunter2", "region": "r"}}});
        let r = redact(&doc);
        assert_eq!(r["config"]["registry"]["secretKey"], REDACTED);
        assert_eq!(r["config"]["registry"]["region"], "r");
        assert!(!r.to_string().contains("hunter2"));
    }
}

/// Prefix of a stored (encrypted) secret value.
pub const SEALED_PREFIX: &str = "kms:";

/// The public base URL objects of this registry are served from (no trailing slash):
/// `bucketUrl` when given, else the emulator/S3-compatible `endpointUrl` (path style), else the
/// cloud's own public URL.
pub fn public_base(reg: &Value) -> String {
    let s = |k: &str| {
        reg.get(k)
            .and_then(Value::as_str)
            .map(|v| v.trim_end_matches('/').to_owned())
    };
    if let Some(b) = s("bucketUrl") {
        return b;
    }
    let kind = reg.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "aws" => {
            let bucket = s("bucketName").unwrap_or_default();
            match s("endpointUrl") {
                Some(e) => format!("{e}/{bucket}"),
                None => format!(
                    "https://{bucket}.s3.{}.amazonaws.com",
                    s("region").unwrap_or_default()
                ),
            }
        }
        "azure" => {
            let container = s("containerName").unwrap_or_default();
            match s("endpointUrl") {
                Some(e) => format!("{e}/{container}"),
                None => format!(
                    "https://{}.blob.core.windows.net/{container}",
                    s("accountName").unwrap_or_default()
                ),
            }
        }
        _ => {
            let bucket = s("bucketName").unwrap_or_default();
            match s("endpointUrl") {
                Some(e) => format!("{e}/{bucket}"),
                None => format!("https://storage.googleapis.com/{bucket}"),
            }
        }
    }
}

/// The secret fields of a registry that still hold plaintext (to be sealed before storing).
pub fn plaintext_secrets(reg: &Value) -> Vec<&'static str> {
    SECRET_FIELDS
        .into_iter()
        .filter(|f| match reg.get(*f) {
            Some(Value::String(s)) => !s.starts_with(SEALED_PREFIX),
            Some(_) => true,
            None => false,
        })
        .collect()
}

#[cfg(test)]
mod public_base_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn derives_public_urls() {
        assert_eq!(
            public_base(&json!({"type": "aws", "bucketName": "b", "region": "eu-central-1"})),
            "https://b.s3.eu-central-1.amazonaws.com"
        );
        assert_eq!(
            public_base(
                &json!({"type": "aws", "bucketName": "b", "region": "r", "endpointUrl": "http://127.0.0.1:4566/"})
            ),
            "http://127.0.0.1:4566/b"
        );
        assert_eq!(
            public_base(
                &json!({"type": "gcs", "bucketName": "b", "bucketUrl": "https://cdn.example.com/"})
            ),
            "https://cdn.example.com"
        );
        assert_eq!(
            public_base(&json!({"type": "azure", "accountName": "a", "containerName": "c"})),
            "https://a.blob.core.windows.net/c"
        );
        assert_eq!(
            plaintext_secrets(&json!({"secretKey": "x", "sasToken": "kms:abc"})),
            vec!["secretKey"]
        );
    }
}
