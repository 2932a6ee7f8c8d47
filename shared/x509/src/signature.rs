//! Verifying the signature of a certificate, a CRL or a certification request: the parser's
//! verifier (ring) for P-256 and P-384 keys, RustCrypto's for P-521 (which ring lacks), with
//! whichever SHA-2 the signature algorithm names.

use p521::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_parser::asn1_rs::BitString;
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::{Curve, PublicKey};

/// Whether `signature` (under `algorithm`) over `signed` (the DER of the signed part: the
/// TBSCertificate, TBSCertList or CertificationRequestInfo) verifies with `key`.
pub fn signed_by(
    key: &PublicKey,
    algorithm: &AlgorithmIdentifier<'_>,
    signature: &BitString<'_>,
    signed: &[u8],
) -> bool {
    if key.curve == Curve::P521 {
        return p521_verifies(
            key,
            &algorithm.algorithm.to_id_string(),
            signed,
            &signature.data,
        );
    }
    let spki_der = crate::key::spki_der(key);
    let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(&spki_der) else {
        return false;
    };
    x509_parser::verify::verify_signature(&spki, algorithm, signature, signed).is_ok()
}

/// Whether `sig_der` (an X.509 DER ECDSA signature) over `message` verifies with the P-521 `key`
/// under the signature algorithm `alg_oid` (ecdsa-with-SHA256/384/512).
fn p521_verifies(key: &PublicKey, alg_oid: &str, message: &[u8], sig_der: &[u8]) -> bool {
    let digest: Vec<u8> = match alg_oid {
        "1.2.840.10045.4.3.2" => Sha256::digest(message).to_vec(),
        "1.2.840.10045.4.3.3" => Sha384::digest(message).to_vec(),
        "1.2.840.10045.4.3.4" => Sha512::digest(message).to_vec(),
        _ => return false,
    };
    // A digest shorter than the curve's order is used as it is (SEC 1 §4.1.4): left-padded to
    // the field size it is the same integer.
    let mut prehash = vec![0u8; 66usize.saturating_sub(digest.len())];
    prehash.extend_from_slice(&digest);
    let Ok(vk) = p521::ecdsa::VerifyingKey::from_sec1_bytes(&key.point) else {
        return false;
    };
    let Ok(sig) = p521::ecdsa::Signature::from_der(sig_der) else {
        return false;
    };
    vk.verify_prehash(&prehash, &sig).is_ok()
}
