//! A JSON Web Key Set (RFC 7517) reduced to the signature keys trustfn can check.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::signature::{self, UnparsedPublicKey};
use serde::Deserialize;

/// The algorithms a token may be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, keys of 2048 to 8192 bits.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Alg {
    pub fn parse(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }
}

/// One verification key.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub kid: Option<String>,
    pub alg: Alg,
    public: Public,
}

#[derive(Debug, Clone)]
enum Public {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// The uncompressed SEC1 point.
    Ec(Vec<u8>),
}

impl Key {
    pub fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.public {
            Public::Rsa { n, e } => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            Public::Ec(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
                .is_ok(),
        }
    }
}

/// The signature keys of a key set. Keys for encryption (`use: enc`), of other types or
/// curves, or with an `alg` trustfn does not accept are left out, not errors: a provider's set
/// often carries them beside the signing keys.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    pub(crate) keys: Vec<Key>,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl Jwks {
    /// Parses a key set document; an error only when it is not `{"keys": [...]}`.
    pub fn parse(json: &[u8]) -> Result<Jwks, String> {
        let set: RawSet =
            serde_json::from_slice(json).map_err(|e| format!("not a JWK set: {e}"))?;
        let keys = set
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value::<RawKey>(v).ok())
            .filter_map(|k| k.into_key())
            .collect();
        Ok(Jwks { keys })
    }

    /// How many usable signature keys the set has.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether the set has a key with this id.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key a token's header names: by `kid` when it has one, else the only key of its
    /// algorithm. A key whose type does not fit the algorithm is never chosen.
    pub(crate) fn find(&self, alg: Alg, kid: Option<&str>) -> Option<&Key> {
        let mut fitting = self.keys.iter().filter(|k| k.alg == alg);
        match kid {
            Some(kid) => fitting.find(|k| k.kid.as_deref() == Some(kid)),
            None => {
                let first = fitting.next()?;
                fitting.next().is_none().then_some(first)
            }
        }
    }
}

impl RawKey {
    fn into_key(self) -> Option<Key> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let b = |s: &Option<String>| s.as_deref().and_then(|s| B64.decode(s).ok());
        let (alg, public) = match self.kty.as_str() {
            "RSA" => {
                let (n, e) = (b(&self.n)?, b(&self.e)?);
                // ring checks the size again at verification; a short modulus is no key.
                if n.len() < 256 {
                    return None;
                }
                (Alg::Rs256, Public::Rsa { n, e })
            }
            "EC" if self.crv.as_deref() == Some("P-256") => {
                let (x, y) = (b(&self.x)?, b(&self.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = vec![0x04];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (Alg::Es256, Public::Ec(point))
            }
            _ => return None,
        };
        if let Some(named) = &self.alg {
            if Alg::parse(named) != Some(alg) {
                return None;
            }
        }
        Some(Key {
            kid: self.kid,
            alg,
            public,
        })
    }
}
