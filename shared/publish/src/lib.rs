//! The publishing engine: every signed artefact trustfn publishes to a registry (status lists,
//! CRLs, next VICALs) goes through it.
//!
//! An artefact keeps one [`PublishState`] in its own record. Publishes of one artefact are
//! serialized by a lease in that state ([`lease`]): taking it is one conditional write that also
//! allocates the artefact's next number (a CRL's cRLNumber) and makes the artefact due for the
//! scheduled refresh once the lease ends, so a publisher that dies is taken over. Under the lease
//! the artefact is brought up to date (a status list folds its pending changes), built and signed,
//! and uploaded conditionally on the object version the last publisher stored ([`upload`]). When
//! the registry holds an object the table does not know (a publisher that lost its lease, a
//! restored table, a service deleted and created again at the same path), the engine reads it
//! back, has the artefact verify it with its own key and merge what it holds that the table lacks
//! (a CRL never drops a serial, a status list never clears a status nobody cleared), and only
//! then replaces it; an object that cannot be read or verified is never overwritten. The release
//! records the outcome, fenced by the lease's owner. The publish loop ([`engine::publish`])
//! coalesces changes that arrive meanwhile and is bounded by the caller's deadline; the lease
//! never outlives it.
//!
//! Artefacts plug in through [`Artefact`]. Time comes from a [`Clock`], so every schedule is
//! tested with a fake one.

pub mod artefact;
pub mod clock;
pub mod engine;
pub mod lease;
pub mod refresh;
pub mod timing;
pub mod upload;

pub use artefact::{Absorbed, Artefact, Built, Cx, Issue};
pub use clock::{Clock, FakeClock, SystemClock};
pub use engine::{publish, publish_and_wait, Outcome, Settled};
pub use refresh::{refresh, RefreshReport, Republisher};
pub use timing::{grace_secs, lease_secs, retry_time, LEASE_SECS};

use trustfn_domain::ports::{KeyManager, Registries, SecretBox};

/// Everything publishing needs besides the repository: KMS to sign, the secret box to open
/// registry secrets, the registry writers, the clock, and until when the caller may publish
/// (its invocation's deadline, less the time to answer).
pub struct PublishDeps<'a> {
    pub kms: &'a dyn KeyManager,
    pub secrets: &'a dyn SecretBox,
    pub registries: &'a dyn Registries,
    pub clock: &'a dyn Clock,
    /// Unix milliseconds of `clock`.
    pub deadline_ms: i64,
}

impl PublishDeps<'_> {
    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now_ms().div_euclid(1000)
    }
}

/// Unix seconds as RFC 3339 (UTC, whole seconds), as published records show times.
pub fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub use trustfn_domain::model::{Lease, PublishState};
