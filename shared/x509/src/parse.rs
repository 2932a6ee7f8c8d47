//! Reading certificates: facts for store records, the IACA profile check applied to a caller's
//! IACA before it may sign a Document Signer, and signature verification.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

use crate::annex_b::{IACA_MAX_DAYS, MDL_DS_EKU};
use crate::PublicKey;
use crate::{rule, X509Error};

/// What a store record shows about a certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub subject: String,
    pub issuer: String,
    /// The serial number's content bytes.
    pub serial: Vec<u8>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub sha256: String,
}

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, X509Error> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| X509Error::Parse(format!("not a valid X.509 certificate ({e})")))?;
    if !rest.is_empty() {
        return Err(X509Error::Parse(
            "trailing data after the certificate".into(),
        ));
    }
    Ok(cert)
}

fn time(t: x509_parser::time::ASN1Time) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or_default()
}

/// Parses one certificate (DER) into its facts.
pub fn facts(der: &[u8]) -> Result<Facts, X509Error> {
    let cert = parse_der(der)?;
    Ok(Facts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial().to_vec(),
        not_before: time(cert.validity().not_before),
        not_after: time(cert.validity().not_after),
        sha256: hex(&Sha256::digest(der)),
    })
}

/// Lower-case hex, as fingerprints are shown.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether a certificate carries the mdlDS extended key usage (an ISO 18013-5 Document Signer).
pub fn is_mdl_document_signer(der: &[u8]) -> bool {
    let Ok(cert) = parse_der(der) else {
        return false;
    };
    let ds = MDL_DS_EKU
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(".");
    cert.extended_key_usage()
        .ok()
        .flatten()
        .is_some_and(|eku| eku.value.other.iter().any(|o| o.to_id_string() == ds))
}

/// The public key a certificate certifies (EC keys on the curves trustfn signs with).
pub fn public_key(der: &[u8]) -> Result<PublicKey, X509Error> {
    crate::key::from_parsed_spki(parse_der(der)?.public_key())
}

/// Verifies that `cert_der` is signed by `key` (every curve, see [`crate::signature`]).
pub fn verify_signed_by(cert_der: &[u8], key: &PublicKey) -> Result<(), X509Error> {
    let cert = parse_der(cert_der)?;
    let tbs = cert.tbs_certificate.as_ref();
    match crate::signature::signed_by(key, &cert.signature_algorithm, &cert.signature_value, tbs) {
        true => Ok(()),
        false => Err(X509Error::BadSignature),
    }
}

/// An IACA certificate that passed the profile check, with what a Document Signer copies from it.
#[derive(Debug, Clone)]
pub struct ParsedIaca {
    /// The subject Name, DER, byte for byte (becomes the DS issuer).
    pub subject: Vec<u8>,
    pub subject_key_identifier: Vec<u8>,
    /// The issuerAltName extension value, DER (copied into the DS).
    pub issuer_alternative_name: Vec<u8>,
    pub country: String,
    pub state_or_province_name: Option<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub public_key: PublicKey,
}

const R: &str = "iacaSigner.iacaPemEncodedCertificate";

/// Parses a PEM IACA and checks it against the ISO 18013-5 IACA profile (B.1.2).
pub fn parse_iaca_pem(pem: &str, now: DateTime<Utc>) -> Result<ParsedIaca, X509Error> {
    let der = crate::pem::decode_one_certificate(pem).map_err(|e| rule(R, e.to_string()))?;
    parse_iaca(&der, now)
}

pub fn parse_iaca(der: &[u8], now: DateTime<Utc>) -> Result<ParsedIaca, X509Error> {
    let bad = |m: String| rule(R, m);
    let cert = parse_der(der).map_err(|e| bad(e.to_string()))?;
    if cert.version() != X509Version::V3 {
        return Err(bad("the IACA must be an X.509 v3 certificate".into()));
    }
    let serial = cert.raw_serial();
    if serial.is_empty()
        || serial.len() > 20
        || serial[0] & 0x80 != 0
        || serial.iter().all(|b| *b == 0)
    {
        return Err(bad(
            "the serial number must be a positive integer of at most 20 octets".into(),
        ));
    }
    if serial.len() < 8 {
        return Err(bad(
            "the serial number carries fewer than 63 random bits".into()
        ));
    }
    let public_key = crate::key::from_parsed_spki(cert.public_key())
        .map_err(|e| bad(format!("public key: {e}")))?;
    let sig_alg = cert.signature_algorithm.algorithm.to_id_string();
    if sig_alg != public_key.curve.signature_oid_str() {
        return Err(bad(format!(
            "signature algorithm {sig_alg} does not match the {} key",
            public_key.curve.jwk_crv()
        )));
    }
    if cert.subject().as_raw() != cert.issuer().as_raw() {
        return Err(bad(
            "the IACA must be self-signed (issuer equal to subject)".into(),
        ));
    }
    verify_signed_by(der, &public_key)
        .map_err(|_| bad("the self-signature does not verify".into()))?;

    // Names
    let mut countries = cert.subject().iter_country();
    let c = countries
        .next()
        .ok_or_else(|| bad("the subject has no countryName".into()))?;
    if countries.next().is_some() {
        return Err(bad("the subject has more than one countryName".into()));
    }
    if c.attr_value().tag() != Tag::PrintableString {
        return Err(bad("countryName must be a PrintableString".into()));
    }
    let country = c
        .as_str()
        .map_err(|_| bad("countryName is not a string".into()))?
        .to_owned();
    if !crate::country::is_iso3166_alpha2(&country) {
        return Err(bad(format!(
            "countryName {country:?} is not an ISO 3166-1 alpha-2 code"
        )));
    }
    if cert.subject().iter_common_name().next().is_none() {
        return Err(bad("the subject has no commonName".into()));
    }
    let state_or_province_name = match cert.subject().iter_state_or_province().next() {
        Some(st) => Some(
            st.as_str()
                .map_err(|_| bad("stateOrProvinceName is not a string".into()))?
                .to_owned(),
        ),
        None => None,
    };

    // Validity
    let not_before = time(cert.validity().not_before);
    let not_after = time(cert.validity().not_after);
    if not_after <= now {
        return Err(bad("the IACA has expired".into()));
    }
    if not_after - not_before > chrono::Duration::days(IACA_MAX_DAYS) {
        return Err(bad(format!(
            "the IACA validity is longer than {} days",
            IACA_MAX_DAYS
        )));
    }

    // Extensions
    let mut ski = None;
    let mut ian = None;
    let (mut bc_ok, mut ku_ok) = (false, false);
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) => {
                if !ext.critical || !bc.ca || bc.path_len_constraint != Some(0) {
                    return Err(bad(
                        "basicConstraints must be critical with cA=TRUE and pathLenConstraint=0"
                            .into(),
                    ));
                }
                bc_ok = true;
            }
            ParsedExtension::KeyUsage(ku) => {
                let exact =
                    ku.key_cert_sign() && ku.crl_sign() && ku.flags & !((1 << 5) | (1 << 6)) == 0;
                if !ext.critical || !exact {
                    return Err(bad(
                        "keyUsage must be critical and exactly keyCertSign and cRLSign".into(),
                    ));
                }
                ku_ok = true;
            }
            ParsedExtension::SubjectKeyIdentifier(k) => {
                if ext.critical {
                    return Err(bad("subjectKeyIdentifier must not be critical".into()));
                }
                if k.0 != public_key.key_identifier().as_slice() {
                    return Err(bad(
                        "subjectKeyIdentifier is not the SHA-1 of the public key".into(),
                    ));
                }
                ski = Some(k.0.to_vec());
            }
            ParsedExtension::IssuerAlternativeName(names) => {
                let usable = names.general_names.iter().any(|g| {
                    matches!(g, GeneralName::URI(u) if !u.is_empty())
                        || matches!(g, GeneralName::RFC822Name(e) if !e.is_empty())
                });
                let only = names
                    .general_names
                    .iter()
                    .all(|g| matches!(g, GeneralName::URI(_) | GeneralName::RFC822Name(_)));
                if ext.critical || !usable || !only {
                    return Err(bad(
                        "issuerAltName must be non-critical and hold a URI or an e-mail address"
                            .into(),
                    ));
                }
                ian = Some(ext.value.to_vec());
            }
            ParsedExtension::CRLDistributionPoints(points) => {
                let uris_only = points.points.iter().all(|p| {
                    p.reasons.is_none()
                        && p.crl_issuer.is_none()
                        && matches!(&p.distribution_point, Some(DistributionPointName::FullName(n)) if n.iter().all(|g| matches!(g, GeneralName::URI(_))))
                });
                if ext.critical || !uris_only {
                    return Err(bad(
                        "cRLDistributionPoints must be non-critical full-name URIs only".into(),
                    ));
                }
            }
            _ if ext.critical => return Err(bad(format!("unexpected critical extension {oid}"))),
            _ => {}
        }
    }
    if !bc_ok {
        return Err(bad("basicConstraints is missing".into()));
    }
    if !ku_ok {
        return Err(bad("keyUsage is missing".into()));
    }
    Ok(ParsedIaca {
        subject: cert.subject().as_raw().to_vec(),
        subject_key_identifier: ski.ok_or_else(|| bad("subjectKeyIdentifier is missing".into()))?,
        issuer_alternative_name: ian.ok_or_else(|| bad("issuerAltName is missing".into()))?,
        country,
        state_or_province_name,
        not_before,
        not_after,
        public_key,
    })
}
