//! How the X.509 builder's errors answer.

use trustfn_domain::error::ApiError;
use trustfn_x509::X509Error;

/// The answer for an [`X509Error`]: the request's fault (400) for profile, key and parse errors;
/// a KMS failure is a 503 and a signature that does not verify a 502, both logged here.
pub(crate) fn x509_error(e: X509Error) -> ApiError {
    match e {
        X509Error::Profile { rule, message } => ApiError::validation(format!("{rule}: {message}")),
        X509Error::Key(m) => ApiError::validation(m),
        X509Error::Parse(m) => ApiError::validation(m),
        X509Error::Signer(m) => {
            ApiError::upstream("KMS").with_cause(format!("signing failed: {m}"))
        }
        X509Error::BadSignature => ApiError::new(
            502,
            "BadSignatureException",
            "the signing key returned an invalid signature; nothing was issued",
        )
        .with_cause("KMS returned a signature that does not verify against the key's public key"),
    }
}
