//! Where a credential-status service publishes its lists: `config.registry` of the service.
//! A request's registry is validated field by field (each error names its field), then parsed
//! into [`RegistryConfig`], whose secret fields change type as the configuration moves:
//! [`SecretInput`] in a request, [`Sealed`] in storage, [`Redacted`] in an answer and [`Secret`]
//! (opened, never serializable) for the registry writer only.

use serde_json::{Map, Value};

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
pub use crate::secret::{Redacted, Sealed, Secret, SecretInput, REDACTED, SEALED_PREFIX};

/// Registry fields that hold secrets: never shown in a response or a log line.
pub const SECRET_FIELDS: [&str; 5] = [
    "secretKey",
    "accountKey",
    "sasToken",
    "connectionString",
    "serviceAccountKeyJson",
];

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

/// A registry configuration; `S` is the form its secret fields take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RegistryConfig<S> {
    #[serde(rename = "aws")]
    Aws(AwsRegistry<S>),
    #[serde(rename = "azure")]
    Azure(AzureRegistry<S>),
    #[serde(rename = "gcs")]
    Gcs(GcsRegistry<S>),
}

/// Amazon S3 (or S3-compatible storage with `endpointUrl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct AwsRegistry<S> {
    pub bucket_name: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_url: Option<String>,
}

/// Azure Blob Storage: one of an account key, a SAS token or a connection string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct AzureRegistry<S> {
    pub account_name: String,
    pub container_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_key: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sas_token: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_url: Option<String>,
}

/// Google Cloud Storage with a service-account key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct GcsRegistry<S> {
    pub bucket_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_key_json: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_url: Option<String>,
}

impl<S> RegistryConfig<S> {
    /// The registry with each secret field turned into another form by `f` (given the field's
    /// API name); `None` fields stay `None`.
    pub fn try_map<T, E>(
        &self,
        mut f: impl FnMut(&'static str, &S) -> Result<T, E>,
    ) -> Result<RegistryConfig<T>, E> {
        let mut m = |name: &'static str, v: &Option<S>| v.as_ref().map(|s| f(name, s)).transpose();
        Ok(match self {
            RegistryConfig::Aws(r) => RegistryConfig::Aws(AwsRegistry {
                bucket_name: r.bucket_name.clone(),
                region: r.region.clone(),
                access_key_id: r.access_key_id.clone(),
                secret_key: m("secretKey", &r.secret_key)?,
                endpoint_url: r.endpoint_url.clone(),
                bucket_url: r.bucket_url.clone(),
            }),
            RegistryConfig::Azure(r) => RegistryConfig::Azure(AzureRegistry {
                account_name: r.account_name.clone(),
                container_name: r.container_name.clone(),
                account_key: m("accountKey", &r.account_key)?,
                sas_token: m("sasToken", &r.sas_token)?,
                connection_string: m("connectionString", &r.connection_string)?,
                endpoint_url: r.endpoint_url.clone(),
                bucket_url: r.bucket_url.clone(),
            }),
            RegistryConfig::Gcs(r) => RegistryConfig::Gcs(GcsRegistry {
                bucket_name: r.bucket_name.clone(),
                project_id: r.project_id.clone(),
                service_account_key_json: m("serviceAccountKeyJson", &r.service_account_key_json)?,
                endpoint_url: r.endpoint_url.clone(),
                bucket_url: r.bucket_url.clone(),
            }),
        })
    }

    /// The secret fields that are set, by API name.
    pub fn secrets(&self) -> Vec<(&'static str, &S)> {
        let fields: Vec<(&'static str, &Option<S>)> = match self {
            RegistryConfig::Aws(r) => vec![("secretKey", &r.secret_key)],
            RegistryConfig::Azure(r) => vec![
                ("accountKey", &r.account_key),
                ("sasToken", &r.sas_token),
                ("connectionString", &r.connection_string),
            ],
            RegistryConfig::Gcs(r) => vec![("serviceAccountKeyJson", &r.service_account_key_json)],
        };
        fields
            .into_iter()
            .filter_map(|(name, v)| v.as_ref().map(|s| (name, s)))
            .collect()
    }

    /// How answers show this registry: every secret as `***`.
    pub fn redacted(&self) -> RegistryConfig<Redacted> {
        self.try_map(|_, _| Ok::<_, std::convert::Infallible>(Redacted))
            .unwrap_or_else(|e| match e {})
    }

    fn urls(&self) -> (Option<&str>, Option<&str>) {
        match self {
            RegistryConfig::Aws(r) => (r.bucket_url.as_deref(), r.endpoint_url.as_deref()),
            RegistryConfig::Azure(r) => (r.bucket_url.as_deref(), r.endpoint_url.as_deref()),
            RegistryConfig::Gcs(r) => (r.bucket_url.as_deref(), r.endpoint_url.as_deref()),
        }
    }

    /// The public base URL objects of this registry are served from (no trailing slash):
    /// `bucketUrl` when given, else the emulator/S3-compatible `endpointUrl` (path style), else
    /// the cloud's own public URL.
    pub fn public_base(&self) -> String {
        let trim = |s: &str| s.trim_end_matches('/').to_owned();
        let (bucket_url, endpoint) = self.urls();
        if let Some(b) = bucket_url {
            return trim(b);
        }
        let (container, cloud) = match self {
            RegistryConfig::Aws(r) => (
                &r.bucket_name,
                format!("https://{}.s3.{}.amazonaws.com", r.bucket_name, r.region),
            ),
            RegistryConfig::Azure(r) => (
                &r.container_name,
                format!(
                    "https://{}.blob.core.windows.net/{}",
                    r.account_name, r.container_name
                ),
            ),
            RegistryConfig::Gcs(r) => (
                &r.bucket_name,
                format!("https://storage.googleapis.com/{}", r.bucket_name),
            ),
        };
        match endpoint {
            Some(e) => format!("{}/{container}", trim(e)),
            None => cloud,
        }
    }
}

impl RegistryConfig<SecretInput> {
    /// A request's `config.registry`: validated field by field, then parsed.
    pub fn from_request(registry: Option<&Value>) -> Result<RegistryConfig<SecretInput>, ApiError> {
        validate(registry)?;
        let reg = registry.cloned().unwrap_or_default();
        serde_json::from_value(reg)
            .map_err(|e| ApiError::validation(format!("config.registry: {e}")))
    }
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

    fn sealed(reg: Value) -> RegistryConfig<Sealed> {
        serde_json::from_value(reg).unwrap()
    }

    #[test]
    fn every_secret_field_of_every_registry_is_redacted() {
        let regs = [
            json!({"type": "aws", "bucketName": "b", "region": "r", "accessKeyId": "AKIA", "secretKey": "kms:S1"}),
            json!({"type": "azure", "accountName": "a", "containerName": "c", "accountKey": "kms:S2"}),
            json!({"type": "azure", "accountName": "a", "containerName": "c", "sasToken": "kms:S3"}),
            json!({"type": "azure", "accountName": "a", "containerName": "c", "connectionString": "kms:S4"}),
            json!({"type": "gcs", "bucketName": "b", "serviceAccountKeyJson": "kms:S5"}),
        ];
        let mut names = Vec::new();
        for reg in regs {
            let r = sealed(reg.clone());
            let shown = serde_json::to_value(r.redacted()).unwrap();
            assert!(!shown.to_string().contains("kms:"), "{shown}");
            for (name, _) in r.secrets() {
                assert_eq!(shown[name], REDACTED, "{name}");
                names.push(name);
            }
            // Everything else is shown as stored.
            let mut back = shown.clone();
            for (name, s) in r.secrets() {
                back[name] = json!(s.ciphertext());
            }
            assert_eq!(back, reg);
        }
        names.sort();
        let mut all = SECRET_FIELDS.to_vec();
        all.sort();
        assert_eq!(names, all);
    }

    #[test]
    fn derives_public_urls() {
        let base = |v: Value| sealed(v).public_base();
        assert_eq!(
            base(json!({"type": "aws", "bucketName": "b", "region": "eu-central-1"})),
            "https://b.s3.eu-central-1.amazonaws.com"
        );
        assert_eq!(
            base(
                json!({"type": "aws", "bucketName": "b", "region": "r", "endpointUrl": "http://127.0.0.1:4566/"})
            ),
            "http://127.0.0.1:4566/b"
        );
        assert_eq!(
            base(
                json!({"type": "gcs", "bucketName": "b", "bucketUrl": "https://cdn.example.com/"})
            ),
            "https://cdn.example.com"
        );
        assert_eq!(
            base(json!({"type": "azure", "accountName": "a", "containerName": "c"})),
            "https://a.blob.core.windows.net/c"
        );
    }
}
