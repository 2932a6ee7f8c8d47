//! Where a credential-status service publishes its lists: `config.registry` of the service.
//! A request's registry is validated field by field (each error names its field), then parsed
//! into [`RegistryConfig`], whose secret fields change type as the configuration moves:
//! [`SecretInput`] in a request, [`Sealed`] in storage, [`Redacted`] in an answer and [`Secret`]
//! (opened, never serializable) for the registry writer only.

use serde_json::{Map, Value};

use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoints;
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

/// Google's OAuth token endpoint: the only place a service-account key is sent.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// What a deployment lets registries reach: the allowed endpoint origins (local emulators) and
/// the S3 buckets the functions' own identity may write (`TRUSTFN_STATUS_BUCKETS`, the
/// template's `StatusBuckets`), the only ones an `aws` registry without keys may name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryPolicy {
    pub endpoints: Endpoints,
    pub own_buckets: Vec<String>,
}

impl RegistryPolicy {
    /// From the two deployment settings (origins; bucket names), each separated by commas or
    /// spaces.
    pub fn from_settings(endpoints: &str, own_buckets: &str) -> Result<RegistryPolicy, String> {
        Ok(RegistryPolicy {
            endpoints: Endpoints::from_setting(endpoints)?,
            own_buckets: own_buckets
                .split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// One field of an Azure connection string (`AccountName=...;AccountKey=...;BlobEndpoint=...`),
/// its name matched without regard to case.
pub fn connection_string_field<'a>(cs: &'a str, name: &str) -> Option<&'a str> {
    cs.split(';')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Validates `config.registry` of a credential-status service.
pub fn validate(registry: Option<&Value>, policy: &RegistryPolicy) -> Result<(), ApiError> {
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
        let hint = if kind == "in-memory" {
            " (lists are always published where verifiers can fetch them; for local use, `make \
             run` starts S3, Azure and GCS emulators: point an aws registry at http://127.0.0.1:4566)"
        } else {
            ""
        };
        err(
            "type",
            format!("unknown registry type {kind:?}; supported: aws, azure, gcs{hint}"),
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
    // The names URLs are built from, against their grammars (`check_names` on a saved one).
    for f in spec.required {
        let v = reg.get(*f).and_then(Value::as_str).unwrap_or_default();
        name_rule(kind, f, v).map_err(|rule| err(f, rule))?;
    }
    let s = |k: &str| reg.get(k).and_then(Value::as_str);
    match kind {
        "aws" => {
            let bucket = s("bucketName").unwrap_or_default();
            if !reg.contains_key("accessKeyId") && !reg.contains_key("secretKey") {
                // The functions' own credentials: never sent to another endpoint, and only for
                // the buckets the deployment named (and its IAM policy grants).
                if reg.contains_key("endpointUrl") {
                    return Err(err(
                        "accessKeyId",
                        "an aws registry with endpointUrl needs its own accessKeyId and secretKey",
                    ));
                }
                if !policy.own_buckets.iter().any(|b| b == bucket) {
                    return Err(err(
                        "accessKeyId",
                        format!(
                            "bucket {bucket} is not one this deployment writes with its own \
                             credentials (StatusBuckets); give accessKeyId and secretKey"
                        ),
                    ));
                }
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
            // A connection string may name its own endpoint: the same rules as endpointUrl.
            if let Some(cs) = s("connectionString").filter(|c| *c != REDACTED) {
                if let Some(e) = connection_string_field(cs, "BlobEndpoint") {
                    policy
                        .endpoints
                        .check(e)
                        .map_err(|why| err("connectionString", format!("BlobEndpoint {why}")))?;
                }
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
            let key = match reg.get("serviceAccountKeyJson") {
                Some(Value::String(json))
                    if json != REDACTED && !json.starts_with(SEALED_PREFIX) =>
                {
                    Some(
                        serde_json::from_str::<Map<String, Value>>(json).map_err(|_| {
                            err(
                                "serviceAccountKeyJson",
                                "must be a JSON object or a string holding one",
                            )
                        })?,
                    )
                }
                Some(Value::Object(o)) => Some(o.clone()),
                _ => None,
            };
            if let Some(uri) = key.as_ref().and_then(|k| k.get("token_uri")) {
                if uri.as_str() != Some(GOOGLE_TOKEN_URI) {
                    return Err(err(
                        "serviceAccountKeyJson.token_uri",
                        format!("must be {GOOGLE_TOKEN_URI} (or absent)"),
                    ));
                }
            }
        }
    }
    if let Some(u) = s("endpointUrl") {
        policy
            .endpoints
            .check(u)
            .map_err(|why| err("endpointUrl", why))?;
    }
    if let Some(u) = s("bucketUrl") {
        // Only written into credentials, never called: an absolute http(s) URL without
        // credentials, query or fragment.
        let ok = url::Url::parse(u).is_ok_and(|p| {
            matches!(p.scheme(), "http" | "https")
                && p.host().is_some()
                && p.username().is_empty()
                && p.password().is_none()
                && p.query().is_none()
                && p.fragment().is_none()
        });
        if !ok {
            return Err(err(
                "bucketUrl",
                "must be an absolute http(s) URL without user, query or fragment",
            ));
        }
    }
    Ok(())
}

/// The names a registry's URLs are built from, each against its service's own grammar, so no
/// name can carry a host, a port, a path or a fragment (an Azure account name pasted into the
/// upload host reached internal addresses). Checked when a registry is saved and again before
/// every upload (a configuration saved before these rules). `Err((field, rule))`.
pub fn check_names<S>(reg: &RegistryConfig<S>) -> Result<(), (&'static str, &'static str)> {
    let fields = reg.destination();
    let kind = fields[0].1.unwrap_or_default();
    for (field, value) in fields {
        if let Some(v) = value {
            name_rule(kind, field, v).map_err(|rule| (field, rule))?;
        }
    }
    Ok(())
}

/// The grammar of the name `field` of a `kind` registry holds (`Err` with the rule); fields
/// that are not names pass.
fn name_rule(kind: &str, field: &str, v: &str) -> Result<(), &'static str> {
    let lower_digit = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ends_ok =
        v.chars().next().is_some_and(lower_digit) && v.chars().last().is_some_and(lower_digit);
    let (ok, rule) = match (kind, field) {
        ("aws", "bucketName") => (
            (3..=63).contains(&v.len())
                && ends_ok
                && v.chars().all(|c| lower_digit(c) || c == '-' || c == '.'),
            "must be a valid S3 bucket name (3-63 lower-case letters, digits, '-', '.')",
        ),
        ("aws", "region") => (
            (1..=32).contains(&v.len())
                && v.starts_with(|c: char| c.is_ascii_lowercase())
                && v.chars().all(|c| lower_digit(c) || c == '-'),
            "must be an AWS region name (lower-case letters, digits and '-', e.g. eu-central-1)",
        ),
        ("azure", "accountName") => (
            (3..=24).contains(&v.len()) && v.chars().all(lower_digit),
            "must be a storage account name (3-24 lower-case letters and digits)",
        ),
        ("azure", "containerName") => (
            (3..=63).contains(&v.len())
                && ends_ok
                && v.chars().all(|c| lower_digit(c) || c == '-')
                && !v.contains("--"),
            "must be a valid container name (3-63 lower-case letters, digits, '-')",
        ),
        ("gcs", "bucketName") => (
            (3..=222).contains(&v.len())
                && ends_ok
                && v.chars()
                    .all(|c| lower_digit(c) || c == '-' || c == '_' || c == '.'),
            "must be a valid GCS bucket name (3-222 lower-case letters, digits, '-', '_', '.')",
        ),
        _ => (true, ""),
    };
    if ok {
        Ok(())
    } else {
        Err(rule)
    }
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
    /// A request's `config.registry`: validated field by field, then parsed. An empty
    /// `bucketUrl` (as the Enterprise API examples send it) means none.
    pub fn from_request(
        registry: Option<&Value>,
        policy: &RegistryPolicy,
    ) -> Result<RegistryConfig<SecretInput>, ApiError> {
        let mut reg = registry.cloned();
        if let Some(Value::Object(o)) = reg.as_mut() {
            if o.get("bucketUrl").and_then(Value::as_str) == Some("") {
                o.remove("bucketUrl");
            }
        }
        validate(reg.as_ref(), policy)?;
        serde_json::from_value(reg.unwrap_or_default())
            .map_err(|e| ApiError::validation(format!("config.registry: {e}")))
    }
}

impl<S> RegistryConfig<S> {
    /// Where the registry's secrets are used: its type, endpoint, account or bucket, container,
    /// region and access key id, by API name. A secret is bound to these.
    pub fn destination(&self) -> Vec<(&'static str, Option<&str>)> {
        match self {
            RegistryConfig::Aws(r) => vec![
                ("type", Some("aws")),
                ("endpointUrl", r.endpoint_url.as_deref()),
                ("bucketName", Some(&r.bucket_name)),
                ("region", Some(&r.region)),
                ("accessKeyId", r.access_key_id.as_deref()),
            ],
            RegistryConfig::Azure(r) => vec![
                ("type", Some("azure")),
                ("endpointUrl", r.endpoint_url.as_deref()),
                ("accountName", Some(&r.account_name)),
                ("containerName", Some(&r.container_name)),
            ],
            RegistryConfig::Gcs(r) => vec![
                ("type", Some("gcs")),
                ("endpointUrl", r.endpoint_url.as_deref()),
                ("bucketName", Some(&r.bucket_name)),
                ("projectId", r.project_id.as_deref()),
            ],
        }
    }

    /// The endpoint a tenant named, if any.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.urls().1
    }
}

#[cfg(test)]
mod tests;
