//! Signed status list tokens. JOSE and COSE carry ECDSA signatures as fixed-size `r || s`; KMS
//! (and the [`Signer`] trait) return DER, converted here.

use base64::Engine;
use serde_json::{json, Value};
use trustfn_signer::{Curve, Signer};

use crate::bits::{BitOrder, StatusArray};
use crate::cbor::Value as Cbor;
use crate::codec;
use crate::StatusListError;

/// Media types the published objects are served with.
pub const TSL_JWT_MEDIA_TYPE: &str = "application/statuslist+jwt";
pub const TSL_CWT_MEDIA_TYPE: &str = "application/statuslist+cwt";
pub const VC_JWT_MEDIA_TYPE: &str = "application/vc+jwt";

/// DER `Ecdsa-Sig-Value` to JOSE/COSE `r || s`, each left-padded to the curve's size.
pub fn der_to_raw(der: &[u8], curve: Curve) -> Result<Vec<u8>, StatusListError> {
    trustfn_signer::der_to_raw(der, curve).ok_or_else(|| {
        StatusListError::Sign("the signer returned a malformed DER ECDSA signature".into())
    })
}

async fn sign_raw(signer: &dyn Signer, msg: &[u8]) -> Result<Vec<u8>, StatusListError> {
    trustfn_signer::sign_raw(signer, msg)
        .await
        .map_err(|e| StatusListError::Sign(e.to_string()))
}

async fn jws(
    header: Value,
    payload: Value,
    signer: &dyn Signer,
) -> Result<String, StatusListError> {
    trustfn_signer::compact_jws(&header.to_string(), &payload.to_string(), signer)
        .await
        .map_err(|e| StatusListError::Sign(e.to_string()))
}

/// Time claims shared by every token.
#[derive(Debug, Clone)]
pub struct Claims {
    /// The list's public URI (`sub` / `id`).
    pub uri: String,
    pub iat: i64,
    pub exp: i64,
    /// Seconds a consumer may cache the list.
    pub ttl: u64,
}

/// IETF Token Status List as a JWT (`typ: statuslist+jwt`).
pub async fn tsl_jwt(
    list: &StatusArray,
    claims: &Claims,
    kid: &str,
    x5c: &[Vec<u8>],
    signer: &dyn Signer,
) -> Result<String, StatusListError> {
    debug_assert_eq!(list.order(), BitOrder::LsbFirst);
    let mut header =
        json!({"alg": signer.public_key().curve.jose_alg(), "kid": kid, "typ": "statuslist+jwt"});
    if !x5c.is_empty() {
        header["x5c"] = json!(x5c
            .iter()
            .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
            .collect::<Vec<_>>());
    }
    let payload = json!({
        "sub": claims.uri,
        "iat": claims.iat,
        "exp": claims.exp,
        "ttl": claims.ttl,
        "status_list": {"bits": list.bits(), "lst": codec::tsl_lst(list)},
    });
    jws(header, payload, signer).await
}

/// The protected header of a status list CWT: `{1: alg, 16: "application/statuslist+cwt"}`.
pub fn cwt_protected(curve: Curve) -> Vec<u8> {
    Cbor::Map(vec![
        (Cbor::Uint(1), Cbor::int(curve.cose_alg())),
        (Cbor::Uint(16), Cbor::text(TSL_CWT_MEDIA_TYPE)),
    ])
    .encode()
}

/// The CWT claims: `{2: sub, 6: iat, 4: exp, 65534: ttl, 65533: {"bits", "lst"}}`.
pub fn cwt_payload(list: &StatusArray, claims: &Claims) -> Vec<u8> {
    Cbor::Map(vec![
        (Cbor::Uint(2), Cbor::text(&claims.uri)),
        (Cbor::Uint(6), Cbor::int(claims.iat)),
        (Cbor::Uint(4), Cbor::int(claims.exp)),
        (Cbor::Uint(65534), Cbor::Uint(claims.ttl)),
        (
            Cbor::Uint(65533),
            Cbor::Map(vec![
                (Cbor::text("bits"), Cbor::Uint(list.bits() as u64)),
                (Cbor::text("lst"), Cbor::Bytes(codec::zlib(list.bytes()))),
            ]),
        ),
    ])
    .encode()
}

/// IETF Token Status List as a CWT: COSE_Sign1 (tag 18), unprotected `kid` (4) and, when given,
/// `x5chain` (33).
pub async fn tsl_cwt(
    list: &StatusArray,
    claims: &Claims,
    kid: &str,
    x5chain: &[Vec<u8>],
    signer: &dyn Signer,
) -> Result<Vec<u8>, StatusListError> {
    let protected = cwt_protected(signer.public_key().curve);
    let payload = cwt_payload(list, claims);
    let sig = sign_raw(signer, &crate::cbor::sig_structure1(&protected, &payload)).await?;
    let mut unprotected = vec![(Cbor::Uint(4), Cbor::Bytes(kid.as_bytes().to_vec()))];
    if let Some(chain) = crate::cbor::x5chain(x5chain) {
        unprotected.push((Cbor::Uint(33), chain));
    }
    Ok(Cbor::Tag(
        18,
        Box::new(Cbor::Array(vec![
            Cbor::Bytes(protected),
            Cbor::Map(unprotected),
            Cbor::Bytes(payload),
            Cbor::Bytes(sig),
        ])),
    )
    .encode())
}

/// Which W3C status list credential to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum W3cKind {
    BitstringStatusList,
    StatusList2021,
    /// The W3C CCG predecessor of StatusList2021: revocation only, index 0 in the least
    /// significant bit (the list must be `LsbFirst`).
    RevocationList2020,
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A W3C status list credential secured as a JWT: BitstringStatusList as VCDM 2.0
/// `application/vc+jwt` (the credential is the payload), StatusList2021 as a VCDM 1.1 JWT (`vc` claim).
pub async fn w3c_jwt(
    list: &StatusArray,
    kind: W3cKind,
    claims: &Claims,
    issuer: &str,
    purpose: &str,
    kid: &str,
    signer: &dyn Signer,
) -> Result<String, StatusListError> {
    debug_assert_eq!(
        list.order(),
        if kind == W3cKind::RevocationList2020 {
            BitOrder::LsbFirst
        } else {
            BitOrder::MsbFirst
        }
    );
    let alg = signer.public_key().curve.jose_alg();
    match kind {
        W3cKind::BitstringStatusList => {
            let mut subject = json!({
                "id": format!("{}#list", claims.uri),
                "type": "BitstringStatusList",
                "statusPurpose": purpose,
                "encodedList": codec::w3c_encoded_list(list, true),
                "ttl": claims.ttl * 1000,
            });
            if list.bits() > 1 {
                subject["statusSize"] = json!(list.bits());
            }
            let payload = json!({
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "id": claims.uri,
                "type": ["VerifiableCredential", "BitstringStatusListCredential"],
                "issuer": issuer,
                "validFrom": rfc3339(claims.iat),
                "validUntil": rfc3339(claims.exp),
                "credentialSubject": subject,
                "iss": issuer,
                "sub": claims.uri,
                "iat": claims.iat,
                "exp": claims.exp,
            });
            jws(
                json!({"alg": alg, "kid": kid, "typ": "vc+jwt"}),
                payload,
                signer,
            )
            .await
        }
        W3cKind::RevocationList2020 => {
            vcdm1_jwt(
                list,
                claims,
                issuer,
                kid,
                signer,
                "https://w3id.org/vc-revocation-list-2020/v1",
                "RevocationList2020",
                None,
            )
            .await
        }
        W3cKind::StatusList2021 => {
            vcdm1_jwt(
                list,
                claims,
                issuer,
                kid,
                signer,
                "https://w3id.org/vc/status-list/2021/v1",
                "StatusList2021",
                Some(purpose),
            )
            .await
        }
    }
}

/// A VCDM 1.1 status list credential as a JWT (`vc` claim): StatusList2021 and its predecessor
/// RevocationList2020 differ only in their context, type names and (RevocationList2020 has
/// none) status purpose.
#[allow(clippy::too_many_arguments)]
async fn vcdm1_jwt(
    list: &StatusArray,
    claims: &Claims,
    issuer: &str,
    kid: &str,
    signer: &dyn Signer,
    context: &str,
    list_type: &str,
    purpose: Option<&str>,
) -> Result<String, StatusListError> {
    let mut subject = json!({
        "id": format!("{}#list", claims.uri),
        "type": list_type,
        "encodedList": codec::w3c_encoded_list(list, false),
    });
    if let Some(p) = purpose {
        subject["statusPurpose"] = json!(p);
    }
    let vc = json!({
        "@context": ["https://www.w3.org/2018/credentials/v1", context],
        "id": claims.uri,
        "type": ["VerifiableCredential", format!("{list_type}Credential")],
        "issuer": issuer,
        "issuanceDate": rfc3339(claims.iat),
        "expirationDate": rfc3339(claims.exp),
        "credentialSubject": subject,
    });
    let payload = json!({
        "iss": issuer, "sub": claims.uri, "jti": claims.uri,
        "iat": claims.iat, "nbf": claims.iat, "exp": claims.exp, "vc": vc,
    });
    let alg = signer.public_key().curve.jose_alg();
    jws(
        json!({"alg": alg, "kid": kid, "typ": "JWT"}),
        payload,
        signer,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_signatures_become_fixed_size() {
        // r with a leading 0x00 (high bit set), s short (needs padding)
        let mut der = vec![0x30, 0x00, 0x02, 33, 0x00];
        der.extend([0x80u8; 32]);
        der.extend([0x02, 31]);
        der.extend([0x01u8; 31]);
        der[1] = (der.len() - 2) as u8;
        let raw = der_to_raw(&der, Curve::P256).unwrap();
        assert_eq!(raw.len(), 64);
        assert_eq!(&raw[..32], &[0x80u8; 32]);
        assert_eq!(raw[32], 0);
        assert_eq!(&raw[33..], &[0x01u8; 31]);
        assert!(der_to_raw(&[0x30, 0x02, 0x05, 0x00], Curve::P256).is_err());
        assert!(der_to_raw(&[], Curve::P256).is_err());
    }

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_686_920_170), "2023-06-16T12:56:10Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
