//! Test doubles for the use-case tests of the service crates, so they run in `cargo test` in
//! seconds without emulators: a KMS that signs with local P-256/P-384 keys and counts its calls,
//! a secret box bound to its context, a registry that records (or refuses, or holds) uploads, and
//! helpers that seed the resource tree and make the administrator's proofs; and [`MemoryRepo`],
//! the repository port in memory with DynamoDB's semantics.

pub mod memory;
pub use memory::MemoryRepo;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
};
use trustfn_domain::auth::{Authorized, Operation, Permission, Permitted, Principal};
use trustfn_domain::model::{Doc, Organization, Profile, Record, Tenant};
use trustfn_domain::ports::{
    CreatedKey, Expect, Found, KeyInfo, KeyManager, KmsError, Publisher, Registries, RegistryError,
    SecretBox,
};
use trustfn_domain::registry_config::{RegistryConfig, Sealed, Secret};
use trustfn_domain::repo::{
    Chunk, Op, Page, Pending, Remembered, RepoError, Repository, TokenRecord,
};
use trustfn_domain::Target;
use trustfn_signer::{Curve, PublicKey, SignError, Signer};

/// A target, parsed.
pub fn t(s: &str) -> Target {
    Target::parse(s).unwrap()
}

static ADMIN: Principal = Principal::Admin;

/// The administrator's proof for `A` on `target`.
pub fn admin<A: Permitted>(target: &str) -> Authorized<'static, A> {
    ADMIN.authorize::<A>(&t(target)).unwrap()
}

/// An API key of organization `acme` holding exactly `permissions` (target, action, operation).
pub fn api_key(permissions: &[(&str, &str, Operation)]) -> Principal {
    Principal::ApiKey {
        key_id: t("acme.k"),
        permissions: permissions
            .iter()
            .map(|(target, action, operation)| Permission {
                target: target.to_string(),
                action: action.to_string(),
                operation: *operation,
            })
            .collect(),
        delegation: Default::default(),
    }
}

/// Creates `doc` at `id` and counts it as a child of its parent, as a use case would.
pub async fn seed(repo: &dyn Repository, id: &str, doc: impl Into<Doc>) {
    let rec = Record::new(t(id), doc);
    let mut ops = vec![Op::Create(rec)];
    if let Some(parent) = t(id).parent() {
        ops.push(Op::Count {
            id: parent,
            children: 1,
            dependants: 0,
        });
    }
    repo.commit(ops).await.unwrap();
}

/// An organization and a tenant under it (`tenant` is `org.tenant`).
pub async fn seed_tenant(repo: &dyn Repository, tenant: &str) {
    let org = t(tenant).parent().expect("org.tenant");
    let doc = Organization {
        profile: Profile {
            name: org.to_string(),
            extra: Default::default(),
        },
        billing: None,
    };
    seed(repo, org.as_str(), doc).await;
    let doc = Tenant {
        name: tenant.to_owned(),
        configuration: None,
    };
    seed(repo, tenant, doc).await;
}

/// Attaches service `to` to service `from`.
pub async fn attach(repo: &dyn Repository, from: &str, to: &str) {
    repo.commit(vec![
        Op::AddEdge {
            from: t(from),
            to: t(to),
        },
        Op::Count {
            id: t(to),
            children: 0,
            dependants: 1,
        },
    ])
    .await
    .unwrap();
}

/// A repository wrapper: every read goes to `self.0` (pending changes through the wrapper's
/// `read_pending` when it names one), commits to the wrapper's `write`.
macro_rules! repository_wrapper {
    ($ty:ty) => {
        repository_wrapper!($ty, pending_of_inner);
        impl $ty {
            async fn pending_of_inner(
                &self,
                list: &Target,
                limit: usize,
            ) -> Result<Vec<Pending>, RepoError> {
                self.0.pending(list, limit).await
            }
        }
    };
    ($ty:ty, $pending:ident) => {
        #[async_trait]
        impl Repository for $ty {
            async fn commit(&self, ops: Vec<Op>) -> Result<(), RepoError> {
                self.write(ops).await
            }
            async fn get(&self, id: &Target) -> Result<Option<Record>, RepoError> {
                self.0.get(id).await
            }
            async fn get_many(&self, ids: &[Target]) -> Result<Vec<Record>, RepoError> {
                self.0.get_many(ids).await
            }
            async fn children(
                &self,
                parent: Option<&Target>,
                limit: usize,
                cursor: Option<&str>,
            ) -> Result<Page, RepoError> {
                self.0.children(parent, limit, cursor).await
            }
            async fn dependencies(&self, from: &Target) -> Result<Vec<Target>, RepoError> {
                self.0.dependencies(from).await
            }
            async fn dependants(&self, to: &Target) -> Result<Vec<Target>, RepoError> {
                self.0.dependants(to).await
            }
            async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, RepoError> {
                self.0.token(hash).await
            }
            async fn due(&self, before: i64, limit: usize) -> Result<Vec<Target>, RepoError> {
                self.0.due(before, limit).await
            }
            async fn pending(
                &self,
                list: &Target,
                limit: usize,
            ) -> Result<Vec<Pending>, RepoError> {
                self.$pending(list, limit).await
            }
            async fn next_seq(&self, list: &Target) -> Result<u64, RepoError> {
                self.0.next_seq(list).await
            }
            async fn has_pending(&self, list: &Target, seq: &str) -> Result<bool, RepoError> {
                self.0.has_pending(list, seq).await
            }
            async fn chunks(&self, list: &Target, nos: &[u32]) -> Result<Vec<Chunk>, RepoError> {
                self.0.chunks(list, nos).await
            }
            async fn all_chunks(&self, list: &Target) -> Result<Vec<Chunk>, RepoError> {
                self.0.all_chunks(list).await
            }
            async fn reserve(
                &self,
                list: &Target,
                count: u64,
                limit: u64,
            ) -> Result<Option<u64>, RepoError> {
                self.0.reserve(list, count, limit).await
            }
            async fn reserved(&self, list: &Target) -> Result<u64, RepoError> {
                self.0.reserved(list).await
            }
            async fn purge_list(&self, list: &Target) -> Result<usize, RepoError> {
                self.0.purge_list(list).await
            }
            async fn remembered(
                &self,
                scope: &Target,
                key: &str,
            ) -> Result<Option<Remembered>, RepoError> {
                self.0.remembered(scope, key).await
            }
        }
    };
}

/// A repository whose reads work and whose every commit fails as if DynamoDB were unreachable.
pub struct CommitsFail<'a>(pub &'a dyn Repository);

impl CommitsFail<'_> {
    async fn write(&self, _ops: Vec<Op>) -> Result<(), RepoError> {
        Err(RepoError::Unavailable("DynamoDB is down (test)".into()))
    }
}

repository_wrapper!(CommitsFail<'_>);

/// A repository whose every commit loses a race: a condition fails, as when another writer
/// keeps changing the same records.
pub struct CommitsConflict<'a>(pub &'a dyn Repository);

impl CommitsConflict<'_> {
    async fn write(&self, _ops: Vec<Op>) -> Result<(), RepoError> {
        Err(RepoError::ConditionFailed { index: Some(0) })
    }
}

repository_wrapper!(CommitsConflict<'_>);

/// A repository where another writer commits `ops` just before the first commit of the use
/// case under test: a race between its reads and its writes.
pub struct Raced<'a>(pub &'a dyn Repository, pub Mutex<Option<Vec<Op>>>);

impl<'a> Raced<'a> {
    pub fn new(repo: &'a dyn Repository, ops: Vec<Op>) -> Raced<'a> {
        Raced(repo, Mutex::new(Some(ops)))
    }
}

impl Raced<'_> {
    async fn write(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        let race = self.1.lock().unwrap().take();
        if let Some(race) = race {
            self.0
                .commit(race)
                .await
                .expect("the racing commit applies");
        }
        self.0.commit(ops).await
    }
}

repository_wrapper!(Raced<'_>);

/// A repository that counts the commits it is asked for (successful or not).
pub struct Counting<'a>(pub &'a dyn Repository, pub AtomicUsize);

impl<'a> Counting<'a> {
    pub fn new(repo: &'a dyn Repository) -> Counting<'a> {
        Counting(repo, AtomicUsize::new(0))
    }

    /// Commits asked for so far.
    pub fn commits(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.commit(ops).await
    }
}

repository_wrapper!(Counting<'_>);

/// A repository where another writer commits `ops` just before the first read of pending
/// changes (a publisher folding them between two reads of the use case under test).
pub struct RacedRead<'a>(pub &'a dyn Repository, pub Mutex<Option<Vec<Op>>>);

impl<'a> RacedRead<'a> {
    pub fn new(repo: &'a dyn Repository, ops: Vec<Op>) -> RacedRead<'a> {
        RacedRead(repo, Mutex::new(Some(ops)))
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        self.0.commit(ops).await
    }

    async fn read_pending(&self, list: &Target, limit: usize) -> Result<Vec<Pending>, RepoError> {
        let race = self.1.lock().unwrap().take();
        if let Some(race) = race {
            self.0
                .commit(race)
                .await
                .expect("the racing commit applies");
        }
        self.0.pending(list, limit).await
    }
}

repository_wrapper!(RacedRead<'_>, read_pending);

/// A repository whose first commit matching a predicate fails as if DynamoDB were unreachable
/// (a process that dies between two writes); every other commit goes through.
pub struct FailOnce<'a>(pub &'a dyn Repository, pub Mutex<Option<CommitMatcher>>);

/// Which commits a [`FailOnce`] fails.
pub type CommitMatcher = fn(&[Op]) -> bool;

impl<'a> FailOnce<'a> {
    pub fn new(repo: &'a dyn Repository, matches: fn(&[Op]) -> bool) -> FailOnce<'a> {
        FailOnce(repo, Mutex::new(Some(matches)))
    }
}

impl FailOnce<'_> {
    async fn write(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        let dies = {
            let mut armed = self.1.lock().unwrap();
            let dies = armed.is_some_and(|m| m(&ops));
            if dies {
                *armed = None;
            }
            dies
        };
        if dies {
            return Err(RepoError::Unavailable(
                "the process died here (test)".into(),
            ));
        }
        self.0.commit(ops).await
    }
}

repository_wrapper!(FailOnce<'_>);

/// A repository that applies every commit but answers the first one matching a predicate as if
/// the answer were lost on the way back (an SDK retry of a committed transaction without a
/// request token answers the same way): the write is there, the caller was told it failed.
pub struct AnswerLostOnce<'a>(pub &'a dyn Repository, pub Mutex<Option<CommitMatcher>>);

impl<'a> AnswerLostOnce<'a> {
    pub fn new(repo: &'a dyn Repository, matches: CommitMatcher) -> AnswerLostOnce<'a> {
        AnswerLostOnce(repo, Mutex::new(Some(matches)))
    }
}

impl AnswerLostOnce<'_> {
    async fn write(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        let lose = {
            let mut armed = self.1.lock().unwrap();
            let hit = armed.is_some_and(|m| m(&ops));
            if hit {
                *armed = None;
            }
            hit
        };
        self.0.commit(ops).await?;
        match lose {
            true => Err(RepoError::Unavailable("the answer was lost (test)".into())),
            false => Ok(()),
        }
    }
}

repository_wrapper!(AnswerLostOnce<'_>);

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
        Ok(CreatedKey { arn, public })
    }
    async fn describe(&self, key_id: &str) -> Result<KeyInfo, KmsError> {
        self.check()?;
        let keys = self.keys.lock().unwrap();
        let key = keys.get(key_id).ok_or(KmsError::NotFound)?;
        Ok(KeyInfo {
            arn: key_id.to_owned(),
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

/// One upload a registry received.
#[derive(Debug, Clone)]
pub struct Upload {
    pub key: String,
    pub body: Vec<u8>,
    pub content_type: String,
    pub cache_control: String,
}

/// An object a [`RecordingRegistry`] holds: its version and body.
type Stored = (u64, Vec<u8>);

/// A registry that records uploads; it can refuse them, or hold them until released.
#[derive(Default, Clone)]
pub struct RecordingRegistry {
    pub uploads: Arc<Mutex<Vec<Upload>>>,
    pub fail: Arc<AtomicBool>,
    hold: Arc<Mutex<Option<Arc<tokio::sync::Semaphore>>>>,
    /// How many more uploads the hold stops (`usize::MAX`: all of them).
    hold_left: Arc<AtomicUsize>,
    /// Uploads waiting at the hold.
    pub waiting: Arc<AtomicUsize>,
    /// Each key's version (bumped by every upload that lands) and body, for conditional uploads
    /// and reads.
    versions: Arc<Mutex<HashMap<String, Stored>>>,
    /// Reads answered.
    pub reads: Arc<AtomicUsize>,
    /// When set, reads fail as if the registry could not be read.
    pub reads_fail: Arc<AtomicBool>,
    /// Uploads refused because their condition failed.
    pub refused: Arc<AtomicUsize>,
    /// Whether held uploads never answer once done (a publisher that dies right after its
    /// upload reached the registry).
    held_never_answer: Arc<AtomicBool>,
}

impl RecordingRegistry {
    /// Uploads to `key`, oldest first.
    pub fn bodies(&self, key: &str) -> Vec<Vec<u8>> {
        let uploads = self.uploads.lock().unwrap();
        uploads
            .iter()
            .filter(|u| u.key == key)
            .map(|u| u.body.clone())
            .collect()
    }
    /// From now on every upload waits until [`RecordingRegistry::release`].
    pub fn hold(&self) {
        self.hold_next(usize::MAX);
    }
    /// The next `n` uploads wait until [`RecordingRegistry::release`]; later ones go through.
    pub fn hold_next(&self, n: usize) {
        self.hold_left.store(n, Ordering::SeqCst);
        *self.hold.lock().unwrap() = Some(Arc::new(tokio::sync::Semaphore::new(0)));
    }
    /// Uploads held from now on take effect when released (land or are refused) and never
    /// answer.
    pub fn held_uploads_never_answer(&self) {
        self.held_never_answer.store(true, Ordering::SeqCst);
    }
    /// Writes `body` at `key` as someone else would (a restored backup, an old deployment):
    /// a new version the table does not know.
    pub fn write_behind(&self, key: &str, body: Vec<u8>) {
        let mut versions = self.versions.lock().unwrap();
        let next = versions.get(key).map_or(0, |v| v.0) + 1;
        versions.insert(key.to_owned(), (next, body));
    }
    /// The body stored at `key` now.
    pub fn current(&self, key: &str) -> Option<Vec<u8>> {
        self.versions.lock().unwrap().get(key).map(|v| v.1.clone())
    }
    /// Lets held uploads (and all later ones) through.
    pub fn release(&self) {
        if let Some(s) = self.hold.lock().unwrap().take() {
            s.add_permits(1_000_000);
        }
    }
}

#[async_trait]
impl Publisher for RecordingRegistry {
    async fn get(&self, key: &str) -> Result<Option<Found>, RegistryError> {
        if self.reads_fail.load(Ordering::SeqCst) || self.fail.load(Ordering::SeqCst) {
            return Err(RegistryError::Unavailable(
                "registry refuses reads (test)".into(),
            ));
        }
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .versions
            .lock()
            .unwrap()
            .get(key)
            .map(|(v, body)| Found {
                body: body.clone(),
                version: v.to_string(),
            }))
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
        expect: Expect<'_>,
    ) -> Result<String, RegistryError> {
        let gate = self.hold.lock().unwrap().clone().filter(|_| {
            self.hold_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                    0 => None,
                    usize::MAX => Some(n),
                    n => Some(n - 1),
                })
                .is_ok()
        });
        let held = gate.is_some();
        if let Some(g) = gate {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let _permit = g.acquire().await.expect("not closed");
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(RegistryError::Unavailable("registry refuses (test)".into()));
        }
        let outcome = {
            let mut versions = self.versions.lock().unwrap();
            let current = versions.get(key).map(|v| v.0);
            let ok = match expect {
                Expect::Any => true,
                Expect::Absent => current.is_none(),
                Expect::Version(v) => current.map(|c| c.to_string()).as_deref() == Some(v),
            };
            if ok {
                let next = current.unwrap_or(0) + 1;
                versions.insert(key.to_owned(), (next, body.clone()));
                self.uploads.lock().unwrap().push(Upload {
                    key: key.to_owned(),
                    body,
                    content_type: content_type.to_owned(),
                    cache_control: cache_control.to_owned(),
                });
                Ok(next.to_string())
            } else {
                self.refused.fetch_add(1, Ordering::SeqCst);
                Err(RegistryError::Changed)
            }
        };
        if held && self.held_never_answer.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        outcome
    }
}

#[async_trait]
impl Registries for RecordingRegistry {
    async fn open(
        &self,
        _registry: &RegistryConfig<Secret>,
    ) -> Result<Box<dyn Publisher>, RegistryError> {
        Ok(Box::new(self.clone()))
    }
}

/// The registry of a test status service: S3 path style under `http://registry.test`.
pub fn registry_config() -> RegistryConfig<Sealed> {
    serde_json::from_value(serde_json::json!({
        "type": "aws", "bucketName": "status-lists", "region": "us-east-1",
        "endpointUrl": "http://registry.test"
    }))
    .unwrap()
}
