//! Timing shared by everything published to a registry under a lease (status lists, CRLs): how
//! long a publisher may hold its lease, when the scheduled refresh takes over from a publisher
//! that died, and how failing publishes back off.

use crate::ports::{Expect, KeyManager, Publisher, Registries, RegistryError, SecretBox};

/// Everything publishing to a registry (status lists, CRLs) needs besides the repository: KMS to
/// sign, the secret box to open registry secrets, and the registry writers.
pub struct PublishDeps<'a> {
    pub kms: &'a dyn KeyManager,
    pub secrets: &'a dyn SecretBox,
    pub registries: &'a dyn Registries,
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Unix seconds as RFC 3339 (UTC, whole seconds), as published records show times.
pub fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One upload, abandoned when `deadline` passes (the publisher's lease ran out).
pub async fn upload_within(
    publisher: &dyn Publisher,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
    cache_control: &str,
    expect: Expect<'_>,
    deadline: std::time::Duration,
) -> Result<String, RegistryError> {
    tokio::time::timeout(
        deadline,
        publisher.put(key, body, content_type, cache_control, expect),
    )
    .await
    .map_err(|_| RegistryError::Unavailable("the publish lease ran out".into()))?
}

/// How long a publisher may hold a lease by default.
pub const LEASE_SECS: i64 = 60;

/// The publish lease in seconds: `TRUSTFN_PUBLISH_LEASE_SECONDS` (1-900), else [`LEASE_SECS`].
/// It must outlast one sign-and-upload; the fault-injection tests shorten it.
pub fn lease_secs() -> i64 {
    static LEASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *LEASE.get_or_init(|| {
        std::env::var("TRUSTFN_PUBLISH_LEASE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v| (1..=900).contains(v))
            .unwrap_or(LEASE_SECS)
    })
}

/// Seconds after which the scheduled refresh takes over work nobody finished (a publisher that
/// died holding its lease): twice the lease.
pub fn grace_secs() -> i64 {
    2 * lease_secs()
}

/// When the scheduled refresh retries something whose publish failed `failures` times in a row:
/// after 1, 2, 4 ... minutes (at most an hour), so a dead registry does not take every run's
/// time, but never later than five minutes before what is published expires (`exp`).
pub fn retry_time(now: i64, failures: u32, exp: Option<i64>) -> i64 {
    let backoff = 60i64
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(3600);
    let at = now + backoff;
    match exp {
        Some(exp) => at.min(exp - 300).max(now),
        None => at,
    }
}

#[cfg(test)]
mod tests {
    use super::retry_time;

    #[test]
    fn failing_publishes_back_off_but_never_past_their_expiry() {
        let now = 1_000_000;
        let delays: Vec<i64> = (1..=9).map(|n| retry_time(now, n, None) - now).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        // Five minutes before the published list expires at the latest, and never in the past.
        assert_eq!(retry_time(now, 5, Some(now + 900)), now + 600);
        assert_eq!(retry_time(now, 5, Some(now + 100)), now);
    }
}
