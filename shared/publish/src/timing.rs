//! How long a publisher may hold its lease, and how failing publishes back off.

/// How long a publisher may hold a lease by default: shorter than the timeout of every function
/// that publishes (30 s), and never past the caller's own deadline (the lease module sees to that).
pub const LEASE_SECS: i64 = 20;

/// The publish lease in seconds: `TRUSTFN_PUBLISH_LEASE_SECONDS` (1-900), else [`LEASE_SECS`].
/// It must outlast one fold, sign and upload; the fault-injection tests shorten it. A function
/// checks the setting when it starts ([`check_lease_setting`]), so a bad value stops it there,
/// with the reason, instead of publishing with a lease nobody chose.
pub fn lease_secs() -> i64 {
    static LEASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *LEASE.get_or_init(|| {
        parse_lease(
            std::env::var("TRUSTFN_PUBLISH_LEASE_SECONDS")
                .ok()
                .as_deref(),
        )
        .unwrap_or(LEASE_SECS)
    })
}

/// `TRUSTFN_PUBLISH_LEASE_SECONDS`, checked: unset is the default; anything but a whole number of
/// seconds from 1 to 900 is an error naming the setting and the value.
pub fn check_lease_setting() -> Result<i64, String> {
    parse_lease(
        std::env::var("TRUSTFN_PUBLISH_LEASE_SECONDS")
            .ok()
            .as_deref(),
    )
}

fn parse_lease(value: Option<&str>) -> Result<i64, String> {
    let Some(v) = value else {
        return Ok(LEASE_SECS);
    };
    v.trim()
        .parse()
        .ok()
        .filter(|s| (1..=900).contains(s))
        .ok_or_else(|| {
            format!(
                "TRUSTFN_PUBLISH_LEASE_SECONDS must be a whole number of seconds from 1 to 900, not {v:?}"
            )
        })
}

/// Seconds after which the scheduled refresh takes over a change nobody published (its
/// publisher died before or while holding the lease): one lease.
pub fn grace_secs() -> i64 {
    lease_secs()
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

/// Milliseconds from `now_ms` until the lease `until` (Unix seconds) ends or the caller's
/// `deadline_ms` comes, whichever is first (negative once past).
pub fn left_ms(until: Option<i64>, deadline_ms: i64, now_ms: i64) -> i64 {
    until.map_or(i64::MIN / 2, |u| u * 1000).min(deadline_ms) - now_ms
}

/// The number after `last` for an artefact issued at `now_ms`: the issue time in Unix
/// milliseconds, or one more than `last` when that is larger. Strictly increasing within a
/// record, and still larger than every number published before should the record be lost and
/// recreated, as long as clocks run forward (a registry copy with a larger number is merged
/// before anything replaces it).
pub fn next_number(last: u64, now_ms: i64) -> u64 {
    let ms = u64::try_from(now_ms).unwrap_or(0);
    (last + 1).max(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_setting_is_the_default_when_unset_and_an_error_when_wrong() {
        assert_eq!(parse_lease(None), Ok(LEASE_SECS));
        assert_eq!(parse_lease(Some("45")), Ok(45));
        for bad in ["0", "901", "-5", "20s", "", "1.5"] {
            let e = parse_lease(Some(bad)).unwrap_err();
            assert!(
                e.contains("TRUSTFN_PUBLISH_LEASE_SECONDS") && e.contains(bad),
                "{e}"
            );
        }
    }

    #[test]
    fn failing_publishes_back_off_but_never_past_their_expiry() {
        let now = 1_000_000;
        let delays: Vec<i64> = (1..=9).map(|n| retry_time(now, n, None) - now).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        // Five minutes before the published artefact expires at the latest, never in the past.
        assert_eq!(retry_time(now, 5, Some(now + 900)), now + 600);
        assert_eq!(retry_time(now, 5, Some(now + 100)), now);
    }

    #[test]
    fn time_left_is_the_lease_or_the_deadline_whichever_ends_first() {
        assert_eq!(left_ms(Some(100), 200_000, 99_000), 1_000);
        assert_eq!(left_ms(Some(100), 99_500, 99_000), 500);
        assert_eq!(left_ms(Some(100), 200_000, 101_000), -1_000);
        assert!(left_ms(None, 200_000, 0) < 0, "no lease: no time");
    }

    #[test]
    fn numbers_only_go_up() {
        assert_eq!(next_number(5, 1_000), 1_000);
        assert_eq!(next_number(1_000, 1_000), 1_001);
        assert_eq!(next_number(u64::MAX - 1, -5), u64::MAX);
    }
}
