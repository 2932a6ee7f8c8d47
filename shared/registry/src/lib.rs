//! Registry writers behind [`trustfn_domain::ports::Registries`]: S3 (and S3-compatible storage
//! through `endpointUrl`, path style), Azure Blob Storage (Shared Key or SAS) and Google Cloud
//! Storage (service-account key, or anonymous against an emulator).

mod azure;
mod gcs;

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
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use trustfn_domain::ports::{Publisher, Registries, RegistryError};
use trustfn_domain::registry::{RegistryConfig, Secret};

/// One object upload, as each registry writer does it; the error is text for the log only.
#[async_trait]
trait PutObject: Send + Sync {
    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), String>;
}

/// A registry writer as the [`Publisher`] port.
struct Writer<T>(T);

#[async_trait]
impl<T: PutObject> Publisher for Writer<T> {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), RegistryError> {
        self.0
            .put_object(key, body, content_type, cache_control)
            .await
            .map_err(RegistryError::Unavailable)
    }
}

pub struct CloudRegistries {
    sdk: aws_config::SdkConfig,
    http: reqwest::Client,
}

impl CloudRegistries {
    /// `sdk` supplies the default credential chain (the Lambda role) for registries without keys.
    pub fn new(sdk: aws_config::SdkConfig) -> CloudRegistries {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .expect("an HTTP client with default settings");
        CloudRegistries { sdk, http }
    }
}

struct S3 {
    client: aws_sdk_s3::Client,
    bucket: String,
}

#[async_trait::async_trait]
impl crate::PutObject for S3 {
    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
    ) -> Result<(), String> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .content_type(content_type)
            .cache_control(cache_control)
            .send()
            .await
            .map_err(|e| format!("S3 PutObject: {}", DisplayErrorContext(e)))?;
        Ok(())
    }
}

#[async_trait]
impl Registries for CloudRegistries {
    async fn open(
        &self,
        registry: &RegistryConfig<Secret>,
    ) -> Result<Box<dyn Publisher>, RegistryError> {
        self.open_publisher(registry).map_err(RegistryError::Config)
    }
}

impl CloudRegistries {
    fn open_publisher(
        &self,
        registry: &RegistryConfig<Secret>,
    ) -> Result<Box<dyn Publisher>, String> {
        match registry {
            RegistryConfig::Aws(r) => {
                let mut b = aws_sdk_s3::config::Builder::from(&self.sdk)
                    .region(Region::new(r.region.clone()));
                if let (Some(id), Some(secret)) = (&r.access_key_id, &r.secret_key) {
                    b = b.credentials_provider(Credentials::new(
                        id,
                        secret.expose(),
                        None,
                        None,
                        "trustfn-registry",
                    ));
                }
                if let Some(endpoint) = &r.endpoint_url {
                    b = b.endpoint_url(endpoint).force_path_style(true);
                }
                Ok(Box::new(Writer(S3 {
                    client: aws_sdk_s3::Client::from_conf(b.build()),
                    bucket: r.bucket_name.clone(),
                })))
            }
            RegistryConfig::Azure(r) => {
                Ok(Box::new(Writer(azure::Azure::open(self.http.clone(), r)?)))
            }
            RegistryConfig::Gcs(r) => Ok(Box::new(Writer(gcs::Gcs::open(self.http.clone(), r)?))),
        }
    }
}
