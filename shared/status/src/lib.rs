//! The Credential Status service: status credential configurations, entry allocation, status
//! updates, and publishing signed lists to a registry (S3, Azure Blob, GCS) behind the
//! [`trustfn_domain::ports::Registries`] port.
//!
//! A configuration `{service}.{configId}` owns lists `{service}.{configId}.{listId}`. A list
//! record holds its packed statuses and its allocation bitmap (both zlib-compressed, hidden
//! fields), a status version, and what was last published. An update never writes the list
//! record: it stores its changes as a pending item. Publishing is serialized per list with a lease
//! and coalesced: whoever holds the lease folds every pending change into the list, publishes,
//! and loops until nothing is pending, so a burst of updates costs a few publishes and none is
//! lost. Pending changes nobody folded (a crashed publisher) are due for the scheduled refresh.

pub mod config;
mod did;
pub mod entries;
mod lease;
mod list;
pub mod publish;
pub mod refresh;
pub mod update;
pub mod view;

use rand::Rng;

pub use publish::publish;
pub use refresh::{refresh, RefreshReport};

/// Default entries per list (the W3C minimum).
pub const DEFAULT_SIZE: u64 = 131_072;
pub const MAX_SIZE: u64 = 1 << 24;
pub const DEFAULT_TTL: u64 = 12 * 3600;
pub const DEFAULT_VALIDITY: u64 = 24 * 3600;
/// Most entries one allocation call hands out.
pub const MAX_ALLOCATION: u64 = 1000;
/// Most updates in one batch.
pub const MAX_BATCH: usize = 1000;
pub use trustfn_domain::publishing::LEASE_SECS;
pub(crate) use trustfn_domain::publishing::{grace_secs, lease_secs};

/// Exponential backoff with full jitter: a random pause up to 5 ms · 2^attempt, capped at 250 ms.
pub(crate) fn backoff(attempt: u32) -> std::time::Duration {
    let cap = (5u64 << attempt.min(6)).min(250);
    std::time::Duration::from_millis(rand::rng().random_range(1..=cap))
}

pub(crate) use trustfn_domain::publishing::{now, rfc3339, PublishDeps};
