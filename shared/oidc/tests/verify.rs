//! The token checks against keys made here: an ES256 key (ring) and an RS256 key (openssl,
//! made at run time so no private key is kept in the repository).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};
use trustfn_oidc::{verify, Expected, Jwks, Rejection};

const ISS: &str = "https://idp.example.org/realms/mdl";
const AUD: &str = "trustfn";
const NOW: i64 = 1_780_000_000;

enum Signer {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

struct Key {
    kid: &'static str,
    signer: Signer,
}

impl Key {
    fn ec(kid: &'static str) -> Key {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pk8.as_ref(),
            &rng,
        )
        .unwrap();
        Key {
            kid,
            signer: Signer::Ec(pair),
        }
    }

    fn rsa(kid: &'static str) -> Key {
        let dir = std::env::temp_dir().join(format!("trustfn-oidc-{}-{kid}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pem, der) = (dir.join("k.pem"), dir.join("k.der"));
        let run = |args: &[&str]| {
            let ok = std::process::Command::new("openssl")
                .args(args)
                .status()
                .expect("openssl on PATH");
            assert!(ok.success(), "openssl {args:?}");
        };
        run(&["genrsa", "-out", pem.to_str().unwrap(), "2048"]);
        // ring reads RSA private keys as PKCS#1 (RSAPrivateKey) DER.
        run(&[
            "rsa",
            "-in",
            pem.to_str().unwrap(),
            "-traditional",
            "-outform",
            "DER",
            "-out",
            der.to_str().unwrap(),
        ]);
        let bytes = std::fs::read(&der).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        Key {
            kid,
            signer: Signer::Rsa(RsaKeyPair::from_der(&bytes).unwrap()),
        }
    }

    fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Ec(_) => "ES256",
            Signer::Rsa(_) => "RS256",
        }
    }

    fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Ec(p) => {
                let point = p.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig",
                       "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])})
            }
            Signer::Rsa(p) => {
                let pk = p.public();
                let c: signature::RsaPublicKeyComponents<Vec<u8>> = pk.into();
                json!({"kty": "RSA", "kid": self.kid, "alg": "RS256",
                       "n": B64.encode(&c.n), "e": B64.encode(&c.e)})
            }
        }
    }

    fn sign_with_header(&self, header: Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header).unwrap()),
            B64.encode(serde_json::to_vec(claims).unwrap())
        );
        let rng = SystemRandom::new();
        let sig = match &self.signer {
            Signer::Ec(p) => p.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            Signer::Rsa(p) => {
                let mut out = vec![0; p.public().modulus_len()];
                p.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut out,
                )
                .unwrap();
                out
            }
        };
        format!("{input}.{}", B64.encode(sig))
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            json!({"alg": self.alg(), "typ": "at+jwt", "kid": self.kid}),
            claims,
        )
    }
}

fn set(keys: &[&Key]) -> Jwks {
    let doc = json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
    Jwks::parse(&serde_json::to_vec(&doc).unwrap()).unwrap()
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 300, "iat": NOW - 5,
           "groups": ["pki-officers", "auditors"], "email": "alice@dmv.example", "email_verified": true})
}

/// The check of a token whose claims are the usual ones with `k` set to `v`.
fn with_claim(
    key: &Key,
    keys: &Jwks,
    k: &str,
    v: Value,
) -> Result<trustfn_oidc::Identity, Rejection> {
    let mut c = claims();
    c[k] = v;
    verify(&key.sign(&c), keys, &expected())
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: ISS,
        audience: AUD,
        roles_claim: "groups",
        organizations_claim: None,
        now: NOW,
        leeway: 30,
    }
}

#[test]
fn tokens_of_the_issuer_verify_with_rs256_and_es256() {
    let (ec, rsa) = (Key::ec("ec-1"), Key::rsa("rsa-1"));
    let keys = set(&[&ec, &rsa]);
    assert_eq!(keys.len(), 2);
    for k in [&ec, &rsa] {
        let id = verify(&k.sign(&claims()), &keys, &expected()).unwrap();
        assert_eq!(id.subject, "alice");
        assert_eq!(id.issuer, ISS);
        assert_eq!(id.groups, ["pki-officers", "auditors"]);
        assert_eq!(id.verified_email.as_deref(), Some("alice@dmv.example"));
        assert_eq!(id.expires_at, NOW + 300);
    }
}

#[test]
fn each_claim_check_refuses_its_own_failure() {
    let ec = Key::ec("ec-1");
    let keys = set(&[&ec]);
    let with = |k: &str, v: Value| with_claim(&ec, &keys, k, v);
    assert_eq!(
        with("iss", json!("https://other.example.org")),
        Err(Rejection::Issuer)
    );
    assert_eq!(
        with("iss", json!(format!("{ISS}/"))),
        Err(Rejection::Issuer)
    );
    assert_eq!(with("aud", json!("another-api")), Err(Rejection::Audience));
    assert_eq!(with("aud", json!(["a", "b"])), Err(Rejection::Audience));
    assert!(with("aud", json!(["a", AUD])).is_ok());
    assert_eq!(with("exp", json!(NOW - 31)), Err(Rejection::Expired));
    assert!(with("exp", json!(NOW - 29)).is_ok(), "inside the leeway");
    assert_eq!(with("nbf", json!(NOW + 31)), Err(Rejection::NotYetValid));
    assert_eq!(with("iat", json!(NOW + 120)), Err(Rejection::NotYetValid));
    assert_eq!(
        with("exp", json!("tomorrow")),
        Err(Rejection::Malformed("a time claim is not a number"))
    );
    assert_eq!(
        with("sub", json!("")),
        Err(Rejection::Malformed("no sub claim"))
    );
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        verify(&ec.sign(&no_exp), &keys, &expected()),
        Err(Rejection::Malformed("no exp claim"))
    );
    // An address nobody verified is not the caller's.
    let id = with("email_verified", json!(false)).unwrap();
    assert_eq!(id.verified_email, None);
}

#[test]
fn unsigned_and_confused_algorithms_are_refused_before_any_key() {
    let ec = Key::ec("ec-1");
    let keys = set(&[&ec]);
    let body = B64.encode(serde_json::to_vec(&claims()).unwrap());
    let none = format!("{}.{body}.", B64.encode(br#"{"alg":"none","kid":"ec-1"}"#));
    assert_eq!(
        verify(&none, &keys, &expected()),
        Err(Rejection::Algorithm("none".into()))
    );
    // HS256 keyed with the public key (the classic confusion) never reaches a key.
    let hs = format!(
        "{}.{body}.AAAA",
        B64.encode(br#"{"alg":"HS256","kid":"ec-1"}"#)
    );
    assert_eq!(
        verify(&hs, &keys, &expected()),
        Err(Rejection::Algorithm("HS256".into()))
    );
    // An RS256 header on an EC key's token: no RSA key has that kid.
    let rs = ec.sign_with_header(json!({"alg": "RS256", "kid": "ec-1"}), &claims());
    assert_eq!(verify(&rs, &keys, &expected()), Err(Rejection::UnknownKey));
    let crit = ec.sign_with_header(
        json!({"alg": "ES256", "kid": "ec-1", "crit": ["exp"]}),
        &claims(),
    );
    assert_eq!(
        verify(&crit, &keys, &expected()),
        Err(Rejection::Algorithm("crit".into()))
    );
}

#[test]
fn keys_the_issuer_does_not_publish_and_altered_tokens_are_refused() {
    let (ours, theirs) = (Key::ec("ec-1"), Key::ec("ec-2"));
    let keys = set(&[&ours]);
    // Another issuer's key with its own kid.
    assert_eq!(
        verify(&theirs.sign(&claims()), &keys, &expected()),
        Err(Rejection::UnknownKey)
    );
    // Another key claiming our kid.
    let forged = theirs.sign_with_header(json!({"alg": "ES256", "kid": "ec-1"}), &claims());
    assert_eq!(
        verify(&forged, &keys, &expected()),
        Err(Rejection::Signature)
    );
    // A payload swapped under a valid signature.
    let good = ours.sign(&claims());
    let mut c = claims();
    c["groups"] = json!(["admins"]);
    let other = ours.sign(&c);
    let spliced: Vec<&str> = good.split('.').collect();
    let payload = other.split('.').nth(1).unwrap();
    let tampered = format!("{}.{payload}.{}", spliced[0], spliced[2]);
    assert_eq!(
        verify(&tampered, &keys, &expected()),
        Err(Rejection::Signature)
    );
    // Without a kid, the only key of the algorithm is used; with two, none is guessed.
    let no_kid = ours.sign_with_header(json!({"alg": "ES256"}), &claims());
    assert!(verify(&no_kid, &keys, &expected()).is_ok());
    let two = set(&[&ours, &theirs]);
    assert_eq!(
        verify(&no_kid, &two, &expected()),
        Err(Rejection::UnknownKey)
    );
}

#[test]
fn key_sets_keep_only_signature_keys_they_can_check() {
    let ec = Key::ec("ec-1");
    let mut enc = ec.jwk();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc-1");
    let mut wrong_alg = ec.jwk();
    wrong_alg["alg"] = json!("RS256");
    wrong_alg["kid"] = json!("odd");
    let doc = json!({"keys": [ec.jwk(), enc, wrong_alg,
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "tiny"}]});
    let keys = Jwks::parse(&serde_json::to_vec(&doc).unwrap()).unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys.has_kid("ec-1") && !keys.has_kid("enc-1") && !keys.has_kid("hmac"));
    assert!(Jwks::parse(b"{\"kid\": 1}").is_err());
}

#[test]
fn the_roles_claim_may_be_a_path_a_string_or_missing() {
    let ec = Key::ec("ec-1");
    let keys = set(&[&ec]);
    let mut c = claims();
    c["realm_access"] = json!({"roles": ["pki-officers", 7, ""]});
    let token = ec.sign(&c);
    let path = Expected {
        roles_claim: "realm_access.roles",
        ..expected()
    };
    assert_eq!(
        verify(&token, &keys, &path).unwrap().groups,
        ["pki-officers"]
    );
    c["role"] = json!("auditors");
    let one = Expected {
        roles_claim: "role",
        ..expected()
    };
    assert_eq!(
        verify(&ec.sign(&c), &keys, &one).unwrap().groups,
        ["auditors"]
    );
    let missing = Expected {
        roles_claim: "cognito:groups",
        ..expected()
    };
    assert!(verify(&token, &keys, &missing).unwrap().groups.is_empty());
}

#[test]
fn id_tokens_and_other_kinds_of_jwt_are_not_access_tokens() {
    let ec = Key::ec("ec-1");
    let keys = set(&[&ec]);
    let with = |k: &str, v: Value| with_claim(&ec, &keys, k, v);
    // What only ID tokens carry, and how Cognito and Keycloak mark them.
    assert_eq!(
        with("at_hash", json!("x")),
        Err(Rejection::NotAnAccessToken)
    );
    assert_eq!(with("nonce", json!("n")), Err(Rejection::NotAnAccessToken));
    assert_eq!(
        with("token_use", json!("id")),
        Err(Rejection::NotAnAccessToken)
    );
    assert_eq!(with("typ", json!("ID")), Err(Rejection::NotAnAccessToken));
    assert!(with("token_use", json!("access")).is_ok());
    assert!(with("typ", json!("Bearer")).is_ok());
    for typ in ["id+jwt", "logout+jwt", "secevent+jwt"] {
        let t = ec.sign_with_header(
            json!({"alg": "ES256", "kid": "ec-1", "typ": typ}),
            &claims(),
        );
        assert_eq!(
            verify(&t, &keys, &expected()),
            Err(Rejection::NotAnAccessToken),
            "{typ}"
        );
    }
    for typ in ["JWT", "at+jwt", "application/at+JWT"] {
        let t = ec.sign_with_header(
            json!({"alg": "ES256", "kid": "ec-1", "typ": typ}),
            &claims(),
        );
        assert!(verify(&t, &keys, &expected()).is_ok(), "{typ}");
    }
}

#[test]
fn the_organizations_claim_is_read_only_when_configured() {
    let ec = Key::ec("ec-1");
    let keys = set(&[&ec]);
    let mut c = claims();
    c["org"] = json!(["dmv-a", "dmv-c"]);
    let token = ec.sign(&c);
    assert_eq!(
        verify(&token, &keys, &expected()).unwrap().organizations,
        None
    );
    let bound = Expected {
        organizations_claim: Some("org"),
        ..expected()
    };
    assert_eq!(
        verify(&token, &keys, &bound).unwrap().organizations,
        Some(vec!["dmv-a".into(), "dmv-c".into()])
    );
    // Configured but absent: a member of no organization.
    let other = Expected {
        organizations_claim: Some("tenant"),
        ..expected()
    };
    assert_eq!(
        verify(&token, &keys, &other).unwrap().organizations,
        Some(vec![])
    );
}
