//! The check of one compact JWT (RFC 7519) as an access token of a configured issuer.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use crate::jwks::{Alg, Jwks};

/// Tokens longer than this are refused unread (an `Authorization` header is not a document).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What a token must match.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The issuer identifier, compared byte for byte with `iss`.
    pub issuer: &'a str,
    /// One of the token's `aud` values (a string or an array).
    pub audience: &'a str,
    /// Where the claims naming the caller's groups are: a claim name or a dotted path
    /// (`realm_access.roles`); its value is a string or an array of strings.
    pub roles_claim: &'a str,
    /// Where the organizations the caller belongs to are (same forms), when the deployment
    /// binds people to organizations by a claim.
    pub organizations_claim: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: i64,
}

/// Who a valid token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// `email`, only when `email_verified` is true (a mapping conditioned on an e-mail domain
    /// must not trust an address nobody verified).
    pub verified_email: Option<String>,
    /// The values of the roles claim (at most [`MAX_CLAIM_VALUES`], each at most 256 bytes).
    pub groups: Vec<String>,
    /// The values of the organizations claim; `None` when none is configured.
    pub organizations: Option<Vec<String>>,
    pub expires_at: i64,
}

/// At most this many values of the roles claim are considered.
pub const MAX_CLAIM_VALUES: usize = 64;

/// Why a token was refused. The message is safe to answer with: it never echoes the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Malformed(&'static str),
    /// `alg` other than RS256 or ES256 (`none` included), or a `crit` header.
    Algorithm(String),
    /// No key of the issuer's set has the token's `kid` (or there is no `kid` and not exactly
    /// one key of its algorithm).
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    Expired,
    NotYetValid,
    /// An ID token (or another kind of JWT) where an access token is expected.
    NotAnAccessToken,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Malformed(why) => write!(f, "malformed token: {why}"),
            Rejection::Algorithm(alg) => {
                write!(f, "token algorithm {alg:?} is not accepted (RS256, ES256)")
            }
            Rejection::UnknownKey => {
                f.write_str("token signed by a key the issuer does not publish")
            }
            Rejection::Signature => f.write_str("token signature does not verify"),
            Rejection::Issuer => f.write_str("token issuer is not the configured issuer"),
            Rejection::Audience => f.write_str("token audience does not include this API"),
            Rejection::Expired => f.write_str("token expired"),
            Rejection::NotYetValid => f.write_str("token not yet valid"),
            Rejection::NotAnAccessToken => {
                f.write_str("not an access token (an ID token is not accepted)")
            }
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
    typ: Option<String>,
}

/// The header `typ` values an access token may have: none, plain JWT (most providers), or
/// RFC 9068's `at+jwt`. Anything else (`id+jwt`, `logout+jwt`, ...) is another kind of token.
fn access_token_type(typ: Option<&str>) -> bool {
    match typ.map(|t| t.to_ascii_lowercase()) {
        None => true,
        Some(t) => matches!(t.as_str(), "jwt" | "at+jwt" | "application/at+jwt"),
    }
}

/// Claims only ID tokens carry (OpenID Connect Core: `at_hash`, `c_hash`, `nonce`), or by
/// which common providers mark them (Cognito `token_use: id`, Keycloak `typ: ID`).
fn id_token_claims(claims: &serde_json::Map<String, Value>) -> bool {
    ["at_hash", "c_hash", "nonce"]
        .iter()
        .any(|c| claims.contains_key(*c))
        || claims.get("token_use").and_then(Value::as_str) == Some("id")
        || claims
            .get("typ")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("id"))
}

/// The token's header `alg` and `kid`, read before any key is needed (to know whether the key
/// set must be fetched again for a new `kid`).
pub fn header_kid(token: &str) -> Option<String> {
    let head = token.split('.').next()?;
    let h: Header = serde_json::from_slice(&B64.decode(head).ok()?).ok()?;
    h.kid
}

/// Checks `token` against `keys` and `expected`: shape, algorithm, key, signature, then the
/// claims (`iss`, `aud`, `exp`, `nbf`, `iat`, `sub`), in that order.
pub fn verify(token: &str, keys: &Jwks, expected: &Expected<'_>) -> Result<Identity, Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::Malformed("longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed("not three dot-separated parts"));
    };
    let header: Header = B64
        .decode(h64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(Rejection::Malformed("header is not base64url JSON"))?;
    if header.crit.is_some() {
        return Err(Rejection::Algorithm("crit".to_owned()));
    }
    let alg = Alg::parse(&header.alg).ok_or_else(|| Rejection::Algorithm(header.alg.clone()))?;
    let key = keys
        .find(alg, header.kid.as_deref())
        .ok_or(Rejection::UnknownKey)?;
    let sig = B64
        .decode(s64)
        .map_err(|_| Rejection::Malformed("signature is not base64url"))?;
    let signed = &token[..h64.len() + 1 + p64.len()];
    if !key.verifies(signed.as_bytes(), &sig) {
        return Err(Rejection::Signature);
    }
    let claims: serde_json::Map<String, Value> = B64
        .decode(p64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(Rejection::Malformed(
            "payload is not a base64url JSON object",
        ))?;
    if !access_token_type(header.typ.as_deref()) || id_token_claims(&claims) {
        return Err(Rejection::NotAnAccessToken);
    }
    check_claims(&claims, expected)
}

fn check_claims(
    claims: &serde_json::Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<Identity, Rejection> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &'static str| -> Result<Option<i64>, Rejection> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or(Rejection::Malformed("a time claim is not a number")),
        }
    };
    if text("iss") != Some(expected.issuer) {
        return Err(Rejection::Issuer);
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expected.audience,
        Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(expected.audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(Rejection::Audience);
    }
    let exp = number("exp")?.ok_or(Rejection::Malformed("no exp claim"))?;
    if expected.now >= exp.saturating_add(expected.leeway) {
        return Err(Rejection::Expired);
    }
    for name in ["nbf", "iat"] {
        if number(name)?.is_some_and(|t| t > expected.now.saturating_add(expected.leeway)) {
            return Err(Rejection::NotYetValid);
        }
    }
    let subject = text("sub")
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or(Rejection::Malformed("no sub claim"))?;
    let verified_email = text("email")
        .filter(|_| claims.get("email_verified").and_then(Value::as_bool) == Some(true))
        .map(str::to_owned);
    Ok(Identity {
        issuer: expected.issuer.to_owned(),
        subject: subject.to_owned(),
        verified_email,
        groups: claim_values(claims, expected.roles_claim),
        organizations: expected
            .organizations_claim
            .map(|c| claim_values(claims, c)),
        expires_at: exp,
    })
}

/// The strings at a dotted claim path (a string, or an array whose string members count).
fn claim_values(claims: &serde_json::Map<String, Value>, path: &str) -> Vec<String> {
    let mut at = claims.get(path);
    if at.is_none() {
        let mut parts = path.split('.');
        at = parts.next().and_then(|first| claims.get(first));
        for p in parts {
            at = at.and_then(|v| v.get(p));
        }
    }
    let ok = |s: &str| !s.is_empty() && s.len() <= 256;
    match at {
        Some(Value::String(s)) if ok(s) => vec![s.clone()],
        Some(Value::Array(all)) => all
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| ok(s))
            .take(MAX_CLAIM_VALUES)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}
