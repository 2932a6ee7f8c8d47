//! IACA and Document Signer certificates built with a local key, checked extension by extension
//! (criticality included) with x509-parser, and as a chain with `openssl verify -x509_strict`.

use async_trait::async_trait;
use chrono::{Duration, Utc};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
};
use sha1::Digest;
use trustfn_x509::annex_b::{DS_MAX_DAYS, IACA_MAX_DAYS};
use trustfn_x509::parse::{parse_iaca, parse_iaca_pem, ParsedIaca};
use trustfn_x509::profile::IanConf;
use trustfn_x509::{Curve, DsData, IacaData, PublicKey, Signer, X509Error};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

/// A change to request data that breaks one rule.
type Edit<T> = Box<dyn FnOnce(&mut T)>;

struct LocalKey {
    pair: EcdsaKeyPair,
    public: PublicKey,
    rng: SystemRandom,
}

impl LocalKey {
    fn new(curve: Curve) -> LocalKey {
        let rng = SystemRandom::new();
        let alg = match curve {
            Curve::P256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
            Curve::P521 => unreachable!(),
        };
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let public = PublicKey::new(curve, pair.public_key().as_ref().to_vec()).unwrap();
        LocalKey { pair, public, rng }
    }
}

#[async_trait]
impl Signer for LocalKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, trustfn_x509::SignError> {
        Ok(self
            .pair
            .sign(&self.rng, message)
            .unwrap()
            .as_ref()
            .to_vec())
    }
}

fn iaca_data() -> IacaData {
    IacaData {
        country: "US".into(),
        common_name: "Example IACA".into(),
        issuer_alternative_name_conf: IanConf {
            uri: Some("https://dmv.example.gov/mdl".into()),
            email: Some("pki@example.gov".into()),
        },
        state_or_province_name: Some("US-CA".into()),
        organization_name: Some("Example DMV".into()),
        not_before: None,
        not_after: None,
        crl_distribution_point_uri: Some("https://crl.example.gov/iaca.crl".into()),
    }
}

fn ds_data() -> DsData {
    DsData {
        country: "US".into(),
        common_name: "Example DS 2026".into(),
        crl_distribution_point_uri: Some("https://crl.example.gov/iaca.crl".into()),
        state_or_province_name: Some("US-CA".into()),
        organization_name: Some("Example DMV".into()),
        locality_name: Some("Sacramento".into()),
        not_before: None,
        not_after: None,
    }
}

fn cert(der: &[u8]) -> X509Certificate<'_> {
    let (rest, c) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    c
}

fn ext<'a>(
    c: &'a X509Certificate<'a>,
    oid: &str,
) -> Option<&'a x509_parser::extensions::X509Extension<'a>> {
    c.extensions().iter().find(|e| e.oid.to_id_string() == oid)
}

fn assert_common(c: &X509Certificate<'_>, signer: &PublicKey, key: &PublicKey) {
    assert_eq!(c.version(), X509Version::V3);
    let serial = c.raw_serial();
    assert_eq!(serial.len(), 20, "serial is 20 octets");
    assert_eq!(serial[0] & 0xC0, 0x40, "serial positive with bit 6 set");
    assert_eq!(
        c.signature_algorithm.algorithm.to_id_string(),
        signer.curve.signature_oid_str()
    );
    assert_eq!(
        c.tbs_certificate.signature.algorithm.to_id_string(),
        signer.curve.signature_oid_str()
    );
    let ski = ext(c, "2.5.29.14").expect("SKI");
    assert!(!ski.critical);
    match ski.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(k) => {
            assert_eq!(k.0, sha1::Sha1::digest(&key.point).as_slice())
        }
        other => panic!("{other:?}"),
    }
    let country = c.subject().iter_country().next().unwrap();
    assert_eq!(country.attr_value().tag(), Tag::PrintableString);
    assert!(c.subject().iter_common_name().next().is_some());
}

async fn issue_pair(
    curve: Curve,
) -> (
    trustfn_x509::Issued<IacaData>,
    trustfn_x509::Issued<DsData>,
    LocalKey,
    PublicKey,
) {
    let iaca_key = LocalKey::new(curve);
    let iaca = iaca_data().issue(&iaca_key).await.unwrap();
    let parsed = parse_iaca(&iaca.der, Utc::now()).unwrap();
    let ds_key = LocalKey::new(Curve::P256).public;
    let ds = ds_data().issue(&parsed, &ds_key, &iaca_key).await.unwrap();
    (iaca, ds, iaca_key, ds_key)
}

#[tokio::test]
async fn iaca_follows_annex_b() {
    for curve in [Curve::P256, Curve::P384] {
        let (iaca, _, key, _) = issue_pair(curve).await;
        let c = cert(&iaca.der);
        assert_common(&c, &key.public, &key.public);
        assert_eq!(c.subject().as_raw(), c.issuer().as_raw(), "self-signed");
        assert_eq!(
            c.subject().to_string(),
            "C=US, ST=US-CA, O=Example DMV, CN=Example IACA"
        );
        let bc = ext(&c, "2.5.29.19").expect("BC");
        assert!(bc.critical);
        match bc.parsed_extension() {
            ParsedExtension::BasicConstraints(b) => {
                assert!(b.ca && b.path_len_constraint == Some(0))
            }
            other => panic!("{other:?}"),
        }
        let ku = ext(&c, "2.5.29.15").expect("KU");
        assert!(ku.critical);
        match ku.parsed_extension() {
            ParsedExtension::KeyUsage(k) => assert_eq!(
                k.flags,
                (1 << 5) | (1 << 6),
                "exactly keyCertSign + cRLSign"
            ),
            other => panic!("{other:?}"),
        }
        let ian = ext(&c, "2.5.29.18").expect("IAN");
        assert!(!ian.critical);
        match ian.parsed_extension() {
            ParsedExtension::IssuerAlternativeName(n) => assert_eq!(
                n.general_names,
                vec![
                    GeneralName::RFC822Name("pki@example.gov"),
                    GeneralName::URI("https://dmv.example.gov/mdl")
                ]
            ),
            other => panic!("{other:?}"),
        }
        let crl = ext(&c, "2.5.29.31").expect("CRLDP");
        assert!(!crl.critical);
        match crl.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(p) => {
                assert_eq!(p.points.len(), 1);
                assert!(p.points[0].reasons.is_none() && p.points[0].crl_issuer.is_none());
                assert!(matches!(&p.points[0].distribution_point,
                    Some(DistributionPointName::FullName(n)) if n == &vec![GeneralName::URI("https://crl.example.gov/iaca.crl")]));
            }
            other => panic!("{other:?}"),
        }
        let critical: Vec<String> = c
            .extensions()
            .iter()
            .filter(|e| e.critical)
            .map(|e| e.oid.to_id_string())
            .collect();
        assert_eq!(
            critical,
            vec!["2.5.29.19", "2.5.29.15"],
            "no other critical extension"
        );
        assert_eq!(c.extensions().len(), 5);
        let days =
            (c.validity().not_after.timestamp() - c.validity().not_before.timestamp()) / 86400;
        assert_eq!(days, IACA_MAX_DAYS, "default validity");
        assert_eq!(
            iaca.data.not_after.unwrap() - iaca.data.not_before.unwrap(),
            Duration::days(IACA_MAX_DAYS)
        );
        c.verify_signature(None).expect("self-signature verifies");
        // Our own IACA passes our own IACA check.
        parse_iaca_pem(&iaca.pem, Utc::now()).unwrap();
    }
}

#[tokio::test]
async fn document_signer_follows_annex_b() {
    for curve in [Curve::P256, Curve::P384] {
        let (iaca, ds, iaca_key, ds_key) = issue_pair(curve).await;
        let ic = cert(&iaca.der);
        let c = cert(&ds.der);
        // The signature algorithm follows the IACA key; the SKI is over the DS key.
        assert_common(&c, &iaca_key.public, &ds_key);
        assert_eq!(
            c.issuer().as_raw(),
            ic.subject().as_raw(),
            "issuer is the IACA subject, byte for byte"
        );
        assert_eq!(
            c.subject().to_string(),
            "C=US, ST=US-CA, L=Sacramento, O=Example DMV, CN=Example DS 2026"
        );
        let aki = ext(&c, "2.5.29.35").expect("AKI");
        assert!(!aki.critical);
        match aki.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                assert_eq!(
                    a.key_identifier.as_ref().unwrap().0,
                    iaca_key.public.key_identifier().as_slice()
                );
                assert!(a.authority_cert_issuer.is_none() && a.authority_cert_serial.is_none());
            }
            other => panic!("{other:?}"),
        }
        let ku = ext(&c, "2.5.29.15").expect("KU");
        assert!(ku.critical);
        match ku.parsed_extension() {
            ParsedExtension::KeyUsage(k) => assert_eq!(k.flags, 1, "exactly digitalSignature"),
            other => panic!("{other:?}"),
        }
        let eku = ext(&c, "2.5.29.37").expect("EKU");
        assert!(eku.critical);
        match eku.parsed_extension() {
            ParsedExtension::ExtendedKeyUsage(e) => {
                assert_eq!(
                    e.other.iter().map(|o| o.to_id_string()).collect::<Vec<_>>(),
                    vec!["1.0.18013.5.1.2"]
                );
                assert!(
                    !(e.any
                        || e.server_auth
                        || e.client_auth
                        || e.code_signing
                        || e.email_protection
                        || e.time_stamping
                        || e.ocsp_signing)
                );
            }
            other => panic!("{other:?}"),
        }
        let ian = ext(&c, "2.5.29.18").expect("IAN");
        assert!(!ian.critical);
        assert_eq!(
            ian.value,
            ext(&ic, "2.5.29.18").unwrap().value,
            "IAN copied from the IACA"
        );
        let crl = ext(&c, "2.5.29.31").expect("CRLDP");
        assert!(!crl.critical);
        assert!(ext(&c, "2.5.29.19").is_none(), "no basicConstraints");
        let critical: Vec<String> = c
            .extensions()
            .iter()
            .filter(|e| e.critical)
            .map(|e| e.oid.to_id_string())
            .collect();
        assert_eq!(critical, vec!["2.5.29.15", "2.5.29.37"]);
        assert_eq!(c.extensions().len(), 6);
        let days =
            (c.validity().not_after.timestamp() - c.validity().not_before.timestamp()) / 86400;
        assert_eq!(days, DS_MAX_DAYS);
        assert!(c.validity().not_before.timestamp() >= ic.validity().not_before.timestamp());
        assert!(c.validity().not_after.timestamp() <= ic.validity().not_after.timestamp());
        c.verify_signature(Some(ic.public_key()))
            .expect("DS verifies with the IACA key");
    }
}

#[tokio::test]
async fn chain_passes_openssl_x509_strict() {
    let dir = std::env::temp_dir().join(format!("trustfn-x509-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for curve in [Curve::P256, Curve::P384] {
        let (iaca, ds, _, _) = issue_pair(curve).await;
        std::fs::write(dir.join("iaca.pem"), &iaca.pem).unwrap();
        std::fs::write(dir.join("ds.pem"), &ds.pem).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["verify", "-x509_strict", "-CAfile"])
            .arg(dir.join("iaca.pem"))
            .arg(dir.join("ds.pem"))
            .output()
            .expect("openssl must be installed (infra/scripts/bootstrap.sh checks it)");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains(": OK"),
            "{curve:?}: {text}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

async fn iaca_err(f: impl FnOnce(&mut IacaData)) -> X509Error {
    let mut d = iaca_data();
    f(&mut d);
    d.issue(&LocalKey::new(Curve::P256)).await.unwrap_err()
}

fn rule_of(e: &X509Error) -> &'static str {
    match e {
        X509Error::Profile { rule, .. } => rule,
        other => panic!("expected a profile error, got {other:?}"),
    }
}

#[tokio::test]
async fn iaca_rules_are_enforced() {
    let now = Utc::now();
    let cases: Vec<(Edit<IacaData>, &str)> = vec![
        (
            Box::new(|d| d.country = "us".into()),
            "certificateData.country",
        ),
        (
            Box::new(|d| d.country = "XX".into()),
            "certificateData.country",
        ),
        (
            Box::new(|d| d.country = "USA".into()),
            "certificateData.country",
        ),
        (
            Box::new(|d| d.common_name = " ".into()),
            "certificateData.commonName",
        ),
        (
            Box::new(|d| d.common_name = "x".repeat(65)),
            "certificateData.commonName",
        ),
        (
            Box::new(|d| d.state_or_province_name = Some("".into())),
            "certificateData.stateOrProvinceName",
        ),
        (
            Box::new(|d| d.organization_name = Some("\n".into())),
            "certificateData.organizationName",
        ),
        (
            Box::new(|d| d.issuer_alternative_name_conf = IanConf::default()),
            "certificateData.issuerAlternativeNameConf",
        ),
        (
            Box::new(|d| d.issuer_alternative_name_conf.uri = Some("not a uri".into())),
            "certificateData.issuerAlternativeNameConf.uri",
        ),
        (
            Box::new(|d| d.issuer_alternative_name_conf.email = Some("nobody".into())),
            "certificateData.issuerAlternativeNameConf.email",
        ),
        (
            Box::new(|d| d.crl_distribution_point_uri = Some("ldap://x/crl".into())),
            "certificateData.crlDistributionPointUri",
        ),
        (
            Box::new(move |d| d.not_after = Some(now - Duration::days(1))),
            "certificateData.notAfter",
        ),
        (
            Box::new(move |d| {
                d.not_before = Some(now - Duration::days(10));
                d.not_after = Some(now - Duration::days(1));
            }),
            "certificateData.notAfter",
        ),
        (
            Box::new(move |d| {
                d.not_before = Some(now);
                d.not_after = Some(now + Duration::days(IACA_MAX_DAYS + 1));
            }),
            "certificateData.notAfter",
        ),
        (
            Box::new(move |d| {
                d.not_before = Some(now + Duration::days(2));
                d.not_after = Some(now + Duration::days(1));
            }),
            "certificateData.notAfter",
        ),
    ];
    for (f, want) in cases {
        assert_eq!(rule_of(&iaca_err(f).await), want);
    }
    // The longest allowed validity is fine.
    let mut d = iaca_data();
    d.not_before = Some(now);
    d.not_after = Some(now + Duration::days(IACA_MAX_DAYS));
    d.issue(&LocalKey::new(Curve::P256)).await.unwrap();
}

async fn ds_err(iaca: &ParsedIaca, key: &LocalKey, f: impl FnOnce(&mut DsData)) -> X509Error {
    let mut d = ds_data();
    f(&mut d);
    d.issue(iaca, &LocalKey::new(Curve::P256).public, key)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn document_signer_rules_are_enforced() {
    let key = LocalKey::new(Curve::P256);
    let iaca = iaca_data().issue(&key).await.unwrap();
    let parsed = parse_iaca(&iaca.der, Utc::now()).unwrap();
    let nb = parsed.not_before;
    let na = parsed.not_after;
    let now = Utc::now();
    let cases: Vec<(Edit<DsData>, &str)> = vec![
        (
            Box::new(|d| d.country = "DE".into()),
            "certificateData.country",
        ),
        (
            Box::new(|d| d.country = "de".into()),
            "certificateData.country",
        ),
        (
            Box::new(|d| d.state_or_province_name = Some("US-NY".into())),
            "certificateData.stateOrProvinceName",
        ),
        (
            Box::new(|d| d.state_or_province_name = None),
            "certificateData.stateOrProvinceName",
        ),
        (
            Box::new(|d| d.common_name = "".into()),
            "certificateData.commonName",
        ),
        (
            Box::new(|d| d.locality_name = Some(" ".into())),
            "certificateData.localityName",
        ),
        (
            Box::new(|d| d.crl_distribution_point_uri = Some("ftp://crl".into())),
            "certificateData.crlDistributionPointUri",
        ),
        (
            Box::new(|d| d.crl_distribution_point_uri = Some("https://".into())),
            "certificateData.crlDistributionPointUri",
        ),
        (
            Box::new(|d| d.crl_distribution_point_uri = None),
            "certificateData.crlDistributionPointUri",
        ),
        (
            Box::new(move |d| {
                d.not_before = Some(now);
                d.not_after = Some(now + Duration::days(DS_MAX_DAYS + 1));
            }),
            "certificateData.notAfter",
        ),
        (
            Box::new(move |d| {
                d.not_before = Some(nb - Duration::days(1));
                d.not_after = Some(nb + Duration::days(100));
            }),
            "certificateData.notBefore",
        ),
        (
            Box::new(move |d| {
                d.not_before = Some(na - Duration::days(10));
                d.not_after = Some(na + Duration::days(1));
            }),
            "certificateData.notBefore",
        ),
        (
            Box::new(move |d| d.not_after = Some(now - Duration::seconds(5))),
            "certificateData.notAfter",
        ),
    ];
    for (f, want) in cases {
        assert_eq!(rule_of(&ds_err(&parsed, &key, f).await), want);
    }
    // The wrong IACA key: refused before anything is signed.
    let other = LocalKey::new(Curve::P256);
    assert_eq!(
        rule_of(&ds_err(&parsed, &other, |_| {}).await),
        "iacaKeyDesc"
    );
    // An IACA without state: the DS must not have one either.
    let mut no_st = iaca_data();
    no_st.state_or_province_name = None;
    let iaca2 = parse_iaca(&no_st.issue(&key).await.unwrap().der, now).unwrap();
    assert_eq!(
        rule_of(&ds_err(&iaca2, &key, |_| {}).await),
        "certificateData.stateOrProvinceName"
    );
    let mut ok = ds_data();
    ok.state_or_province_name = None;
    ok.issue(&iaca2, &LocalKey::new(Curve::P256).public, &key)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_non_iaca_certificate_cannot_sign() {
    let (iaca, ds, _, _) = issue_pair(Curve::P256).await;
    let e = parse_iaca_pem(&ds.pem, Utc::now()).unwrap_err();
    assert_eq!(rule_of(&e), "iacaSigner.iacaPemEncodedCertificate");
    for bad in [
        "garbage",
        "",
        &format!("{}{}", iaca.pem, iaca.pem),
        &iaca.pem[..iaca.pem.len() / 2],
    ] {
        assert_eq!(
            rule_of(&parse_iaca_pem(bad, Utc::now()).unwrap_err()),
            "iacaSigner.iacaPemEncodedCertificate"
        );
    }
}

#[tokio::test]
async fn a_generic_csr_carries_the_subject_and_names_and_verifies_with_openssl() {
    use trustfn_x509::csr::{build_csr, csr_public_key, AltNames, CsrSubject};
    use x509_parser::certification_request::X509CertificationRequest;
    let key = LocalKey::new(Curve::P256);
    // walt.id's documented generic CSR (csr-workflows): subjectName and dnsNames.
    let subject = CsrSubject {
        common_name: "Example Leaf".into(),
        country: Some("US".into()),
        organization_name: Some("Example Org".into()),
        ..Default::default()
    };
    let names = AltNames {
        dns_names: vec!["leaf.example.com".into()],
        ip_addresses: vec!["192.0.2.7".into()],
        ..Default::default()
    };
    let (der, pem) = build_csr(&subject, &names, &key).await.unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
    assert_eq!(csr_public_key(&pem).unwrap(), key.public);
    let (_, csr) = X509CertificationRequest::from_der(&der).unwrap();
    let info = &csr.certification_request_info;
    assert_eq!(
        info.subject.to_string(),
        "C=US, O=Example Org, CN=Example Leaf"
    );
    let exts = csr.requested_extensions().unwrap().collect::<Vec<_>>();
    let ParsedExtension::SubjectAlternativeName(san) = exts[0] else {
        panic!("subjectAltName requested: {exts:?}")
    };
    assert_eq!(
        san.general_names,
        vec![
            GeneralName::DNSName("leaf.example.com"),
            GeneralName::IPAddress(&[192, 0, 2, 7])
        ]
    );
    // openssl reads it and checks its self-signature.
    let dir = std::env::temp_dir().join(format!("csr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("r.pem"), &pem).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["req", "-in"])
        .arg(dir.join("r.pem"))
        .args(["-verify", "-noout", "-text"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("DNS:leaf.example.com") && text.contains("IP Address:192.0.2.7"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).ok();

    // What does not fit is refused by field, before anything is signed.
    for (subject, names, field) in [
        (
            CsrSubject {
                common_name: " ".into(),
                ..Default::default()
            },
            AltNames::default(),
            "subjectName.commonName",
        ),
        (
            CsrSubject {
                common_name: "x".into(),
                country: Some("usa".into()),
                ..Default::default()
            },
            AltNames::default(),
            "subjectName.country",
        ),
        (
            subject.clone(),
            AltNames {
                dns_names: vec!["bad name".into()],
                ..Default::default()
            },
            "subjectAlternativeNames",
        ),
        (
            subject.clone(),
            AltNames {
                ip_addresses: vec!["300.1.1.1".into()],
                ..Default::default()
            },
            "subjectAlternativeNames",
        ),
    ] {
        let e = build_csr(&subject, &names, &key).await.unwrap_err();
        assert!(e.to_string().starts_with(field), "{field}: {e}");
    }
}
