//! A W3C configuration's issuer `did` against its signing key (`kid`): a verifier resolves the
//! DID to find the key that must verify the list credential, so a DID naming another key makes
//! every list unverifiable. `did:jwk` and `did:key` carry the key and are compared here; other
//! methods (`did:web`, ...) need a resolver and are accepted as given.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
use base64::Engine;
use serde_json::Value;
use trustfn_signer::{Curve, PublicKey};

/// The `did:jwk` of `key`: the DID a W3C configuration issues under when it names none.
pub(crate) fn did_jwk(key: &PublicKey) -> String {
    format!("did:jwk:{}", B64U.encode(key.to_jwk().to_string()))
}

/// `Err(what it names)` when `did` embeds a key that is not `key` ("an Ed25519 (OKP) key", ...).
pub(crate) fn check(did: &str, key: &PublicKey) -> Result<(), String> {
    let did = did.split('#').next().unwrap_or(did);
    if let Some(encoded) = did.strip_prefix("did:jwk:") {
        let jwk: Value = B64U
            .decode(encoded)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("did:jwk does not hold a base64url JSON Web Key")?;
        let named = PublicKey::from_jwk(&jwk).map_err(|_| {
            let field = |k: &str| jwk.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
            format!(
                "its did:jwk holds a {} {} key, which trustfn does not sign with",
                field("crv"),
                field("kty")
            )
        })?;
        return same(&named, key);
    }
    if let Some(encoded) = did.strip_prefix("did:key:") {
        let bytes = encoded
            .strip_prefix('z')
            .and_then(base58btc)
            .ok_or("did:key is not base58btc multibase ('z...')")?;
        return match bytes.as_slice() {
            [0x80, 0x24, point @ ..] => compressed(Curve::P256, point, key),
            [0x81, 0x24, point @ ..] => compressed(Curve::P384, point, key),
            [0x82, 0x24, point @ ..] => compressed(Curve::P521, point, key),
            [0xed, 0x01, ..] => {
                Err("its did:key names an Ed25519 key, which trustfn does not sign with".into())
            }
            _ => Err("its did:key names a key type trustfn does not sign with".into()),
        };
    }
    Ok(())
}

fn same(named: &PublicKey, key: &PublicKey) -> Result<(), String> {
    if named == key {
        Ok(())
    } else {
        Err(format!("it names another {} key", named.curve.jwk_crv()))
    }
}

/// Compares a SEC1 compressed point with `key`.
fn compressed(curve: Curve, point: &[u8], key: &PublicKey) -> Result<(), String> {
    let n = curve.coordinate_len();
    if key.curve != curve || point.len() != n + 1 {
        return Err(format!("its did:key names a {} key", curve.jwk_crv()));
    }
    let (x, y) = key.point[1..].split_at(n);
    let ours = [&[0x02 | (y[n - 1] & 1)][..], x].concat();
    if ours == point {
        Ok(())
    } else {
        Err(format!("its did:key names another {} key", curve.jwk_crv()))
    }
}

/// Base58 (Bitcoin alphabet) decoding; `None` for a character outside the alphabet.
fn base58btc(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut out: Vec<u8> = Vec::new(); // little-endian base-256 digits
    for c in s.bytes() {
        let mut carry = ALPHABET.iter().position(|a| *a == c)? as u32;
        for byte in out.iter_mut() {
            carry += (*byte as u32) * 58;
            *byte = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            out.push(carry as u8);
            carry >>= 8;
        }
    }
    let zeros = s.bytes().take_while(|c| *c == b'1').count();
    out.extend(std::iter::repeat_n(0, zeros));
    out.reverse();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p256() -> PublicKey {
        // A P-256 test vector of the did:key method (w3c-ccg/did-method-key, nist-curves.json).
        PublicKey::from_jwk(&serde_json::json!({"kty": "EC", "crv": "P-256",
            "x": "igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns",
            "y": "efsX5b10x8yjyrj4ny3pGfLcY7Xby1KzgqOdqnsrJIM"}))
        .unwrap()
    }

    #[test]
    fn did_key_and_did_jwk_must_name_the_kid_key() {
        let key = p256();
        check(
            "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv",
            &key,
        )
        .unwrap();
        check(
            "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv#zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv",
            &key,
        )
        .unwrap();
        let jwk = B64U.encode(key.to_jwk().to_string());
        check(&format!("did:jwk:{jwk}#0"), &key).unwrap();
        // An Ed25519 did:key (the W3C example), another P-256 key, garbage: refused.
        let ed = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
        assert!(check(ed, &key).unwrap_err().contains("Ed25519"));
        let mut other = key.clone();
        let last = other.point.len() - 20;
        other.point[last] ^= 1;
        assert!(check(
            &format!("did:jwk:{}", B64U.encode(other.to_jwk().to_string())),
            &key
        )
        .is_err());
        assert!(check(
            "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpw",
            &key
        )
        .is_err());
        assert!(check("did:key:0OIl", &key).is_err());
        assert!(check("did:jwk:!!", &key).is_err());
        // Methods that need a resolver are taken as given.
        check("did:web:issuer.example.com", &key).unwrap();
    }
}
