//! `GET /v1/{config}/credential-status-service-api/status-lists/{listId}` (public): a status list
//! as the IETF Token Status List draft has relying parties fetch it. The list's one media type
//! (its configuration's token: `application/statuslist+jwt`, `+cwt`, or `application/vc+jwt` for
//! the W3C lists) is negotiated with `Accept` (RFC 9110: lists, `q`, `type/*`, `*/*`; 406 when
//! it is not acceptable); `?time=<unix seconds>` answers the token that was valid then (the
//! newest issued at or before it, if it had not expired; 404 when none was, 400 for a time that
//! is not a positive integer or is in the future, 501 where the history is off). A strong ETag
//! over the bytes answers `If-None-Match` with 304, never for a token that has expired (a cache
//! must not keep serving it), and `Cache-Control` never reaches past the token's `exp` or `ttl`.
//! A token too large for its version item is answered with a redirect to its registry copy.

use sha2::{Digest, Sha256};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::StatusList;
use trustfn_domain::repo::{ListVersion, Repository, VersionBody};
use trustfn_domain::target::Target;
use trustfn_domain::Reply;
use trustfn_statuslist::token::{TSL_CWT_MEDIA_TYPE, TSL_JWT_MEDIA_TYPE, VC_JWT_MEDIA_TYPE};

/// What a relying party sent besides the path.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fetch<'a> {
    pub accept: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    /// The raw `time` query parameter.
    pub time: Option<&'a str>,
}

/// Answers a fetch of list `list_id` of configuration `config` at `now` (Unix seconds).
pub async fn serve(
    repo: &dyn Repository,
    config: &Target,
    list_id: &str,
    fetch: Fetch<'_>,
    now: i64,
) -> Result<Reply, ApiError> {
    let time = match fetch.time {
        None => None,
        Some(raw) => {
            let t = parse_time(raw, now)?;
            if crate::history::retention_days() == 0 {
                return Err(ApiError::new(
                    501,
                    "NotImplementedException",
                    "this deployment keeps no status list history (TRUSTFN_STATUS_HISTORY_DAYS is 0): time is not supported",
                ));
            }
            Some(t)
        }
    };
    let missing = || ApiError::not_found(format!("{config} has no status list {list_id}"));
    let id = config.child(list_id).map_err(|_| missing())?;
    let exists = repo
        .get(&id)
        .await?
        .is_some_and(|r| r.downcast::<StatusList>().is_ok());
    if !exists {
        return Err(missing());
    }
    let version = repo.list_version(&id, time).await?;
    let version = match (version, time) {
        (Some(v), Some(t)) if v.expires_at > t && v.keep_until >= now => v,
        (_, Some(t)) => {
            return Err(ApiError::not_found(format!(
                "no published version of {list_id} was valid at {t} (versions are kept {} days after they expire)",
                crate::history::retention_days()
            )))
        }
        (Some(v), None) => v,
        (None, None) => {
            return Err(ApiError::not_found(format!(
                "{list_id} has not been published yet"
            )))
        }
    };
    let media = media_type(&version)?;
    if !acceptable(fetch.accept, media) {
        return Err(ApiError::new(
            406,
            "NotAcceptableException",
            format!("status list {list_id} is served only as {media} (Accept: {media})"),
        ));
    }
    answer(&version, media, fetch.if_none_match, now)
}

/// `time`: a positive integer of Unix seconds, not after `now`.
fn parse_time(raw: &str, now: i64) -> Result<i64, ApiError> {
    let t = (!raw.is_empty() && raw.len() <= 12 && raw.bytes().all(|b| b.is_ascii_digit()))
        .then(|| raw.parse::<i64>().ok())
        .flatten()
        .filter(|t| *t > 0)
        .ok_or_else(|| ApiError::validation("time must be a positive integer of Unix seconds"))?;
    if t > now {
        return Err(ApiError::validation(format!(
            "time {t} is in the future (now {now}): no list can answer it yet"
        )));
    }
    Ok(t)
}

fn media_type(v: &ListVersion) -> Result<&'static str, ApiError> {
    [TSL_JWT_MEDIA_TYPE, TSL_CWT_MEDIA_TYPE, VC_JWT_MEDIA_TYPE]
        .into_iter()
        .find(|m| *m == v.content_type)
        .ok_or_else(|| {
            ApiError::internal_msg(format!(
                "kept version of {} has media type {:?}",
                v.list, v.content_type
            ))
        })
}

/// Whether `accept` (RFC 9110 §12.5.1) accepts `media`: the most specific range that matches it
/// decides, by its `q` (0: not acceptable). No header accepts anything.
pub fn acceptable(accept: Option<&str>, media: &str) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    let (kind, _) = media.split_once('/').expect("a media type has a slash");
    let mut best: Option<(u8, bool)> = None; // (specificity, accepted)
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = Some(true);
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(v.trim()).map(|q| q > 0.0);
                }
            }
        }
        let Some(accepted) = q else {
            continue; // a q that is not a qvalue: the range is ignored
        };
        let specificity = match name.split_once('/') {
            Some((t, s)) if t == kind && s == &media[kind.len() + 1..] => 3,
            Some((t, "*")) if t == kind => 2,
            Some(("*", "*")) => 1,
            _ => continue,
        };
        if best.is_none_or(|(b, _)| specificity > b) {
            best = Some((specificity, accepted));
        }
    }
    best.is_some_and(|(_, accepted)| accepted)
}

/// A qvalue: 0 to 1, at most three decimals.
fn parse_q(v: &str) -> Option<f32> {
    let ok = v.len() <= 5
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && (v.starts_with('0') || v.starts_with('1'));
    ok.then(|| v.parse::<f32>().ok())
        .flatten()
        .filter(|q| (0.0..=1.0).contains(q))
}

fn answer(
    v: &ListVersion,
    media: &'static str,
    if_none_match: Option<&str>,
    now: i64,
) -> Result<Reply, ApiError> {
    let expired = v.expires_at <= now;
    let cache = if expired {
        "no-store".to_owned()
    } else {
        let max_age = (v.ttl as i64).min(v.expires_at - now);
        format!("public, max-age={max_age}")
    };
    let common = |r: &mut Reply| {
        r.headers.push(("cache-control", cache.clone()));
        r.headers.push(("vary", "Accept".to_owned()));
        r.headers
            .push(("access-control-allow-origin", "*".to_owned()));
        r.headers
            .push(("access-control-expose-headers", "ETag".to_owned()));
    };
    match &v.body {
        VersionBody::Inline(bytes) => {
            let etag = format!("\"{}\"", hex::encode(Sha256::digest(bytes)));
            if !expired && if_none_match.is_some_and(|h| matches_etag(h, &etag)) {
                let mut r = Reply::empty(304);
                r.headers.push(("etag", etag));
                common(&mut r);
                return Ok(r);
            }
            let mut r = Reply::bytes(200, media, bytes.clone());
            r.headers.push(("etag", etag));
            common(&mut r);
            Ok(r)
        }
        VersionBody::Object { url, .. } => {
            let mut r = Reply::empty(302);
            r.headers.push(("location", url.clone()));
            common(&mut r);
            Ok(r)
        }
    }
}

/// `If-None-Match` (RFC 9110 §13.1.2): `*`, or a list of entity tags compared weakly.
fn matches_etag(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_follows_rfc_9110() {
        let jwt = TSL_JWT_MEDIA_TYPE;
        assert!(acceptable(None, jwt));
        assert!(acceptable(Some(""), jwt));
        assert!(acceptable(Some("application/statuslist+jwt"), jwt));
        assert!(acceptable(
            Some("application/statuslist+cwt, application/statuslist+jwt;q=0.5"),
            jwt
        ));
        assert!(acceptable(Some("*/*"), jwt));
        assert!(acceptable(Some("application/*;q=0.1"), jwt));
        assert!(acceptable(Some("Application/StatusList+JWT"), jwt));
        assert!(!acceptable(Some("application/statuslist+cwt"), jwt));
        assert!(!acceptable(Some("application/statuslist+jwt;q=0"), jwt));
        // The most specific range decides: excluded by name although */* is accepted.
        assert!(!acceptable(
            Some("*/*, application/statuslist+jwt;q=0"),
            jwt
        ));
        assert!(acceptable(
            Some("application/*;q=0, application/statuslist+jwt"),
            jwt
        ));
        assert!(!acceptable(Some("text/html, application/json"), jwt));
        // A q that is not a qvalue is ignored, not read as 1.
        assert!(!acceptable(Some("application/statuslist+jwt;q=2"), jwt));
        assert!(!acceptable(Some("application/statuslist+jwt;q=abc"), jwt));
    }

    #[test]
    fn time_is_a_positive_integer_not_in_the_future() {
        assert_eq!(parse_time("1686925000", 1_700_000_000).unwrap(), 1686925000);
        for bad in [
            "",
            "-1",
            "0",
            "1.5",
            "+5",
            "1e9",
            "abc",
            "9999999999999",
            " 5",
        ] {
            assert_eq!(
                parse_time(bad, 1_700_000_000).unwrap_err().status,
                400,
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_time("1700000001", 1_700_000_000).unwrap_err().status,
            400
        );
    }

    #[test]
    fn if_none_match_compares_weakly() {
        assert!(matches_etag("\"a\"", "\"a\""));
        assert!(matches_etag("\"b\", W/\"a\"", "\"a\""));
        assert!(matches_etag("*", "\"a\""));
        assert!(!matches_etag("\"b\"", "\"a\""));
    }
}
