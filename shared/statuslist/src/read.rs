//! Reading a published status list token back: checking its signature with the key that should
//! have signed it, then its issue time and statuses. The publisher reads what a registry holds
//! before it replaces anything it did not write itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::Value;
use trustfn_signer::PublicKey;

use crate::bits::{BitOrder, StatusArray};
use crate::cbor::Value as Cbor;
use crate::token::W3cKind;
use crate::{codec, StatusListError};

/// Which token a list is published as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    TslJwt,
    TslCwt,
    W3c(W3cKind),
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadToken {
    /// When it was issued (`iat`, Unix seconds).
    pub iat: i64,
    pub exp: Option<i64>,
    /// The list's URI (`sub`), when the token names it.
    pub uri: Option<String>,
    pub statuses: StatusArray,
}

fn bad(m: impl Into<String>) -> StatusListError {
    StatusListError::Decode(m.into())
}

/// Checks that `body` is a token of `kind` signed by `key` and reads it. `status_size` is the
/// bits per status of a W3C list (its credential does not always say).
pub fn read_token(
    body: &[u8],
    kind: TokenKind,
    key: &PublicKey,
    status_size: u8,
) -> Result<ReadToken, StatusListError> {
    match kind {
        TokenKind::TslCwt => read_cwt(body, key),
        TokenKind::TslJwt => {
            let claims = verified_jws(body, key)?;
            let list = &claims["status_list"];
            let bits = list["bits"]
                .as_u64()
                .and_then(|b| u8::try_from(b).ok())
                .ok_or_else(|| bad("status_list.bits is missing"))?;
            let lst = list["lst"]
                .as_str()
                .ok_or_else(|| bad("status_list.lst is missing"))?;
            Ok(ReadToken {
                iat: int_claim(&claims, "iat")?,
                exp: claims["exp"].as_i64(),
                uri: claims["sub"].as_str().map(str::to_owned),
                statuses: codec::tsl_decode(bits, lst)?,
            })
        }
        TokenKind::W3c(w3c) => {
            let claims = verified_jws(body, key)?;
            let subject = match w3c {
                W3cKind::BitstringStatusList => &claims["credentialSubject"],
                _ => &claims["vc"]["credentialSubject"],
            };
            let encoded = subject["encodedList"]
                .as_str()
                .ok_or_else(|| bad("credentialSubject.encodedList is missing"))?;
            let mut statuses = codec::w3c_decode(status_size, encoded)?;
            if w3c == W3cKind::RevocationList2020 {
                statuses = StatusArray::from_bytes(
                    status_size,
                    statuses.bytes().to_vec(),
                    BitOrder::LsbFirst,
                )?;
            }
            Ok(ReadToken {
                iat: int_claim(&claims, "iat")?,
                exp: claims["exp"].as_i64(),
                uri: claims["sub"].as_str().map(str::to_owned),
                statuses,
            })
        }
    }
}

fn int_claim(claims: &Value, name: &str) -> Result<i64, StatusListError> {
    claims[name]
        .as_i64()
        .ok_or_else(|| bad(format!("the {name} claim is missing")))
}

/// The claims of a compact JWS whose `alg` is the key's and whose signature verifies with it.
fn verified_jws(body: &[u8], key: &PublicKey) -> Result<Value, StatusListError> {
    let text = std::str::from_utf8(body).map_err(|e| bad(format!("not a compact JWS ({e})")))?;
    let parts: Vec<&str> = text.trim().split('.').collect();
    let [header, payload, sig] = parts[..] else {
        return Err(bad("not a compact JWS"));
    };
    let json = |part: &str, what: &str| -> Result<Value, StatusListError> {
        let raw = B64
            .decode(part)
            .map_err(|e| bad(format!("the {what} is not base64url ({e})")))?;
        serde_json::from_slice(&raw).map_err(|e| bad(format!("the {what} is not JSON ({e})")))
    };
    let alg = json(header, "header")?;
    if alg["alg"].as_str() != Some(key.curve.jose_alg()) {
        return Err(StatusListError::Signature);
    }
    let sig = B64
        .decode(sig)
        .map_err(|e| bad(format!("the signature is not base64url ({e})")))?;
    let signed = &text.trim().as_bytes()[..header.len() + 1 + payload.len()];
    if !key.verifies(signed, &sig) {
        return Err(StatusListError::Signature);
    }
    json(payload, "payload")
}

/// A COSE_Sign1 status list CWT (tag 18 optional) signed by `key`.
fn read_cwt(body: &[u8], key: &PublicKey) -> Result<ReadToken, StatusListError> {
    let msg = Cbor::decode(body).map_err(|e| bad(format!("not CBOR: {e}")))?;
    let msg = match msg {
        Cbor::Tag(18, inner) => *inner,
        other => other,
    };
    let Cbor::Array(parts) = msg else {
        return Err(bad("not a COSE_Sign1"));
    };
    let [protected, _unprotected, payload, sig] = &parts[..] else {
        return Err(bad("not a COSE_Sign1"));
    };
    let (Some(protected), Some(payload), Some(sig)) =
        (protected.as_bytes(), payload.as_bytes(), sig.as_bytes())
    else {
        return Err(bad("not a COSE_Sign1"));
    };
    let to_verify = Cbor::Array(vec![
        Cbor::text("Signature1"),
        Cbor::Bytes(protected.to_vec()),
        Cbor::Bytes(Vec::new()),
        Cbor::Bytes(payload.to_vec()),
    ])
    .encode();
    if protected != crate::token::cwt_protected(key.curve).as_slice()
        || !key.verifies(&to_verify, sig)
    {
        return Err(StatusListError::Signature);
    }
    let claims = Cbor::decode(payload).map_err(|e| bad(format!("claims: {e}")))?;
    let int = |k: u64| claims.get(&Cbor::Uint(k)).and_then(Cbor::as_int);
    let list = claims
        .get(&Cbor::Uint(65533))
        .ok_or_else(|| bad("the status_list claim is missing"))?;
    let bits = list
        .get(&Cbor::text("bits"))
        .and_then(Cbor::as_int)
        .and_then(|b| u8::try_from(b).ok())
        .ok_or_else(|| bad("status_list.bits is missing"))?;
    let lst = list
        .get(&Cbor::text("lst"))
        .and_then(Cbor::as_bytes)
        .ok_or_else(|| bad("status_list.lst is missing"))?;
    let uri = match claims.get(&Cbor::Uint(2)) {
        Some(Cbor::Text(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(ReadToken {
        iat: int(6).ok_or_else(|| bad("the iat claim is missing"))?,
        exp: int(4),
        uri,
        statuses: StatusArray::from_bytes(bits, codec::unzlib(lst)?, BitOrder::LsbFirst)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{tsl_cwt, tsl_jwt, w3c_jwt};
    use crate::Claims;
    use trustfn_signer::{Curve, Signer};
    use trustfn_testkit::LocalKey;

    fn claims() -> Claims {
        Claims {
            uri: "https://x.example/l1".into(),
            iat: 1_700_000_000,
            exp: 1_700_086_400,
            ttl: 600,
        }
    }

    fn list(order: BitOrder, bits: u8) -> StatusArray {
        let mut a = StatusArray::new(bits, 131_072, order).unwrap();
        a.set(5, 1).unwrap();
        a.set(131_071, 1).unwrap();
        a
    }

    #[tokio::test]
    async fn every_token_reads_back_with_its_key_and_no_other() {
        let (signer, other) = (LocalKey::new(Curve::P256), LocalKey::new(Curve::P256));
        let tsl = list(BitOrder::LsbFirst, 2);
        let jwt = tsl_jwt(&tsl, &claims(), "k", &[], &signer).await.unwrap();
        let cwt = tsl_cwt(&tsl, &claims(), "k", &[vec![1, 2]], &signer)
            .await
            .unwrap();
        let mut cases: Vec<(Vec<u8>, TokenKind, StatusArray, u8)> = vec![
            (jwt.into_bytes(), TokenKind::TslJwt, tsl.clone(), 2),
            (cwt, TokenKind::TslCwt, tsl, 2),
        ];
        for kind in [
            W3cKind::BitstringStatusList,
            W3cKind::StatusList2021,
            W3cKind::RevocationList2020,
        ] {
            let order = match kind {
                W3cKind::RevocationList2020 => BitOrder::LsbFirst,
                _ => BitOrder::MsbFirst,
            };
            let statuses = list(order, 1);
            let token = w3c_jwt(
                &statuses,
                kind,
                &claims(),
                "did:x",
                "revocation",
                "k",
                &signer,
            )
            .await
            .unwrap();
            cases.push((token.into_bytes(), TokenKind::W3c(kind), statuses, 1));
        }
        for (body, kind, want, bits) in cases {
            let read = read_token(&body, kind, signer.public_key(), bits).unwrap();
            assert_eq!(read.iat, 1_700_000_000, "{kind:?}");
            assert_eq!(read.exp, Some(1_700_086_400));
            assert_eq!(read.uri.as_deref(), Some("https://x.example/l1"));
            assert_eq!(read.statuses, want, "{kind:?}");
            assert_eq!(
                read_token(&body, kind, other.public_key(), bits),
                Err(StatusListError::Signature),
                "{kind:?} verifies only with its own key"
            );
            // One bit changed anywhere in the signed part: refused.
            let mut tampered = body.clone();
            let at = if kind == TokenKind::TslCwt {
                body.len() - 80
            } else {
                30
            };
            tampered[at] ^= 0x01;
            assert!(
                read_token(&tampered, kind, signer.public_key(), bits).is_err(),
                "{kind:?}"
            );
        }
        let key = signer.public_key();
        assert!(read_token(b"garbage", TokenKind::TslJwt, key, 1).is_err());
        assert!(read_token(b"\xff", TokenKind::TslCwt, key, 1).is_err());
    }
}
