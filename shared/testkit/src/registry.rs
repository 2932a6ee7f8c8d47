//! A status-list registry that records uploads, and can refuse them or hold them until
//! released; the registry configuration of a test status service.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use trustfn_domain::ports::{Expect, Found, Publisher, Registries, RegistryError};
use trustfn_domain::registry_config::{RegistryConfig, Sealed, Secret};

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
