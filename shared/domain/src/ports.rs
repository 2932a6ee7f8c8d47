//! The ports to the world outside the table: key management (AWS KMS), secret sealing, and the
//! registries status lists are published to. Adapters implement them (`trustfn-kms`,
//! `trustfn-registry`); tests use local fakes.

use async_trait::async_trait;
pub use trustfn_signer::{Curve, PublicKey, Signer};

use crate::error::ApiError;
use crate::model::KeyArn;
use crate::registry_config::RegistryConfig;
use crate::secret::{Sealed, Secret};

#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub arn: KeyArn,
    pub public: PublicKey,
}

#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub arn: KeyArn,
    pub curve: Option<Curve>,
    pub spec: String,
    pub sign_verify: bool,
    pub enabled: bool,
    /// The key's tags (`ListResourceTags`), as (key, value) pairs.
    pub tags: Vec<(String, String)>,
}

impl KeyInfo {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error("key not found")]
    NotFound,
    #[error("key unusable: {0}")]
    Unusable(String),
    #[error("KMS unavailable: {0}")]
    Unavailable(String),
}

/// The key-management port (AWS KMS in production).
#[async_trait]
pub trait KeyManager: Send + Sync {
    async fn create_key(
        &self,
        curve: Curve,
        description: &str,
        tags: &[(&str, &str)],
    ) -> Result<CreatedKey, KmsError>;
    async fn describe(&self, key_id: &str) -> Result<KeyInfo, KmsError>;
    async fn public_key(&self, key_id: &str) -> Result<PublicKey, KmsError>;
    /// Schedules deletion with the longest waiting period (30 days), so a mistake can be undone.
    async fn schedule_deletion(&self, arn: &str) -> Result<(), KmsError>;
    async fn cancel_deletion(&self, arn: &str) -> Result<(), KmsError>;
    fn signer(&self, arn: &str, public: PublicKey) -> Box<dyn Signer>;
}

impl From<KmsError> for ApiError {
    fn from(e: KmsError) -> ApiError {
        match e {
            KmsError::NotFound => {
                ApiError::validation("the KMS key does not exist or is not accessible")
            }
            KmsError::Unusable(m) => {
                ApiError::validation(format!("the KMS key is not usable: {m}"))
            }
            KmsError::Unavailable(detail) => ApiError::upstream("KMS").with_cause(detail),
        }
    }
}

/// Encrypts small secrets (registry credentials) with a KMS key, bound to an encryption context.
#[async_trait]
pub trait SecretBox: Send + Sync {
    async fn seal(&self, plaintext: &Secret, context: &str) -> Result<Sealed, KmsError>;
    async fn open(&self, sealed: &Sealed, context: &str) -> Result<Secret, KmsError>;
}

/// Why a registry could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The configuration cannot work (a malformed service-account key, ...).
    #[error("registry configuration: {0}")]
    Config(String),
    /// The registry failed or could not be reached.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    /// A conditional upload found the object changed (or created, or gone) since the version it
    /// expected: someone else wrote it. Nothing was written.
    #[error("the object changed since the version expected")]
    Changed,
}

/// What an upload requires of the object it replaces. Publishers of status lists upload
/// conditionally, so an upload that lost the race to a newer one cannot land after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect<'a> {
    /// Whatever is there.
    Any,
    /// No object yet (S3/Azure `If-None-Match: *`, GCS `ifGenerationMatch=0`).
    Absent,
    /// Exactly this version: an ETag (S3, Azure) or a generation (GCS) an upload returned.
    Version(&'a str),
}

/// An object as a registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub body: Vec<u8>,
    /// Its version (ETag or generation): an upload expecting it replaces exactly this object.
    pub version: String,
}

/// Writes objects to a registry (and reads them back); `put` returns the version it stored
/// (ETag or generation).
#[async_trait]
pub trait Publisher: Send + Sync {
    /// The object at `key` and its version; `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Found>, RegistryError>;
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
        expect: Expect<'_>,
    ) -> Result<String, RegistryError>;
}

/// Opens a publisher for a registry configuration (secrets already opened).
#[async_trait]
pub trait Registries: Send + Sync {
    async fn open(
        &self,
        registry: &RegistryConfig<Secret>,
    ) -> Result<Box<dyn Publisher>, RegistryError>;
}
