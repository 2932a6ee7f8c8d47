//! PKCS#10 certification requests (RFC 2986): the key a Document Signer is issued for when its
//! private key lives in the issuer's own HSM. Only the public key is taken from a request, and
//! only after the request's self-signature proves possession of the private key; its subject and
//! requested extensions are ignored (the certificate's come from the profile).

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::{PublicKey, X509Error};

/// The public key of a PEM `CERTIFICATE REQUEST` whose signature verifies with that key.
pub fn csr_public_key(pem: &str) -> Result<PublicKey, X509Error> {
    let der = crate::pem::decode_one(pem, "CERTIFICATE REQUEST")?;
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| X509Error::Parse(format!("not a PKCS#10 certification request ({e})")))?;
    if !rest.is_empty() {
        return Err(X509Error::Parse(
            "trailing bytes after the certification request".into(),
        ));
    }
    if csr.certification_request_info.version.0 != 0 {
        return Err(X509Error::Parse(
            "unsupported certification request version (must be v1)".into(),
        ));
    }
    let key = crate::key::from_parsed_spki(&csr.certification_request_info.subject_pki)?;
    let bad = || {
        X509Error::Parse(
            "the request's signature does not verify with its own public key (no proof of possession)"
                .into(),
        )
    };
    let info = csr.certification_request_info.raw;
    if !crate::signature::signed_by(&key, &csr.signature_algorithm, &csr.signature_value, info) {
        return Err(bad());
    }
    Ok(key)
}
