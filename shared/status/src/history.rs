//! The history of a status list: every token the engine publishes is kept (in its own DynamoDB
//! item, or a larger one as a registry object the item names) with the release that records the
//! publish, for `?time=` lookups on the public status list endpoint ([`crate::serve`]). Kept for
//! the token's validity plus the retention (`TRUSTFN_STATUS_HISTORY_DAYS`, default 90; 0 keeps each
//! token only while it is valid, and `?time=` is then not offered).

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use trustfn_domain::repo::{ListVersion, Op, VersionBody, INLINE_VERSION_BYTES};
use trustfn_domain::target::Target;

/// Default days a token is kept after it expires.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// Days a token is kept after it expires: `TRUSTFN_STATUS_HISTORY_DAYS` (0 to 3650), or the default.
/// A value that does not parse is logged and the default kept (the stack's parameter is checked
/// by CloudFormation already).
pub fn retention_days() -> u32 {
    static DAYS: OnceLock<u32> = OnceLock::new();
    *DAYS.get_or_init(|| match std::env::var("TRUSTFN_STATUS_HISTORY_DAYS") {
        Err(_) => DEFAULT_RETENTION_DAYS,
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(d) if d <= 3650 => d,
            _ => {
                tracing::error!(value = %v, "TRUSTFN_STATUS_HISTORY_DAYS is not a number of days from 0 to 3650; keeping {DEFAULT_RETENTION_DAYS}");
                DEFAULT_RETENTION_DAYS
            }
        },
    })
}

/// The registry key of a kept token too large for its item.
pub(crate) fn object_key(list: &Target, iat: i64) -> String {
    let config = list.parent().expect("lists live in a configuration");
    format!("status-list-versions/{config}/{}/{iat}", list.leaf())
}

/// The version a publish of `body` keeps: inline when it fits an item, else by the URL of the
/// object [`object_key`] names under the registry's public `base`.
pub(crate) fn keep(
    list: &Target,
    body: &[u8],
    content_type: &str,
    (iat, exp, ttl): (i64, i64, u64),
    base: &str,
) -> Op {
    let body = if body.len() <= INLINE_VERSION_BYTES {
        VersionBody::Inline(body.to_vec())
    } else {
        VersionBody::Object {
            url: format!("{base}/{}", object_key(list, iat)),
            sha256: hex::encode(Sha256::digest(body)),
        }
    };
    Op::KeepVersion(ListVersion {
        list: list.clone(),
        issued_at: iat,
        expires_at: exp,
        ttl,
        content_type: content_type.to_owned(),
        body,
        keep_until: exp + i64::from(retention_days()) * 86_400,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_token_is_kept_inline_and_a_large_one_by_its_registry_url() {
        let list = Target::parse("acme.t1.st.cfg.l0001").unwrap();
        let Op::KeepVersion(v) = keep(
            &list,
            b"abc",
            "application/statuslist+jwt",
            (100, 200, 50),
            "https://r",
        ) else {
            panic!("a version")
        };
        assert_eq!(v.body, VersionBody::Inline(b"abc".to_vec()));
        assert_eq!((v.issued_at, v.expires_at, v.ttl), (100, 200, 50));
        assert_eq!(v.keep_until, 200 + 90 * 86_400);
        let big = vec![7u8; INLINE_VERSION_BYTES + 1];
        let Op::KeepVersion(v) = keep(
            &list,
            &big,
            "application/statuslist+jwt",
            (100, 200, 50),
            "https://r",
        ) else {
            panic!("a version")
        };
        assert_eq!(
            v.body,
            VersionBody::Object {
                url: "https://r/status-list-versions/acme.t1.st.cfg/l0001/100".into(),
                sha256: hex::encode(Sha256::digest(&big)),
            }
        );
    }
}
