//! The Credential Status service: status credential configurations, entry allocation, status
//! updates, and publishing signed lists to a registry (S3, Azure Blob, GCS) through the
//! publishing engine (`trustfn-publish`).
//!
//! A configuration `{service}.{configId}` owns lists `{service}.{configId}.{listId}`. A list's
//! statuses live in chunk items, its allocations in a counter item, and its publish state in its
//! record. An update never writes the list record: it stores its changes as a pending item named
//! by the list's change sequence (an atomic counter), so concurrent updates never contend for the
//! list and are folded in the order DynamoDB numbered them. Whoever holds the list's publish lease
//! folds every pending change into the list, publishes, and loops while changes arrive, so a
//! burst of updates costs a few publishes and none is lost; the update answers whether its own
//! change is published. Pending changes nobody folded (a crashed publisher) are due for the
//! scheduled refresh once a lease would have ended.

pub mod answer;
pub mod config;
mod did;
pub mod entries;
pub mod history;
mod list;
pub mod publish;
mod refresh;
pub mod serve;
pub mod update;
pub mod view;

use rand::Rng;

pub use publish::{publish, StatusLists};

/// Default entries per list (the W3C minimum).
pub const DEFAULT_SIZE: u64 = 131_072;
pub const MAX_SIZE: u64 = 1 << 24;
pub const DEFAULT_TTL: u64 = 12 * 3600;
pub const DEFAULT_VALIDITY: u64 = 24 * 3600;
/// Most entries one allocation call hands out.
pub const MAX_ALLOCATION: u64 = 1000;
/// Most updates in one batch.
pub const MAX_BATCH: usize = 1000;

/// Exponential backoff with full jitter: a random pause up to 5 ms · 2^attempt, capped at 250 ms.
pub(crate) fn backoff(attempt: u32) -> std::time::Duration {
    let cap = (5u64 << attempt.min(6)).min(250);
    std::time::Duration::from_millis(rand::rng().random_range(1..=cap))
}

pub(crate) use trustfn_publish::{grace_secs, PublishDeps};
