//! What signs: the NIST curves AWS KMS offers, EC public keys (uncompressed point, JWK) and the
//! [`Signer`] trait that both the certificate builder (`trustfn-x509`) and the status-list tokens
//! (`trustfn-statuslist`) sign through, without either depending on the other. No AWS dependency.

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

/// A public key that cannot be used (wrong type, curve or encoding): the request is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The signer failed (KMS unreachable, refused, ...): not the request's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignError(pub String);

/// A private key that signs somewhere else (KMS) or here (tests).
#[async_trait]
pub trait Signer: Send + Sync {
    fn public_key(&self) -> &PublicKey;
    /// ECDSA over `message` with the curve's hash (SHA-256/384/512), DER `Ecdsa-Sig-Value`.
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// The NIST curves trustfn signs with (the ones AWS KMS offers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub fn key_type(self) -> &'static str {
        match self {
            Curve::P256 => "secp256r1",
            Curve::P384 => "secp384r1",
            Curve::P521 => "secp521r1",
        }
    }
    pub fn from_key_type(s: &str) -> Option<Curve> {
        [Curve::P256, Curve::P384, Curve::P521]
            .into_iter()
            .find(|c| c.key_type() == s)
    }
    pub fn jwk_crv(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
    pub fn oid(self) -> &'static [u64] {
        match self {
            Curve::P256 => &[1, 2, 840, 10045, 3, 1, 7],
            Curve::P384 => &[1, 3, 132, 0, 34],
            Curve::P521 => &[1, 3, 132, 0, 35],
        }
    }
    pub fn oid_str(self) -> &'static str {
        match self {
            Curve::P256 => "1.2.840.10045.3.1.7",
            Curve::P384 => "1.3.132.0.34",
            Curve::P521 => "1.3.132.0.35",
        }
    }
    /// Bytes of one coordinate.
    pub fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
    /// ecdsa-with-SHA256/384/512, the signature algorithm paired with this curve.
    pub fn signature_oid(self) -> &'static [u64] {
        match self {
            Curve::P256 => &[1, 2, 840, 10045, 4, 3, 2],
            Curve::P384 => &[1, 2, 840, 10045, 4, 3, 3],
            Curve::P521 => &[1, 2, 840, 10045, 4, 3, 4],
        }
    }
    pub fn signature_oid_str(self) -> &'static str {
        match self {
            Curve::P256 => "1.2.840.10045.4.3.2",
            Curve::P384 => "1.2.840.10045.4.3.3",
            Curve::P521 => "1.2.840.10045.4.3.4",
        }
    }
    /// The COSE algorithm number (RFC 9053: ES256 -7, ES384 -35, ES512 -36).
    pub fn cose_alg(self) -> i64 {
        match self {
            Curve::P256 => -7,
            Curve::P384 => -35,
            Curve::P521 => -36,
        }
    }
    /// The JOSE/COSE algorithm name.
    pub fn jose_alg(self) -> &'static str {
        match self {
            Curve::P256 => "ES256",
            Curve::P384 => "ES384",
            Curve::P521 => "ES512",
        }
    }
}

/// An EC public key: its curve and the uncompressed point `04 || X || Y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub curve: Curve,
    pub point: Vec<u8>,
}

impl PublicKey {
    pub fn new(curve: Curve, point: Vec<u8>) -> Result<PublicKey, KeyError> {
        if point.len() != 1 + 2 * curve.coordinate_len() || point[0] != 0x04 {
            return Err(KeyError(format!(
                "not an uncompressed {} point",
                curve.jwk_crv()
            )));
        }
        Ok(PublicKey { curve, point })
    }

    /// From a public JWK `{"kty": "EC", "crv": "P-256", "x": "...", "y": "..."}`. Private
    /// parameters are refused: a private key never belongs in a request.
    pub fn from_jwk(jwk: &Value) -> Result<PublicKey, KeyError> {
        let field = |k: &str| jwk.get(k).and_then(Value::as_str);
        if jwk.get("d").is_some() {
            return Err(KeyError(
                "the JWK holds a private key (d); send the public key only".into(),
            ));
        }
        if field("kty") != Some("EC") {
            return Err(KeyError("JWK kty must be EC".into()));
        }
        let curve = match field("crv") {
            Some("P-256") => Curve::P256,
            Some("P-384") => Curve::P384,
            Some("P-521") => Curve::P521,
            other => {
                return Err(KeyError(format!(
                    "JWK crv {other:?} is not P-256, P-384 or P-521"
                )))
            }
        };
        let coord = |k: &str| -> Result<Vec<u8>, KeyError> {
            let v = B64
                .decode(field(k).ok_or_else(|| KeyError(format!("JWK {k} is missing")))?)
                .map_err(|e| KeyError(format!("JWK {k} is not base64url ({e})")))?;
            if v.len() != curve.coordinate_len() {
                return Err(KeyError(format!(
                    "JWK {k} has {} bytes, expected {}",
                    v.len(),
                    curve.coordinate_len()
                )));
            }
            Ok(v)
        };
        let mut point = vec![0x04];
        point.extend(coord("x")?);
        point.extend(coord("y")?);
        PublicKey::new(curve, point)
    }

    pub fn to_jwk(&self) -> Value {
        let n = self.curve.coordinate_len();
        json!({
            "kty": "EC",
            "crv": self.curve.jwk_crv(),
            "x": B64.encode(&self.point[1..1 + n]),
            "y": B64.encode(&self.point[1 + n..]),
        })
    }

    /// The ISO 18013-5 / RFC 5280 method-1 key identifier: SHA-1 of the public key bits.
    pub fn key_identifier(&self) -> Vec<u8> {
        Sha1::digest(&self.point).to_vec()
    }

    /// Whether `signature`, a JOSE/COSE ECDSA signature (`r || s`, each the curve's size), over
    /// `message` with the curve's hash (ES256, ES384, ES512) verifies with this key.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        use ring::signature::{
            UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED,
        };
        match self.curve {
            Curve::P256 => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.point)
                .verify(message, signature)
                .is_ok(),
            Curve::P384 => UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &self.point)
                .verify(message, signature)
                .is_ok(),
            Curve::P521 => {
                use p521::ecdsa::signature::Verifier;
                let Ok(key) = p521::ecdsa::VerifyingKey::from_sec1_bytes(&self.point) else {
                    return false;
                };
                let Ok(sig) = p521::ecdsa::Signature::from_slice(signature) else {
                    return false;
                };
                key.verify(message, &sig).is_ok()
            }
        }
    }
}

/// Signs `message` with `signer` and answers the signature as JOSE/COSE carry it (`r || s`).
pub async fn sign_raw(signer: &dyn Signer, message: &[u8]) -> Result<Vec<u8>, SignError> {
    let der = signer.sign(message).await?;
    der_to_raw(&der, signer.public_key().curve)
        .ok_or_else(|| SignError("the signer returned a malformed DER ECDSA signature".into()))
}

/// A compact JWS of the JSON texts `header` and `payload`, signed by `signer`.
pub async fn compact_jws(
    header: &str,
    payload: &str,
    signer: &dyn Signer,
) -> Result<String, SignError> {
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = sign_raw(signer, input.as_bytes()).await?;
    Ok(format!("{input}.{}", B64.encode(sig)))
}

/// DER `Ecdsa-Sig-Value` to JOSE/COSE `r || s`, each left-padded to the curve's size.
pub fn der_to_raw(der: &[u8], curve: Curve) -> Option<Vec<u8>> {
    let n = curve.coordinate_len();
    // SEQUENCE, length (short or 0x81 long form)
    let (body, rest) = match der {
        [0x30, 0x81, len, rest @ ..] => (*len as usize, rest),
        [0x30, len, rest @ ..] if *len < 0x80 => (*len as usize, rest),
        _ => return None,
    };
    if rest.len() != body {
        return None;
    }
    let mut out = Vec::with_capacity(2 * n);
    let mut p = rest;
    for _ in 0..2 {
        let [0x02, len, tail @ ..] = p else {
            return None;
        };
        let len = *len as usize;
        if tail.len() < len || len == 0 {
            return None;
        }
        let int = &tail[..len];
        let int = if int.len() > 1 && int[0] == 0 {
            &int[1..]
        } else {
            int
        };
        if int.len() > n {
            return None;
        }
        out.extend(std::iter::repeat_n(0u8, n - int.len()));
        out.extend(int);
        p = &tail[len..];
    }
    if !p.is_empty() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwk_round_trips() {
        let mut point = vec![4u8];
        point.extend((0..64).map(|i| i as u8));
        let k = PublicKey::new(Curve::P256, point).unwrap();
        assert_eq!(PublicKey::from_jwk(&k.to_jwk()).unwrap(), k);
        assert_eq!(k.key_identifier().len(), 20);
        assert!(PublicKey::new(Curve::P384, vec![4u8; 65]).is_err());
        for c in [Curve::P256, Curve::P384, Curve::P521] {
            assert_eq!(Curve::from_key_type(c.key_type()), Some(c));
        }
    }

    #[test]
    fn fixed_size_signatures_verify_with_their_key_only() {
        use ring::rand::SystemRandom;
        use ring::signature::{EcdsaKeyPair, KeyPair};
        let rng = SystemRandom::new();
        for (curve, alg) in [
            (
                Curve::P256,
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            ),
            (
                Curve::P384,
                &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            ),
        ] {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
            let key = PublicKey::new(curve, pair.public_key().as_ref().to_vec()).unwrap();
            let sig = pair.sign(&rng, b"statuses").unwrap();
            assert!(key.verifies(b"statuses", sig.as_ref()));
            assert!(!key.verifies(b"statuseS", sig.as_ref()));
            let mut bad = sig.as_ref().to_vec();
            bad[5] ^= 1;
            assert!(!key.verifies(b"statuses", &bad));
        }
        let sk = p521::ecdsa::SigningKey::from_slice(&[1u8; 66]).unwrap();
        let vk = p521::ecdsa::VerifyingKey::from(&sk);
        let key =
            PublicKey::new(Curve::P521, vk.to_encoded_point(false).as_bytes().to_vec()).unwrap();
        use p521::ecdsa::signature::Signer as _;
        let sig: p521::ecdsa::Signature = sk.sign(b"statuses");
        assert!(key.verifies(b"statuses", &sig.to_bytes()));
        assert!(!key.verifies(b"other", &sig.to_bytes()));
    }

    #[test]
    fn rejects_bad_jwks() {
        let good = PublicKey::new(Curve::P384, [vec![4u8], vec![7u8; 96]].concat())
            .unwrap()
            .to_jwk();
        let mut private = good.clone();
        private["d"] = json!("AAAA");
        assert!(PublicKey::from_jwk(&private)
            .unwrap_err()
            .to_string()
            .contains("private"));
        let mut wrong_crv = good.clone();
        wrong_crv["crv"] = json!("secp256k1");
        assert!(PublicKey::from_jwk(&wrong_crv).is_err());
        let mut short = good.clone();
        short["x"] = json!("AAAA");
        assert!(PublicKey::from_jwk(&short).is_err());
        assert!(PublicKey::from_jwk(&json!({"kty": "RSA"})).is_err());
    }
}
