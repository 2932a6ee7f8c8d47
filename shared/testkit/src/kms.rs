//! A KMS whose keys are local (P-256/P-384), counting its Sign calls and scheduled deletions,
//! and a secret box bound to its context.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
};
use trustfn_domain::model::KeyArn;
use trustfn_domain::ports::{CreatedKey, KeyInfo, KeyManager, KmsError, SecretBox};
use trustfn_domain::registry_config::{Sealed, Secret};
use trustfn_signer::{Curve, PublicKey, SignError, Signer};

/// A private key held here.
pub struct LocalKey {
    pair: EcdsaKeyPair,
    public: PublicKey,
    rng: SystemRandom,
    signs: Arc<AtomicUsize>,
}

impl LocalKey {
    pub fn new(curve: Curve) -> LocalKey {
        let rng = SystemRandom::new();
        let alg = match curve {
            Curve::P256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
            Curve::P521 => panic!("ring has no P-521"),
        };
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let public = PublicKey::new(curve, pair.public_key().as_ref().to_vec()).unwrap();
        LocalKey {
            pair,
            public,
            rng,
            signs: Arc::default(),
        }
    }
}

#[async_trait]
impl Signer for LocalKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.signs.fetch_add(1, Ordering::SeqCst);
        self.pair
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignError("local signing failed".into()))
    }
}

struct KeySigner(Arc<LocalKey>, Arc<AtomicBool>);

#[async_trait]
impl Signer for KeySigner {
    fn public_key(&self) -> &PublicKey {
        self.0.public_key()
    }
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        if self.1.load(Ordering::SeqCst) {
            return Err(SignError("KMS is down (test)".into()));
        }
        self.0.sign(message).await
    }
}

/// A KMS whose keys live here. Counts `Sign` calls and scheduled deletions.
#[derive(Default)]
pub struct FakeKms {
    keys: Mutex<HashMap<String, Arc<LocalKey>>>,
    pub signs: Arc<AtomicUsize>,
    pub scheduled: Mutex<Vec<String>>,
    pub cancelled: Mutex<Vec<String>>,
    /// When set, every call (signing included) fails as if KMS were unreachable.
    pub down: Arc<AtomicBool>,
    /// Keys described as ENCRYPT_DECRYPT (not SIGN_VERIFY), and keys described as disabled.
    pub not_signing: Mutex<Vec<String>>,
    pub disabled: Mutex<Vec<String>>,
    /// Each key's tags.
    pub tags: Mutex<HashMap<String, Vec<(String, String)>>>,
}

impl FakeKms {
    /// Adds a key tagged `trustfn:adopt-by = adopt_by` (as a key administrator would, to let
    /// trustfn adopt it) and returns its ARN.
    pub fn add_adoptable_key(&self, curve: Curve, adopt_by: &str) -> (String, PublicKey) {
        let (arn, public) = self.add_key(curve);
        self.tag(&arn, "trustfn:adopt-by", adopt_by);
        (arn, public)
    }

    pub fn tag(&self, arn: &str, key: &str, value: &str) {
        self.tags
            .lock()
            .unwrap()
            .entry(arn.to_owned())
            .or_default()
            .push((key.to_owned(), value.to_owned()));
    }

    /// Adds an untagged key (as if created outside trustfn) and returns its ARN.
    pub fn add_key(&self, curve: Curve) -> (String, PublicKey) {
        let mut key = LocalKey::new(curve);
        key.signs = self.signs.clone();
        let mut keys = self.keys.lock().unwrap();
        let arn = format!(
            "arn:aws:kms:us-east-1:111122223333:key/{:08}",
            keys.len() + 1
        );
        let public = key.public.clone();
        keys.insert(arn.clone(), Arc::new(key));
        (arn, public)
    }

    fn check(&self) -> Result<(), KmsError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(KmsError::Unavailable("KMS is down (test)".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl KeyManager for FakeKms {
    async fn create_key(
        &self,
        curve: Curve,
        _description: &str,
        tags: &[(&str, &str)],
    ) -> Result<CreatedKey, KmsError> {
        self.check()?;
        let (arn, public) = self.add_key(curve);
        for (k, v) in tags {
            self.tag(&arn, k, v);
        }
        Ok(CreatedKey {
            arn: KeyArn::parse(&arn).expect("a test key's ARN"),
            public,
        })
    }
    async fn describe(&self, key_id: &str) -> Result<KeyInfo, KmsError> {
        self.check()?;
        let keys = self.keys.lock().unwrap();
        let key = keys.get(key_id).ok_or(KmsError::NotFound)?;
        Ok(KeyInfo {
            arn: KeyArn::parse(key_id).map_err(|_| KmsError::NotFound)?,
            curve: Some(key.public.curve),
            spec: format!("{:?}", key.public.curve),
            sign_verify: !self.not_signing.lock().unwrap().iter().any(|a| a == key_id),
            enabled: !self.disabled.lock().unwrap().iter().any(|a| a == key_id),
            tags: self
                .tags
                .lock()
                .unwrap()
                .get(key_id)
                .cloned()
                .unwrap_or_default(),
        })
    }
    async fn public_key(&self, key_id: &str) -> Result<PublicKey, KmsError> {
        self.check()?;
        let keys = self.keys.lock().unwrap();
        Ok(keys.get(key_id).ok_or(KmsError::NotFound)?.public.clone())
    }
    async fn schedule_deletion(&self, arn: &str) -> Result<(), KmsError> {
        self.check()?;
        self.scheduled.lock().unwrap().push(arn.to_owned());
        Ok(())
    }
    async fn cancel_deletion(&self, arn: &str) -> Result<(), KmsError> {
        self.check()?;
        self.cancelled.lock().unwrap().push(arn.to_owned());
        Ok(())
    }
    fn signer(&self, arn: &str, _public: PublicKey) -> Box<dyn Signer> {
        let key = self
            .keys
            .lock()
            .unwrap()
            .get(arn)
            .cloned()
            .expect("a known key");
        Box::new(KeySigner(key, self.down.clone()))
    }
}

/// A secret box that "seals" by prefixing the context: opening with another context fails.
pub struct FakeSecrets;

#[async_trait]
impl SecretBox for FakeSecrets {
    async fn seal(&self, plaintext: &Secret, context: &str) -> Result<Sealed, KmsError> {
        Ok(Sealed::new(format!("kms:{context}:{}", plaintext.expose())))
    }
    async fn open(&self, sealed: &Sealed, context: &str) -> Result<Secret, KmsError> {
        sealed
            .ciphertext()
            .strip_prefix(&format!("kms:{context}:"))
            .map(Secret::new)
            .ok_or_else(|| KmsError::Unusable("sealed for another context".into()))
    }
}
