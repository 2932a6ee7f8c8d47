//! Building IACA and Document Signer certificates (ISO/IEC 18013-5 Annex B). Every rule is
//! checked before anything is signed; a violation names its rule.
//!
//! The request types and the checks and DER pieces every profile shares live here; [`iaca`] builds
//! the self-signed IACA, [`leaf`] what an IACA signs (Document Signers, status-list signers).

mod iaca;
mod leaf;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::der;
use crate::parse::{self};
use crate::PublicKey;
use crate::{rule, Signer, X509Error};

use crate::annex_b::{
    DS_MAX_DAYS, IACA_MAX_DAYS, MDL_DS_EKU, STATUS_LIST_SIGNER_MAX_DAYS, VICAL_SIGNER_EKU,
    VICAL_SIGNER_MAX_DAYS,
};

pub(super) const OID_CN: &[u64] = &[2, 5, 4, 3];
pub(super) const OID_C: &[u64] = &[2, 5, 4, 6];
pub(super) const OID_L: &[u64] = &[2, 5, 4, 7];
pub(super) const OID_ST: &[u64] = &[2, 5, 4, 8];
pub(super) const OID_O: &[u64] = &[2, 5, 4, 10];
pub(super) const OID_SKI: &[u64] = &[2, 5, 29, 14];
pub(super) const OID_KU: &[u64] = &[2, 5, 29, 15];
pub(super) const OID_IAN: &[u64] = &[2, 5, 29, 18];
pub(super) const OID_BC: &[u64] = &[2, 5, 29, 19];
pub(super) const OID_CRLDP: &[u64] = &[2, 5, 29, 31];
pub(super) const OID_AKI: &[u64] = &[2, 5, 29, 35];
pub(super) const OID_EKU: &[u64] = &[2, 5, 29, 37];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IanConf {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IacaData {
    pub country: String,
    pub common_name: String,
    pub issuer_alternative_name_conf: IanConf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_or_province_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_distribution_point_uri: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DsData {
    pub country: String,
    pub common_name: String,
    /// Required; an x509-service with a CRL target fills it in before validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_distribution_point_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_or_province_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<DateTime<Utc>>,
}

/// A signer certificate request under an IACA: the key that signs status lists or VICALs (see
/// [`SignerPurpose`]), certified by the IACA so what it signs shares the credentials' trust anchor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusListSignerData {
    pub country: String,
    pub common_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_or_province_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_distribution_point_uri: Option<String>,
}

/// What a signer certificate under an IACA is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerPurpose {
    /// Status lists (ISO/IEC 18013-5 2nd edition, the MSO revocation list signer).
    StatusList,
    /// VICALs (ISO/IEC 18013-5 Annex C): extended key usage 1.0.18013.5.1.8.
    Vical,
}

impl SignerPurpose {
    /// The certificate in a sentence.
    pub fn what(self) -> &'static str {
        match self {
            SignerPurpose::StatusList => "status-list signer",
            SignerPurpose::Vical => "VICAL signer",
        }
    }

    fn max_days(self) -> i64 {
        match self {
            SignerPurpose::StatusList => STATUS_LIST_SIGNER_MAX_DAYS,
            SignerPurpose::Vical => VICAL_SIGNER_MAX_DAYS,
        }
    }
}

/// An issued certificate and the data it was built from, defaults filled in.
#[derive(Debug, Clone)]
pub struct Issued<D> {
    pub der: Vec<u8>,
    pub pem: String,
    pub data: D,
}

pub(super) fn check_text(field: &'static str, v: &str, max: usize) -> Result<(), X509Error> {
    if v.trim().is_empty() {
        return Err(rule(field, "must not be blank"));
    }
    if v.chars().count() > max {
        return Err(rule(field, format!("is longer than {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(rule(field, "must not contain control characters"));
    }
    Ok(())
}

pub(super) fn check_country(field: &'static str, c: &str) -> Result<(), X509Error> {
    if !crate::country::is_iso3166_alpha2(c) {
        return Err(rule(
            field,
            format!("{c:?} is not an upper-case ISO 3166-1 alpha-2 country code"),
        ));
    }
    Ok(())
}

pub(super) fn check_http_uri(field: &'static str, u: &str) -> Result<(), X509Error> {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && !r.starts_with('/')
                && u.is_ascii()
                && !u.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(())
        }
        _ => Err(rule(
            field,
            format!("{u:?} must be an absolute http or https URL"),
        )),
    }
}

pub(super) fn check_uri(field: &'static str, u: &str) -> Result<(), X509Error> {
    let ok = u.is_ascii()
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
        && u.split_once(':').is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty()
        });
    if !ok {
        return Err(rule(field, format!("{u:?} must be an absolute URI")));
    }
    Ok(())
}

pub(super) fn check_email(field: &'static str, e: &str) -> Result<(), X509Error> {
    let ok = e.is_ascii()
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        });
    if !ok {
        return Err(rule(field, format!("{e:?} is not an e-mail address")));
    }
    Ok(())
}

pub(super) fn now_secs() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// 20 CSPRNG bytes, first byte `(b & 0x7F) | 0x40`: positive, exactly 20 octets, ~158 random bits.
pub fn iso_serial() -> [u8; 20] {
    let mut b = [0u8; 20];
    rand::rng().fill_bytes(&mut b);
    b[0] = (b[0] & 0x7F) | 0x40;
    b
}

pub(super) fn attr(oid: &[u64], value: Vec<u8>) -> Vec<u8> {
    der::set(&[&der::seq(&[&der::oid(oid), &value])])
}

/// Name ::= RDNSequence, in the order C, ST, L, O, CN. C is a PrintableString, the rest UTF8String.
pub(super) fn name(
    c: &str,
    st: Option<&str>,
    l: Option<&str>,
    o: Option<&str>,
    cn: &str,
) -> Vec<u8> {
    let mut rdns = vec![attr(OID_C, der::tlv(der::PRINTABLE_STRING, c.as_bytes()))];
    for (oid, v) in [(OID_ST, st), (OID_L, l), (OID_O, o)] {
        if let Some(v) = v {
            rdns.push(attr(oid, der::tlv(der::UTF8_STRING, v.as_bytes())));
        }
    }
    rdns.push(attr(OID_CN, der::tlv(der::UTF8_STRING, cn.as_bytes())));
    der::seq(&rdns.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

pub(super) fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        der::seq(&[&der::oid(oid), &der::boolean(true), &der::octets(value)])
    } else {
        der::seq(&[&der::oid(oid), &der::octets(value)])
    }
}

pub(super) fn general_names(email: Option<&str>, uri: Option<&str>) -> Vec<u8> {
    let mut inner = Vec::new();
    if let Some(e) = email {
        inner.extend(der::context_primitive(1, e.as_bytes()));
    }
    if let Some(u) = uri {
        inner.extend(der::context_primitive(6, u.as_bytes()));
    }
    der::tlv(der::SEQUENCE, &inner)
}

pub(super) fn crl_distribution_points(uri: &str) -> Vec<u8> {
    // CRLDistributionPoints ::= SEQ { DistributionPoint ::= SEQ { [0] { [0] fullName { [6] URI } } } }
    let full_name = der::context(0, &der::context_primitive(6, uri.as_bytes()));
    der::seq(&[&der::seq(&[&der::context(0, &full_name)])])
}

/// Assembles a certificate from TBS parts, has it signed, and checks the signature.
#[allow(clippy::too_many_arguments)]
pub(super) async fn sign_certificate(
    serial: &[u8],
    issuer: &[u8],
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    subject: &[u8],
    subject_key: &PublicKey,
    extensions: &[Vec<u8>],
    signer: &dyn Signer,
) -> Result<Vec<u8>, X509Error> {
    let alg = der::seq(&[&der::oid(signer.public_key().curve.signature_oid())]);
    let exts = der::context(
        3,
        &der::seq(&extensions.iter().map(Vec::as_slice).collect::<Vec<_>>()),
    );
    let tbs = der::seq(&[
        &der::context(0, &der::uint(&[2])),
        &der::uint(serial),
        &alg,
        issuer,
        &der::seq(&[&der::time(not_before), &der::time(not_after)]),
        subject,
        &crate::key::spki_der(subject_key),
        &exts,
    ]);
    let sig = signer.sign(&tbs).await?;
    let cert = der::seq(&[&tbs, &alg, &der::bits(&sig)]);
    parse::verify_signed_by(&cert, signer.public_key())?;
    Ok(cert)
}

pub(super) fn check_validity(
    what: &str,
    nb: DateTime<Utc>,
    na: DateTime<Utc>,
    max_days: i64,
    now: DateTime<Utc>,
) -> Result<(), X509Error> {
    let field = "certificateData.notAfter";
    if na <= nb {
        return Err(rule(field, "notAfter must be after notBefore"));
    }
    if na - nb > Duration::days(max_days) {
        return Err(rule(
            field,
            format!("{what} validity is longer than {max_days} days"),
        ));
    }
    if na <= now {
        return Err(rule(field, "notAfter must be in the future"));
    }
    Ok(())
}
