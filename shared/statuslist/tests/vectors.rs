//! IETF draft test vectors, the spec's CWT bytes, and signatures checked with an independent
//! verifier (ring, fixed-size r||s).

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use serde_json::Value;
use trustfn_signer::{Curve, PublicKey, SignError, Signer};
use trustfn_statuslist::bits::{BitOrder, StatusArray};
use trustfn_statuslist::{codec, token, Claims, W3cKind};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn ietf_vectors_decode_to_exactly_the_listed_statuses() {
    let vectors: Value = serde_json::from_str(include_str!("ietf-vectors.json")).unwrap();
    let vectors = vectors.as_object().unwrap();
    assert!(vectors.len() >= 6);
    for (name, v) in vectors {
        let bits = v["bits"].as_u64().unwrap() as u8;
        let list = codec::tsl_decode(bits, v["lst"].as_str().unwrap()).unwrap();
        let set: Vec<(usize, u8)> = v["set"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_u64().unwrap() as usize,
                    p[1].as_u64().unwrap() as u8,
                )
            })
            .collect();
        let mut expected = StatusArray::new(bits, list.capacity(), BitOrder::LsbFirst).unwrap();
        for (i, val) in &set {
            expected.set(*i, *val).unwrap();
            assert_eq!(list.get(*i).unwrap(), *val, "{name}[{i}]");
        }
        assert_eq!(
            list, expected,
            "{name}: statuses outside the listed ones are non-zero"
        );
        // Our encoder's output decodes to the same statuses (bytes may differ by zlib backend).
        assert_eq!(
            codec::tsl_decode(bits, &codec::tsl_lst(&expected)).unwrap(),
            expected,
            "{name}"
        );
        if name.starts_with("1short") {
            assert_eq!(list.capacity(), 16);
        } else if !name.contains("short") {
            assert_eq!(list.capacity(), 1 << 20, "{name}");
        }
    }
}

#[test]
fn cwt_header_and_claims_match_the_spec_example() {
    // draft-ietf-oauth-status-list examples/status_list_cwt.md
    let mut list = StatusArray::new(1, 16, BitOrder::LsbFirst).unwrap();
    for (i, v) in [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
        .into_iter()
        .enumerate()
    {
        list.set(i, v).unwrap();
    }
    let claims = Claims {
        uri: "https://example.com/statuslists/1".into(),
        iat: 1686920170,
        exp: 2291720170,
        ttl: 43200,
    };
    assert_eq!(
        hex(&token::cwt_protected(Curve::P256)),
        "a2012610781a6170706c69636174696f6e2f7374617475736c6973742b637774"
    );
    assert_eq!(
        hex(&token::cwt_payload(&list, &claims)),
        "a502782168747470733a2f2f6578616d706c652e636f6d2f7374617475736c697374732f31061a648c5bea041a8898dfea19fffe19a8c019fffda2646269747301636c73744a78dadbb918000217015d"
    );
}

struct LocalKey {
    pair: EcdsaKeyPair,
    public: PublicKey,
    rng: SystemRandom,
}

impl LocalKey {
    fn p256() -> LocalKey {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        let public = PublicKey::new(Curve::P256, pair.public_key().as_ref().to_vec()).unwrap();
        LocalKey { pair, public, rng }
    }
}

#[async_trait]
impl Signer for LocalKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
    async fn sign(&self, m: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.pair.sign(&self.rng, m).unwrap().as_ref().to_vec())
    }
}

fn verify_jws(jwt: &str, key: &PublicKey) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let sig = B64.decode(parts[2]).unwrap();
    assert_eq!(sig.len(), 64, "JOSE ES256 signatures are raw r||s");
    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &key.point)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("signature verifies");
    let dec = |p: &str| serde_json::from_slice::<Value>(&B64.decode(p).unwrap()).unwrap();
    (dec(parts[0]), dec(parts[1]))
}

fn claims() -> Claims {
    Claims {
        uri: "https://status.example.com/lists/abc".into(),
        iat: 1_800_000_000,
        exp: 1_800_086_400,
        ttl: 43_200,
    }
}

#[tokio::test]
async fn tsl_jwt_is_signed_and_decodes() {
    let key = LocalKey::p256();
    let mut list = StatusArray::new(2, 1 << 17, BitOrder::LsbFirst).unwrap();
    list.set(42, 1).unwrap();
    list.set(131_071, 2).unwrap();
    let jwt = token::tsl_jwt(&list, &claims(), "org.t.kms.k1", &[], &key)
        .await
        .unwrap();
    let (h, p) = verify_jws(&jwt, &key.public);
    assert_eq!(
        (h["typ"].as_str(), h["alg"].as_str(), h["kid"].as_str()),
        (Some("statuslist+jwt"), Some("ES256"), Some("org.t.kms.k1"))
    );
    assert_eq!(p["sub"], "https://status.example.com/lists/abc");
    assert_eq!(
        (p["iat"].as_i64(), p["exp"].as_i64(), p["ttl"].as_u64()),
        (Some(1_800_000_000), Some(1_800_086_400), Some(43_200))
    );
    let decoded = codec::tsl_decode(
        p["status_list"]["bits"].as_u64().unwrap() as u8,
        p["status_list"]["lst"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(decoded, list);
}

#[tokio::test]
async fn tsl_cwt_signature_covers_the_sig_structure() {
    let key = LocalKey::p256();
    let list = StatusArray::new(1, 1 << 17, BitOrder::LsbFirst).unwrap();
    let cwt = token::tsl_cwt(&list, &claims(), "k1", &[vec![0x30, 0x00]], &key)
        .await
        .unwrap();
    assert_eq!(&cwt[..2], &[0xD2, 0x84], "tag 18, array of 4");
    let protected = token::cwt_protected(Curve::P256);
    let payload = token::cwt_payload(&list, &claims());
    let sig = &cwt[cwt.len() - 64..];
    // Sig_structure = ["Signature1", protected, h'', payload], written out by hand (RFC 9052 §4.4).
    let bstr = |b: &[u8]| -> Vec<u8> {
        let mut out = match b.len() {
            n @ 0..=23 => vec![0x40 | n as u8],
            n @ 24..=255 => vec![0x58, n as u8],
            n => vec![0x59, (n >> 8) as u8, n as u8],
        };
        out.extend(b);
        out
    };
    let mut to_sign = vec![0x84, 0x6A];
    to_sign.extend(b"Signature1");
    to_sign.extend(bstr(&protected));
    to_sign.extend(bstr(&[]));
    to_sign.extend(bstr(&payload));
    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &key.public.point)
        .verify(&to_sign, sig)
        .expect("COSE signature verifies");
}

#[tokio::test]
async fn w3c_credentials_are_signed_and_decode_msb_first() {
    let key = LocalKey::p256();
    let mut list = StatusArray::new(1, 131_072, BitOrder::MsbFirst).unwrap();
    for i in [0, 7, 8, 94_567, 131_071] {
        list.set(i, 1).unwrap();
    }
    let jwt = token::w3c_jwt(
        &list,
        W3cKind::BitstringStatusList,
        &claims(),
        "did:web:example.com",
        "revocation",
        "k1",
        &key,
    )
    .await
    .unwrap();
    let (h, p) = verify_jws(&jwt, &key.public);
    assert_eq!(h["typ"], "vc+jwt");
    assert_eq!(p["type"][1], "BitstringStatusListCredential");
    assert_eq!(p["validUntil"], "2027-01-16T08:00:00Z");
    let subject = &p["credentialSubject"];
    assert_eq!(
        (subject["type"].as_str(), subject["statusPurpose"].as_str()),
        (Some("BitstringStatusList"), Some("revocation"))
    );
    assert_eq!(subject["ttl"], 43_200_000, "W3C ttl is in milliseconds");
    let enc = subject["encodedList"].as_str().unwrap();
    assert!(enc.starts_with('u'));
    let bytes = codec::w3c_decode(1, enc).unwrap();
    assert_eq!(
        (
            bytes.bytes()[0],
            bytes.bytes()[1],
            bytes.bytes()[11820],
            bytes.bytes()[16383]
        ),
        (0x81, 0x80, 0x01, 0x01)
    );

    let jwt = token::w3c_jwt(
        &list,
        W3cKind::StatusList2021,
        &claims(),
        "did:web:example.com",
        "suspension",
        "k1",
        &key,
    )
    .await
    .unwrap();
    let (_, p) = verify_jws(&jwt, &key.public);
    assert_eq!(p["vc"]["type"][1], "StatusList2021Credential");
    let enc = p["vc"]["credentialSubject"]["encodedList"]
        .as_str()
        .unwrap();
    assert!(
        !enc.starts_with('u'),
        "StatusList2021 has no multibase prefix"
    );
    assert_eq!(codec::w3c_decode(1, enc).unwrap(), list);
}
