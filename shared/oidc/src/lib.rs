//! OpenID Connect access tokens, checked without a network: a JSON Web Key Set as published at an
//! issuer's `jwks_uri` ([`Jwks`]), and the check of a compact JWT against it and the issuer and
//! audience a deployment trusts ([`verify`]). Only RS256 and ES256 are accepted (what API
//! Gateway's JWT authorizer and the common providers sign with); `none`, HMAC and every other
//! algorithm are refused before any key is looked at.
//!
//! Fetching the key set (and caching it) is the caller's: see `trustfn_http::sso`.

mod jwks;
mod jwt;

pub use jwks::{Alg, Jwks};
pub use jwt::{
    header_kid, verify, Expected, Identity, Rejection, MAX_CLAIM_VALUES, MAX_TOKEN_BYTES,
};

/// Whether a bearer token has the shape of a JWT (three base64url parts, a JSON header), so it
/// is checked as one rather than as an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}
