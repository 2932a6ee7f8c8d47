//! Registry writers behind [`trustfn_domain::ports::Registries`]: S3 (and S3-compatible storage
//! through `endpointUrl`, path style), Azure Blob Storage (Shared Key or SAS) and Google Cloud
//! Storage (service-account key, or anonymous against an emulator).

mod azure;
mod gcs;
pub mod outbound;
mod s3;

/// Percent-encodes one path segment (RFC 3986 unreserved characters stay).
pub(crate) fn encode_segment(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

use async_trait::async_trait;
use trustfn_domain::ports::{Expect, Found, Publisher, Registries, RegistryError};
use trustfn_domain::registry_config::{RegistryConfig, RegistryPolicy, Secret};

/// Why an upload failed: text for the log only, and whether trying again may help (throttling,
/// a 5xx, a dropped connection or a timeout).
#[derive(Debug)]
pub(crate) struct PutError {
    pub(crate) message: String,
    pub(crate) transient: bool,
    /// A condition of the upload failed ([`RegistryError::Changed`]).
    pub(crate) changed: bool,
}

impl From<String> for PutError {
    fn from(message: String) -> PutError {
        PutError {
            message,
            transient: false,
            changed: false,
        }
    }
}

impl From<&str> for PutError {
    fn from(message: &str) -> PutError {
        message.to_owned().into()
    }
}

impl PutError {
    pub(crate) fn transient(message: String) -> PutError {
        PutError {
            message,
            transient: true,
            changed: false,
        }
    }

    pub(crate) fn changed(what: &str) -> PutError {
        PutError {
            message: format!("{what}: the object changed since the version expected"),
            transient: false,
            changed: true,
        }
    }

    /// From an HTTP answer that was not a success.
    pub(crate) fn status(what: &str, status: reqwest::StatusCode, detail: &str) -> PutError {
        PutError {
            message: format!("{what}: HTTP {status}{detail}"),
            transient: status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
            changed: false,
        }
    }
}

/// The version a registry answered (an ETag), which the next upload of the object is conditional
/// on: without one the publisher could never make that upload conditional, so a registry that
/// answers none is an error that says so, never an empty version stored.
pub(crate) fn answered_version(what: &str, etag: Option<&str>) -> Result<String, PutError> {
    match etag {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(format!(
            "{what}: the registry answered without an ETag, so later uploads could not be conditional"
        )
        .into()),
    }
}

/// An object read back over HTTP from a registry that versions by ETag (S3, Azure): `None` on
/// 404, else its bytes and ETag.
pub(crate) async fn found_by_etag(
    what: &str,
    resp: reqwest::Response,
) -> Result<Option<Found>, PutError> {
    let status = resp.status();
    if status.as_u16() == 404 {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(PutError::status(what, status, &error_code(resp).await));
    }
    let version = answered_version(
        what,
        resp.headers().get("etag").and_then(|v| v.to_str().ok()),
    )?;
    let body = resp
        .bytes()
        .await
        .map_err(|e| PutError::transient(format!("{what}: {}", e.without_url())))?;
    Ok(Some(Found {
        body: body.to_vec(),
        version,
    }))
}

/// The error code of a failed answer, for the log: Azure's `x-ms-error-code` header, or the
/// `<Code>` of S3's XML error body.
pub(crate) async fn error_code(resp: reqwest::Response) -> String {
    if let Some(code) = resp
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
    {
        return format!(" ({code})");
    }
    let text = resp.text().await.unwrap_or_default();
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| format!(" ({code})"))
        .unwrap_or_default()
}

/// One object upload, as each registry writer does it: conditional on `expect`, returning the
/// version stored; and reading an object back with its version.
#[async_trait]
trait PutObject: Send + Sync {
    async fn get_object(&self, key: &str) -> Result<Option<Found>, PutError>;
    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
        expect: Expect<'_>,
    ) -> Result<String, PutError>;
}

/// Attempts of one upload: a transient failure is tried once more after a short pause.
const UPLOAD_ATTEMPTS: u32 = 2;

/// A registry writer as the [`Publisher`] port.
struct Writer<T>(T);

#[async_trait]
impl<T: PutObject> Publisher for Writer<T> {
    async fn get(&self, key: &str) -> Result<Option<Found>, RegistryError> {
        let mut attempt = 1;
        loop {
            match self.0.get_object(key).await {
                Ok(found) => return Ok(found),
                Err(e) if e.transient && attempt < UPLOAD_ATTEMPTS => {
                    tracing::warn!(error = %outbound::redact(&e.message), attempt, "registry read failed; retrying");
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
                Err(e) => return Err(RegistryError::Unavailable(outbound::redact(&e.message))),
            }
        }
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
        expect: Expect<'_>,
    ) -> Result<String, RegistryError> {
        let mut attempt = 1;
        loop {
            match self
                .0
                .put_object(key, body.clone(), content_type, cache_control, expect)
                .await
            {
                Ok(version) => return Ok(version),
                Err(e) if e.changed => return Err(RegistryError::Changed),
                Err(e) if e.transient && attempt < UPLOAD_ATTEMPTS => {
                    tracing::warn!(error = %outbound::redact(&e.message), attempt, "registry upload failed; retrying");
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
                Err(e) => return Err(RegistryError::Unavailable(outbound::redact(&e.message))),
            }
        }
    }
}

pub struct CloudRegistries {
    sdk: aws_config::SdkConfig,
    http: reqwest::Client,
    policy: RegistryPolicy,
    gcs_tokens: gcs::Tokens,
}

impl CloudRegistries {
    /// `sdk` supplies the default credential chain (the Lambda role), used only for the
    /// deployment's own buckets (`policy.own_buckets`); `policy` also says which endpoints a
    /// tenant may name besides public `https` hosts.
    pub fn new(sdk: aws_config::SdkConfig, policy: RegistryPolicy) -> CloudRegistries {
        let http = outbound::http_client(&policy.endpoints);
        CloudRegistries {
            sdk,
            http,
            policy,
            gcs_tokens: Default::default(),
        }
    }
}

#[async_trait]
impl Registries for CloudRegistries {
    async fn open(
        &self,
        registry: &RegistryConfig<Secret>,
    ) -> Result<Box<dyn Publisher>, RegistryError> {
        self.open_publisher(registry)
            .await
            .map_err(|e| RegistryError::Config(outbound::redact(&e)))
    }
}

impl CloudRegistries {
    async fn open_publisher(
        &self,
        registry: &RegistryConfig<Secret>,
    ) -> Result<Box<dyn Publisher>, String> {
        // The rules of a saved configuration are checked again: the deployment's settings may
        // have changed since, names may now resolve elsewhere, and a configuration saved before
        // a rule existed must not slip past it.
        trustfn_domain::registry_config::check_names(registry)
            .map_err(|(field, rule)| format!("{field} {rule}"))?;
        if let Some(endpoint) = registry.endpoint_url() {
            outbound::check_endpoint(&self.policy.endpoints, endpoint)?;
        }
        if let RegistryConfig::Azure(r) = registry {
            if let Some(cs) = &r.connection_string {
                if let Some(endpoint) = azure::blob_endpoint(cs.expose()) {
                    outbound::check_endpoint(&self.policy.endpoints, &endpoint)?;
                }
            }
        }
        match registry {
            RegistryConfig::Aws(r) => {
                let credentials = match (&r.access_key_id, &r.secret_key) {
                    (Some(id), Some(secret)) => {
                        s3::S3Credentials::Static(aws_credential_types::Credentials::new(
                            id,
                            secret.expose(),
                            None,
                            None,
                            "trustfn-registry",
                        ))
                    }
                    // The functions' own identity: never towards another endpoint, and only
                    // for the buckets the deployment named.
                    _ if r.endpoint_url.is_some()
                        || !self.policy.own_buckets.contains(&r.bucket_name) =>
                    {
                        return Err(format!(
                            "bucket {} is not one this deployment writes with its own credentials",
                            r.bucket_name
                        ));
                    }
                    _ => s3::S3Credentials::Own(
                        self.sdk
                            .credentials_provider()
                            .ok_or("the deployment has no AWS credentials")?,
                    ),
                };
                // A tenant's endpoint; for the deployment's own buckets, the S3 endpoint the
                // environment names (the local stack's emulator), as the SDK would take it.
                let endpoint = r.endpoint_url.clone().or_else(|| match &credentials {
                    s3::S3Credentials::Own(_) => std::env::var("AWS_ENDPOINT_URL_S3")
                        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                        .ok()
                        .filter(|u| !u.is_empty()),
                    s3::S3Credentials::Static(_) => None,
                });
                Ok(Box::new(Writer(s3::S3 {
                    http: self.http.clone(),
                    credentials,
                    region: r.region.clone(),
                    bucket: r.bucket_name.clone(),
                    endpoint,
                })))
            }
            RegistryConfig::Azure(r) => {
                Ok(Box::new(Writer(azure::Azure::open(self.http.clone(), r)?)))
            }
            RegistryConfig::Gcs(r) => Ok(Box::new(Writer(gcs::Gcs::open(
                self.http.clone(),
                self.gcs_tokens.clone(),
                r,
            )?))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_registry_that_answers_no_etag_is_an_error_not_an_empty_version() {
        assert!(super::answered_version("S3 PutObject", None)
            .unwrap_err()
            .message
            .contains("without an ETag"));
        assert!(super::answered_version("S3 PutObject", Some("")).is_err());
        assert_eq!(
            super::answered_version("S3 PutObject", Some("\"abc\"")).unwrap(),
            "\"abc\""
        );
    }

    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails its first `failures` uploads, transiently or not.
    struct Flaky {
        failures: u32,
        transient: bool,
        calls: AtomicU32,
    }

    #[async_trait]
    impl PutObject for Flaky {
        async fn get_object(&self, _: &str) -> Result<Option<Found>, PutError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.failures {
                return Err(PutError {
                    message: "HTTP 503 from https://x.example/c/k?sig=SECRET".into(),
                    transient: self.transient,
                    changed: false,
                });
            }
            Ok(Some(Found {
                body: vec![1],
                version: format!("v{n}"),
            }))
        }
        async fn put_object(
            &self,
            _: &str,
            _: Vec<u8>,
            _: &str,
            _: &str,
            expect: Expect<'_>,
        ) -> Result<String, PutError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if expect == Expect::Absent {
                return Err(PutError::changed("x"));
            }
            if n < self.failures {
                return Err(PutError {
                    message: "HTTP 503 from https://x.example/c/k?sig=SECRET".into(),
                    transient: self.transient,
                    changed: false,
                });
            }
            Ok(format!("v{n}"))
        }
    }

    fn flaky(failures: u32, transient: bool) -> Writer<Flaky> {
        Writer(Flaky {
            failures,
            transient,
            calls: AtomicU32::new(0),
        })
    }

    #[tokio::test]
    async fn a_transient_failure_is_tried_once_more_and_a_permanent_one_is_not() {
        let w = flaky(1, true);
        assert_eq!(
            w.put("k", vec![1], "t", "c", Expect::Any).await.unwrap(),
            "v1"
        );
        assert_eq!(w.0.calls.load(Ordering::SeqCst), 2);
        let w = flaky(5, true);
        let e = w
            .put("k", vec![1], "t", "c", Expect::Any)
            .await
            .unwrap_err();
        assert_eq!(w.0.calls.load(Ordering::SeqCst), UPLOAD_ATTEMPTS);
        assert!(!e.to_string().contains("SECRET"), "{e}");
        let w = flaky(1, false);
        assert!(w.put("k", vec![1], "t", "c", Expect::Any).await.is_err());
        assert_eq!(w.0.calls.load(Ordering::SeqCst), 1);
        // A failed condition is final: never retried.
        let w = flaky(0, true);
        let e = w
            .put("k", vec![1], "t", "c", Expect::Absent)
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::Changed));
        assert_eq!(w.0.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_read_back_is_tried_once_more_when_transient_and_keeps_no_secret() {
        let w = flaky(1, true);
        assert_eq!(w.get("k").await.unwrap().unwrap().version, "v1");
        let w = flaky(5, false);
        let e = w.get("k").await.unwrap_err();
        assert_eq!(w.0.calls.load(Ordering::SeqCst), 1);
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        let t = |code: u16| {
            PutError::status("x", reqwest::StatusCode::from_u16(code).unwrap(), "").transient
        };
        assert!(t(500) && t(503) && t(429));
        assert!(!t(400) && !t(403) && !t(404) && !t(412));
    }
}
