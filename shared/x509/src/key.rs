//! SubjectPublicKeyInfo forms of the EC public keys of [`trustfn_signer`].

use trustfn_signer::{Curve, PublicKey};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::der;
use crate::X509Error;

const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];

/// From DER SubjectPublicKeyInfo (what KMS `GetPublicKey` returns).
pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, X509Error> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
        .map_err(|e| X509Error::Key(format!("invalid SubjectPublicKeyInfo ({e})")))?;
    if !rest.is_empty() {
        return Err(X509Error::Key(
            "trailing bytes after SubjectPublicKeyInfo".into(),
        ));
    }
    from_parsed_spki(&spki)
}

pub(crate) fn from_parsed_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<PublicKey, X509Error> {
    if spki.algorithm.algorithm.to_id_string() != "1.2.840.10045.2.1" {
        return Err(X509Error::Key(
            "the key is not an EC key (id-ecPublicKey)".into(),
        ));
    }
    let curve_oid = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string())
        .ok_or_else(|| X509Error::Key("EC key without a named curve".into()))?;
    let curve = [Curve::P256, Curve::P384, Curve::P521]
        .into_iter()
        .find(|c| c.oid_str() == curve_oid)
        .ok_or_else(|| {
            X509Error::Key(format!(
                "unsupported curve {curve_oid}; use P-256, P-384 or P-521"
            ))
        })?;
    Ok(PublicKey::new(
        curve,
        spki.subject_public_key.data.to_vec(),
    )?)
}

/// DER SubjectPublicKeyInfo.
pub fn spki_der(key: &PublicKey) -> Vec<u8> {
    der::seq(&[
        &der::seq(&[&der::oid(EC_PUBLIC_KEY), &der::oid(key.curve.oid())]),
        &der::bits(&key.point),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_round_trips() {
        let mut point = vec![4u8];
        point.extend((0..64).map(|i| i as u8));
        let k = PublicKey::new(Curve::P256, point).unwrap();
        assert_eq!(from_spki_der(&spki_der(&k)).unwrap(), k);
        assert!(from_spki_der(&[0x30, 0x00]).is_err());
    }
}
