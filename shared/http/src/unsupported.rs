//! Enterprise API routes trustfn deliberately does not serve. The route of last resort answers
//! them with a 400 that says why and what to use instead (README, "Differences from the walt.id
//! Enterprise API"), not the 404 of a path nobody knows.

use trustfn_domain::ApiError;

/// `(method, the path's ending after /v1/{target}/ or the whole path, why and what instead)`.
const REFUSED: [(&str, &str, &str); 2] = [
    (
        "POST",
        "/kms-service-api/keys/import/jwk",
        "keys/import/jwk: trustfn keeps no private key outside AWS KMS, so a JWK cannot be \
         imported. Adopt an existing KMS key with POST /v1/{kms}.{keyId}/kms-service-api/keys/import/aws \
         (the key tagged trustfn:adopt-by by the account's key administrator), or create one with \
         keys/generate",
    ),
    (
        "POST",
        "/auth/account/emailpass",
        "email/password login: trustfn has no accounts. Call the API with an API key \
         (apikeys-api) or the bootstrap administrator token as a Bearer token",
    ),
];

/// The refusal of a walt.id route trustfn does not serve, if `method path` is one.
pub fn refusal(method: &str, path: &str) -> Option<ApiError> {
    REFUSED.iter().find_map(|(m, ending, why)| {
        let on_target = path
            .strip_prefix("/v1/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(target, tail)| !target.is_empty() && format!("/{tail}") == *ending);
        (method == *m && (on_target || path == *ending))
            .then(|| ApiError::bad_request("UnsupportedOperation", *why))
    })
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn known_walt_routes_are_refused_with_a_reason_and_others_are_not() {
        let e = refusal("POST", "/v1/acme.t1.kms.k1/kms-service-api/keys/import/jwk").unwrap();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("keys/import/aws"), "{}", e.message);
        assert!(refusal("POST", "/auth/account/emailpass").is_some());
        assert!(refusal("GET", "/v1/acme.t1.kms.k1/kms-service-api/keys/import/jwk").is_none());
        assert!(refusal("POST", "/v1//kms-service-api/keys/import/jwk").is_none());
        assert!(refusal(
            "POST",
            "/v1/acme.t1.kms.k1/kms-service-api/keys/import/jwk/x"
        )
        .is_none());
        assert!(refusal("POST", "/v1/acme/x/kms-service-api/keys/import/jwk").is_none());
    }
}
