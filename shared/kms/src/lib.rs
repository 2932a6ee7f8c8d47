//! AWS KMS adapter: creates and retires asymmetric EC keys and signs with them. Private keys
//! never leave KMS; one `Sign` call per signature.

use async_trait::async_trait;
use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType, MessageType, SigningAlgorithmSpec, Tag};
use aws_sdk_kms::Client;
use sha2::Digest;
use trustfn_domain::model::KeyArn;
use trustfn_domain::ports::{CreatedKey, KeyInfo, KeyManager, KmsError};
use trustfn_domain::secret::{Sealed, Secret, SEALED_PREFIX};
use trustfn_x509::{Curve, PublicKey, SignError, Signer};

/// KMS accepts RAW messages up to this size; larger ones are hashed here and sent as DIGEST.
const MAX_RAW: usize = 4096;

/// Tag put on every key this deployment creates: the stack's name. The template lets the
/// functions retire (schedule, cancel, re-enable) only keys carrying their own stack's tag.
pub const STACK_TAG: &str = "trustfn:stack";

mod key_policy;
pub use key_policy::KeyCreator;

#[derive(Clone)]
pub struct Kms {
    client: Client,
    /// Who creates keys (see [`KeyCreator`]); why not, for a function that was not given it.
    creator: Result<KeyCreator, String>,
}

impl Kms {
    pub fn new(client: Client) -> Kms {
        Kms {
            client,
            creator: Err("this function does not create keys".into()),
        }
    }

    /// Lets this adapter create keys as `role_arn` (the creating function's role), tagged with
    /// `trustfn:stack = stack`. Without both, `create_key` refuses.
    pub fn with_creator(mut self, role_arn: Option<String>, stack: Option<String>) -> Kms {
        self.creator = match (role_arn.filter(|r| !r.is_empty()), stack) {
            (Some(role), Some(stack)) => KeyCreator::new(&role, &stack),
            (None, _) => Err(
                "TRUSTFN_KEY_CREATOR_ROLE is not set: this function does not create keys".into(),
            ),
            (_, None) => Err("TRUSTFN_STACK is not set".into()),
        };
        self
    }
}

/// A key we may not see is, for every caller, a key that does not exist.
fn not_found_or_unavailable<E>(what: &str, e: aws_sdk_kms::error::SdkError<E>) -> KmsError
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.as_service_error().and_then(|s| s.code()).unwrap_or("");
    if matches!(
        code,
        "NotFoundException" | "AccessDeniedException" | "InvalidArnException"
    ) {
        tracing::info!(call = what, code, "KMS key not visible");
        KmsError::NotFound
    } else {
        unavailable(what, e)
    }
}

fn spec(curve: Curve) -> KeySpec {
    match curve {
        Curve::P256 => KeySpec::EccNistP256,
        Curve::P384 => KeySpec::EccNistP384,
        Curve::P521 => KeySpec::EccNistP521,
    }
}

fn algorithm(curve: Curve) -> SigningAlgorithmSpec {
    match curve {
        Curve::P256 => SigningAlgorithmSpec::EcdsaSha256,
        Curve::P384 => SigningAlgorithmSpec::EcdsaSha384,
        Curve::P521 => SigningAlgorithmSpec::EcdsaSha512,
    }
}

/// The key id part of a key ARN. Deletion calls take it instead of the ARN: the keys we retire
/// are our own (same account and region), and the local KMS emulator only resolves ids there.
fn key_id(arn: &str) -> &str {
    arn.rsplit_once(":key/").map_or(arn, |(_, id)| id)
}

fn unavailable<E: std::error::Error + 'static>(what: &str, e: E) -> KmsError {
    KmsError::Unavailable(format!("{what}: {}", DisplayErrorContext(e)))
}

#[async_trait]
impl KeyManager for Kms {
    async fn create_key(
        &self,
        curve: Curve,
        description: &str,
        tags: &[(&str, &str)],
    ) -> Result<CreatedKey, KmsError> {
        let creator = self
            .creator
            .as_ref()
            .map_err(|why| KmsError::Unavailable(format!("CreateKey: {why}")))?;
        let tags: Vec<(&str, &str)> = tags
            .iter()
            .copied()
            .chain([(STACK_TAG, creator.stack())])
            .collect();
        let tag_keys: Vec<&str> = tags.iter().map(|(k, _)| *k).collect();
        // The policy keeps the creator from ever changing it (no kms:PutKeyPolicy): that is what
        // the lockout check would otherwise insist on, and the account statement keeps the key
        // manageable.
        let out = self
            .client
            .create_key()
            .key_spec(spec(curve))
            .key_usage(KeyUsageType::SignVerify)
            .description(description)
            .policy(creator.policy(&tag_keys)?)
            .bypass_policy_lockout_safety_check(true)
            .send()
            .await
            .map_err(|e| unavailable("CreateKey", e))?;
        let arn = out
            .key_metadata
            .and_then(|m| m.arn)
            .ok_or_else(|| KmsError::Unavailable("CreateKey returned no ARN".into()))?;
        let parsed = match KeyArn::parse(&arn) {
            Ok(a) => a,
            Err(e) => {
                let _ = self.schedule_deletion(&arn).await;
                return Err(KmsError::Unavailable(format!("CreateKey: {e}")));
            }
        };
        let mut tag_req = self.client.tag_resource().key_id(key_id(&arn));
        for (k, v) in tags {
            tag_req = tag_req.tags(Tag::builder().tag_key(k).tag_value(v).build().expect("tag"));
        }
        if let Err(e) = tag_req.send().await {
            // An untagged key can neither sign nor be retired through IAM; its policy lets its
            // creator schedule its deletion.
            let _ = self.schedule_deletion(&arn).await;
            return Err(unavailable("TagResource", e));
        }
        match self.public_key(&arn).await {
            Ok(public) => Ok(CreatedKey {
                arn: parsed,
                public,
            }),
            Err(e) => {
                // Do not leave a key nobody knows about.
                let _ = self.schedule_deletion(&arn).await;
                Err(e)
            }
        }
    }

    async fn describe(&self, key_id: &str) -> Result<KeyInfo, KmsError> {
        let out = self
            .client
            .describe_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| not_found_or_unavailable("DescribeKey", e))?;
        let meta = out.key_metadata.ok_or(KmsError::NotFound)?;
        let mut tags = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_resource_tags()
                .key_id(key_id)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| not_found_or_unavailable("ListResourceTags", e))?;
            tags.extend(
                page.tags()
                    .iter()
                    .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned())),
            );
            match page.next_marker {
                Some(m) if page.truncated => marker = Some(m),
                _ => break,
            }
        }
        let curve = match meta.key_spec() {
            Some(KeySpec::EccNistP256) => Some(Curve::P256),
            Some(KeySpec::EccNistP384) => Some(Curve::P384),
            Some(KeySpec::EccNistP521) => Some(Curve::P521),
            _ => None,
        };
        // The ARN is what the key's record keeps and every Sign names: a key without one is
        // not something to record.
        let arn = meta
            .arn
            .as_deref()
            .map(KeyArn::parse)
            .ok_or_else(|| KmsError::Unavailable("DescribeKey answered without a key ARN".into()))?
            .map_err(|e| KmsError::Unavailable(format!("DescribeKey: {e}")))?;
        Ok(KeyInfo {
            arn,
            curve,
            spec: meta
                .key_spec()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            sign_verify: meta.key_usage() == Some(&KeyUsageType::SignVerify),
            enabled: meta.key_state() == Some(&KeyState::Enabled),
            tags,
        })
    }

    async fn public_key(&self, key_id: &str) -> Result<PublicKey, KmsError> {
        let out = self
            .client
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| not_found_or_unavailable("GetPublicKey", e))?;
        let der = out
            .public_key
            .ok_or_else(|| KmsError::Unavailable("GetPublicKey returned no key".into()))?;
        trustfn_x509::key::from_spki_der(der.as_ref())
            .map_err(|e| KmsError::Unusable(e.to_string()))
    }

    async fn schedule_deletion(&self, arn: &str) -> Result<(), KmsError> {
        self.client
            .schedule_key_deletion()
            .key_id(key_id(arn))
            .pending_window_in_days(30)
            .send()
            .await
            .map_err(|e| unavailable("ScheduleKeyDeletion", e))?;
        Ok(())
    }

    async fn cancel_deletion(&self, arn: &str) -> Result<(), KmsError> {
        self.client
            .cancel_key_deletion()
            .key_id(key_id(arn))
            .send()
            .await
            .map_err(|e| unavailable("CancelKeyDeletion", e))?;
        self.client
            .enable_key()
            .key_id(key_id(arn))
            .send()
            .await
            .map_err(|e| unavailable("EnableKey", e))?;
        Ok(())
    }

    fn signer(&self, arn: &str, public: PublicKey) -> Box<dyn Signer> {
        Box::new(KmsSigner {
            client: self.client.clone(),
            arn: arn.to_owned(),
            public,
        })
    }
}

/// Signs with one KMS key. Returns KMS's DER ECDSA signature unchanged (the X.509 format).
pub struct KmsSigner {
    client: Client,
    arn: String,
    public: PublicKey,
}

#[async_trait]
impl Signer for KmsSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let curve = self.public.curve;
        let (msg, kind) = if message.len() <= MAX_RAW {
            (message.to_vec(), MessageType::Raw)
        } else {
            let digest = match curve {
                Curve::P256 => sha2::Sha256::digest(message).to_vec(),
                Curve::P384 => sha2::Sha384::digest(message).to_vec(),
                Curve::P521 => sha2::Sha512::digest(message).to_vec(),
            };
            (digest, MessageType::Digest)
        };
        let started = std::time::Instant::now();
        let out = self
            .client
            .sign()
            .key_id(&self.arn)
            .message(Blob::new(msg))
            .message_type(kind)
            .signing_algorithm(algorithm(curve))
            .send()
            .await;
        trustfn_metrics::Emf::new()
            .dim("Kind", "kms")
            .ms("KmsSignLatency", started.elapsed().as_secs_f64() * 1e3)
            .count("KmsSignFailed", out.is_err() as u64)
            .emit();
        let out = out.map_err(|e| {
            tracing::error!(error = %DisplayErrorContext(&e), "KMS Sign failed");
            SignError("KMS Sign failed".into())
        })?;
        Ok(out
            .signature
            .ok_or_else(|| SignError("KMS returned no signature".into()))?
            .into_inner())
    }
}

/// Seals registry secrets with a symmetric KMS key (direct `Encrypt`, at most 4 KiB), bound to
/// the owning service by the encryption context `trustfn:service`.
#[derive(Clone)]
pub struct KmsSecrets {
    client: Client,
    key_id: Option<String>,
}

impl KmsSecrets {
    /// `key_id` comes from `TRUSTFN_SECRETS_KEY_ID`; without it sealing fails with a clear error.
    pub fn new(client: Client, key_id: Option<String>) -> KmsSecrets {
        KmsSecrets { client, key_id }
    }
}

const CONTEXT_KEY: &str = "trustfn:service";

#[async_trait]
impl trustfn_domain::ports::SecretBox for KmsSecrets {
    async fn seal(&self, plaintext: &Secret, context: &str) -> Result<Sealed, KmsError> {
        let plaintext = plaintext.expose();
        use base64::Engine;
        let key_id = self
            .key_id
            .as_deref()
            .ok_or_else(|| KmsError::Unavailable("TRUSTFN_SECRETS_KEY_ID is not set".into()))?;
        if plaintext.len() > 4096 {
            return Err(KmsError::Unusable(
                "a registry secret is longer than 4096 bytes".into(),
            ));
        }
        let out = self
            .client
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(plaintext.as_bytes()))
            .encryption_context(CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| unavailable("Encrypt", e))?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| KmsError::Unavailable("Encrypt returned nothing".into()))?;
        Ok(Sealed::new(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(blob.as_ref())
        )))
    }

    async fn open(&self, sealed: &Sealed, context: &str) -> Result<Secret, KmsError> {
        use base64::Engine;
        let sealed = sealed.ciphertext();
        let b64 = sealed.strip_prefix(SEALED_PREFIX).unwrap_or(sealed);
        let blob = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| KmsError::Unusable("a sealed secret is not base64".into()))?;
        let out = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(blob))
            .encryption_context(CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| unavailable("Decrypt", e))?;
        let plain = out
            .plaintext
            .ok_or_else(|| KmsError::Unavailable("Decrypt returned nothing".into()))?;
        String::from_utf8(plain.into_inner())
            .map(Secret::new)
            .map_err(|_| KmsError::Unusable("a sealed secret is not UTF-8".into()))
    }
}
