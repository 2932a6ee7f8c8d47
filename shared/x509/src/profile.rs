//! Building IACA and Document Signer certificates (ISO/IEC 18013-5 Annex B). Every rule is
//! checked before anything is signed; a violation names its rule.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::der;
use crate::parse::{self, ParsedIaca};
use crate::PublicKey;
use crate::{rule, Signer, X509Error};

use crate::annex_b::{DS_MAX_DAYS, IACA_MAX_DAYS, MDL_DS_EKU, STATUS_LIST_SIGNER_MAX_DAYS};

const OID_CN: &[u64] = &[2, 5, 4, 3];
const OID_C: &[u64] = &[2, 5, 4, 6];
const OID_L: &[u64] = &[2, 5, 4, 7];
const OID_ST: &[u64] = &[2, 5, 4, 8];
const OID_O: &[u64] = &[2, 5, 4, 10];
const OID_SKI: &[u64] = &[2, 5, 29, 14];
const OID_KU: &[u64] = &[2, 5, 29, 15];
const OID_IAN: &[u64] = &[2, 5, 29, 18];
const OID_BC: &[u64] = &[2, 5, 29, 19];
const OID_CRLDP: &[u64] = &[2, 5, 29, 31];
const OID_AKI: &[u64] = &[2, 5, 29, 35];
const OID_EKU: &[u64] = &[2, 5, 29, 37];

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

/// A status-list signer certificate request: the key that signs status lists, certified by the
/// IACA so the lists share the credentials' trust anchor.
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

/// An issued certificate and the data it was built from, defaults filled in.
#[derive(Debug, Clone)]
pub struct Issued<D> {
    pub der: Vec<u8>,
    pub pem: String,
    pub data: D,
}

fn check_text(field: &'static str, v: &str, max: usize) -> Result<(), X509Error> {
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

fn check_country(field: &'static str, c: &str) -> Result<(), X509Error> {
    if !crate::country::is_iso3166_alpha2(c) {
        return Err(rule(
            field,
            format!("{c:?} is not an upper-case ISO 3166-1 alpha-2 country code"),
        ));
    }
    Ok(())
}

fn check_http_uri(field: &'static str, u: &str) -> Result<(), X509Error> {
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

fn check_uri(field: &'static str, u: &str) -> Result<(), X509Error> {
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

fn check_email(field: &'static str, e: &str) -> Result<(), X509Error> {
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

fn now_secs() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// 20 CSPRNG bytes, first byte `(b & 0x7F) | 0x40`: positive, exactly 20 octets, ~158 random bits.
pub fn iso_serial() -> [u8; 20] {
    let mut b = [0u8; 20];
    rand::rng().fill_bytes(&mut b);
    b[0] = (b[0] & 0x7F) | 0x40;
    b
}

fn attr(oid: &[u64], value: Vec<u8>) -> Vec<u8> {
    der::set(&[&der::seq(&[&der::oid(oid), &value])])
}

/// Name ::= RDNSequence, in the order C, ST, L, O, CN. C is a PrintableString, the rest UTF8String.
fn name(c: &str, st: Option<&str>, l: Option<&str>, o: Option<&str>, cn: &str) -> Vec<u8> {
    let mut rdns = vec![attr(OID_C, der::tlv(der::PRINTABLE_STRING, c.as_bytes()))];
    for (oid, v) in [(OID_ST, st), (OID_L, l), (OID_O, o)] {
        if let Some(v) = v {
            rdns.push(attr(oid, der::tlv(der::UTF8_STRING, v.as_bytes())));
        }
    }
    rdns.push(attr(OID_CN, der::tlv(der::UTF8_STRING, cn.as_bytes())));
    der::seq(&rdns.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        der::seq(&[&der::oid(oid), &der::boolean(true), &der::octets(value)])
    } else {
        der::seq(&[&der::oid(oid), &der::octets(value)])
    }
}

fn general_names(email: Option<&str>, uri: Option<&str>) -> Vec<u8> {
    let mut inner = Vec::new();
    if let Some(e) = email {
        inner.extend(der::context_primitive(1, e.as_bytes()));
    }
    if let Some(u) = uri {
        inner.extend(der::context_primitive(6, u.as_bytes()));
    }
    der::tlv(der::SEQUENCE, &inner)
}

fn crl_distribution_points(uri: &str) -> Vec<u8> {
    // CRLDistributionPoints ::= SEQ { DistributionPoint ::= SEQ { [0] { [0] fullName { [6] URI } } } }
    let full_name = der::context(0, &der::context_primitive(6, uri.as_bytes()));
    der::seq(&[&der::seq(&[&der::context(0, &full_name)])])
}

/// Assembles a certificate from TBS parts, has it signed, and checks the signature.
#[allow(clippy::too_many_arguments)]
async fn sign_certificate(
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

impl IacaData {
    /// Checks every IACA rule that depends on the request; fills in defaults.
    pub fn validate(mut self, now: DateTime<Utc>) -> Result<IacaData, X509Error> {
        check_country("certificateData.country", &self.country)?;
        check_text("certificateData.commonName", &self.common_name, 64)?;
        if let Some(st) = &self.state_or_province_name {
            check_text("certificateData.stateOrProvinceName", st, 128)?;
        }
        if let Some(o) = &self.organization_name {
            check_text("certificateData.organizationName", o, 64)?;
        }
        let ian = &self.issuer_alternative_name_conf;
        if ian.uri.is_none() && ian.email.is_none() {
            return Err(rule(
                "certificateData.issuerAlternativeNameConf",
                "give at least one of uri or email",
            ));
        }
        if let Some(u) = &ian.uri {
            check_uri("certificateData.issuerAlternativeNameConf.uri", u)?;
        }
        if let Some(e) = &ian.email {
            check_email("certificateData.issuerAlternativeNameConf.email", e)?;
        }
        if let Some(u) = &self.crl_distribution_point_uri {
            check_http_uri("certificateData.crlDistributionPointUri", u)?;
        }
        let nb = self.not_before.unwrap_or(now).trunc_subsecs(0);
        let na = self
            .not_after
            .unwrap_or(nb + Duration::days(IACA_MAX_DAYS))
            .trunc_subsecs(0);
        check_validity("IACA", nb, na, IACA_MAX_DAYS, now)?;
        self.not_before = Some(nb);
        self.not_after = Some(na);
        Ok(self)
    }

    /// Builds and signs a self-signed IACA root with `signer`.
    pub async fn issue(self, signer: &dyn Signer) -> Result<Issued<IacaData>, X509Error> {
        self.issue_with_serial(&iso_serial(), signer).await
    }

    /// [`IacaData::issue`] with a serial chosen beforehand (see [`iso_serial`]).
    pub async fn issue_with_serial(
        self,
        serial: &[u8],
        signer: &dyn Signer,
    ) -> Result<Issued<IacaData>, X509Error> {
        let data = self.validate(now_secs())?;
        let key = signer.public_key().clone();
        let dn = name(
            &data.country,
            data.state_or_province_name.as_deref(),
            None,
            data.organization_name.as_deref(),
            &data.common_name,
        );
        let ian = &data.issuer_alternative_name_conf;
        let mut exts = vec![
            extension(OID_SKI, false, &der::octets(&key.key_identifier())),
            extension(
                OID_BC,
                true,
                &der::seq(&[&der::boolean(true), &der::uint(&[0])]),
            ),
            extension(OID_KU, true, &der::named_bits(&[5, 6])),
            extension(
                OID_IAN,
                false,
                &general_names(ian.email.as_deref(), ian.uri.as_deref()),
            ),
        ];
        if let Some(u) = &data.crl_distribution_point_uri {
            exts.push(extension(OID_CRLDP, false, &crl_distribution_points(u)));
        }
        let der = sign_certificate(
            serial,
            &dn,
            data.not_before.expect("validated"),
            data.not_after.expect("validated"),
            &dn,
            &key,
            &exts,
            signer,
        )
        .await?;
        Ok(Issued {
            pem: crate::pem::encode_certificate(&der),
            der,
            data,
        })
    }
}

fn check_validity(
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

/// The subject fields of a certificate an IACA signs (a Document Signer or a status-list
/// signer), checked in order: country (equal to the IACA's), commonName, stateOrProvinceName
/// (equal to the IACA's when `same_state`), organizationName, localityName.
struct SubjectUnder<'a> {
    what: &'static str,
    country: &'a str,
    common_name: &'a str,
    state: Option<&'a str>,
    organization: Option<&'a str>,
    locality: Option<&'a str>,
}

impl SubjectUnder<'_> {
    fn check(&self, iaca: &ParsedIaca, same_state: bool) -> Result<(), X509Error> {
        check_country("certificateData.country", self.country)?;
        if self.country != iaca.country {
            return Err(rule(
                "certificateData.country",
                format!(
                    "the {} country {} must equal the IACA country {}",
                    self.what, self.country, iaca.country
                ),
            ));
        }
        check_text("certificateData.commonName", self.common_name, 64)?;
        if let Some(st) = self.state {
            check_text("certificateData.stateOrProvinceName", st, 128)?;
        }
        if same_state && self.state != iaca.state_or_province_name.as_deref() {
            return Err(rule(
                "certificateData.stateOrProvinceName",
                format!(
                    "must equal the IACA's stateOrProvinceName ({}); both present and equal, or both absent",
                    iaca.state_or_province_name.as_deref().unwrap_or("absent")
                ),
            ));
        }
        if let Some(o) = self.organization {
            check_text("certificateData.organizationName", o, 64)?;
        }
        if let Some(l) = self.locality {
            check_text("certificateData.localityName", l, 128)?;
        }
        Ok(())
    }

    fn name(&self) -> Vec<u8> {
        name(
            self.country,
            self.state,
            self.locality,
            self.organization,
            self.common_name,
        )
    }
}

/// The validity of a certificate an IACA signs: notBefore (default now), notAfter (default
/// notBefore + `max_days`, cut at the IACA's notAfter), at most `max_days`, inside the IACA's.
fn validity_under(
    iaca: &ParsedIaca,
    what: &str,
    (not_before, not_after): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    max_days: i64,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), X509Error> {
    let nb = not_before.unwrap_or(now).trunc_subsecs(0);
    let na = match not_after {
        Some(na) => na.trunc_subsecs(0),
        None => (nb + Duration::days(max_days)).min(iaca.not_after),
    };
    check_validity(what, nb, na, max_days, now)?;
    if nb < iaca.not_before || na > iaca.not_after {
        return Err(rule(
            "certificateData.notBefore",
            format!(
                "the {what} validity must lie inside the IACA's ({} to {})",
                iaca.not_before.to_rfc3339(),
                iaca.not_after.to_rfc3339()
            ),
        ));
    }
    Ok((nb, na))
}

/// The IACA certificate's key must be the one that signs.
fn iaca_signs(iaca: &ParsedIaca, signer: &dyn Signer) -> Result<(), X509Error> {
    if signer.public_key() != &iaca.public_key {
        return Err(rule(
            "iacaKeyDesc",
            "the key does not belong to the IACA certificate (its public key differs)",
        ));
    }
    Ok(())
}

/// What every certificate an IACA signs here carries first: AKI (= the IACA's SKI), SKI, and
/// keyUsage critical exactly digitalSignature.
fn leaf_extensions(iaca: &ParsedIaca, key: &PublicKey) -> Vec<Vec<u8>> {
    vec![
        extension(
            OID_AKI,
            false,
            &der::seq(&[&der::context_primitive(0, &iaca.subject_key_identifier)]),
        ),
        extension(OID_SKI, false, &der::octets(&key.key_identifier())),
        extension(OID_KU, true, &der::named_bits(&[0])),
    ]
}

/// Signs a certificate for `key` with the IACA's key: issuer = the IACA subject.
async fn sign_under<D>(
    serial: &[u8],
    iaca: &ParsedIaca,
    (subject, key, exts): (&[u8], &PublicKey, &[Vec<u8>]),
    (not_before, not_after): (DateTime<Utc>, DateTime<Utc>),
    data: D,
    signer: &dyn Signer,
) -> Result<Issued<D>, X509Error> {
    let der = sign_certificate(
        serial,
        &iaca.subject,
        not_before,
        not_after,
        subject,
        key,
        exts,
        signer,
    )
    .await?;
    Ok(Issued {
        pem: crate::pem::encode_certificate(&der),
        der,
        data,
    })
}

impl DsData {
    fn subject(&self) -> SubjectUnder<'_> {
        SubjectUnder {
            what: "Document Signer",
            country: &self.country,
            common_name: &self.common_name,
            state: self.state_or_province_name.as_deref(),
            organization: self.organization_name.as_deref(),
            locality: self.locality_name.as_deref(),
        }
    }

    /// Checks every Document Signer rule against the request and the IACA; fills in defaults
    /// (notBefore now, notAfter notBefore + 457 days but not past the IACA's notAfter).
    pub fn validate(mut self, iaca: &ParsedIaca, now: DateTime<Utc>) -> Result<DsData, X509Error> {
        self.subject().check(iaca, true)?;
        let Some(dp) = &self.crl_distribution_point_uri else {
            return Err(rule(
                "certificateData.crlDistributionPointUri",
                "is required: a Document Signer names the CRL of its IACA (an x509-service with \
                 config.crl fills it in)",
            ));
        };
        check_http_uri("certificateData.crlDistributionPointUri", dp)?;
        let times = (self.not_before, self.not_after);
        let (nb, na) = validity_under(iaca, "Document Signer", times, DS_MAX_DAYS, now)?;
        self.not_before = Some(nb);
        self.not_after = Some(na);
        Ok(self)
    }

    /// Builds a Document Signer certificate for `ds_key`, signed by the IACA key `signer`.
    /// `iaca` must have passed [`parse::parse_iaca`] and its key must be `signer`'s.
    pub async fn issue(
        self,
        iaca: &ParsedIaca,
        ds_key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<Issued<DsData>, X509Error> {
        self.issue_with_serial(&iso_serial(), iaca, ds_key, signer)
            .await
    }

    /// [`DsData::issue`] with a serial chosen beforehand (see [`iso_serial`]).
    pub async fn issue_with_serial(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        ds_key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<Issued<DsData>, X509Error> {
        iaca_signs(iaca, signer)?;
        let data = self.validate(iaca, now_secs())?;
        let subject = data.subject().name();
        let dp = data
            .crl_distribution_point_uri
            .as_deref()
            .expect("validated");
        let mut exts = leaf_extensions(iaca, ds_key);
        exts.extend([
            extension(OID_IAN, false, &iaca.issuer_alternative_name),
            extension(OID_EKU, true, &der::seq(&[&der::oid(MDL_DS_EKU)])),
            extension(OID_CRLDP, false, &crl_distribution_points(dp)),
        ]);
        let times = (
            data.not_before.expect("validated"),
            data.not_after.expect("validated"),
        );
        sign_under(serial, iaca, (&subject, ds_key, &exts), times, data, signer).await
    }
}

impl StatusListSignerData {
    fn subject(&self) -> SubjectUnder<'_> {
        SubjectUnder {
            what: "status-list signer",
            country: &self.country,
            common_name: &self.common_name,
            state: self.state_or_province_name.as_deref(),
            organization: self.organization_name.as_deref(),
            locality: self.locality_name.as_deref(),
        }
    }

    /// Checks the status-list signer rules against the request and the IACA; fills in defaults
    /// (notBefore now, notAfter notBefore + 1,187 days but not past the IACA's notAfter).
    pub fn validate(
        mut self,
        iaca: &ParsedIaca,
        now: DateTime<Utc>,
    ) -> Result<StatusListSignerData, X509Error> {
        self.subject().check(iaca, false)?;
        if let Some(u) = &self.crl_distribution_point_uri {
            check_http_uri("certificateData.crlDistributionPointUri", u)?;
        }
        let times = (self.not_before, self.not_after);
        let max = STATUS_LIST_SIGNER_MAX_DAYS;
        let (nb, na) = validity_under(iaca, "status-list signer", times, max, now)?;
        self.not_before = Some(nb);
        self.not_after = Some(na);
        Ok(self)
    }

    /// Builds a status-list signer certificate for `key`, signed by the IACA key `signer`:
    /// issuer = the IACA subject, AKI = the IACA's SKI, SKI, keyUsage critical exactly
    /// digitalSignature, the CRL distribution point when given. No extended key usage: the one
    /// the IETF draft defines has no assigned OID yet.
    pub async fn issue_with_serial(
        self,
        serial: &[u8],
        iaca: &ParsedIaca,
        key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<Issued<StatusListSignerData>, X509Error> {
        iaca_signs(iaca, signer)?;
        let data = self.validate(iaca, now_secs())?;
        let subject = data.subject().name();
        let mut exts = leaf_extensions(iaca, key);
        if let Some(u) = &data.crl_distribution_point_uri {
            exts.push(extension(OID_CRLDP, false, &crl_distribution_points(u)));
        }
        let times = (
            data.not_before.expect("validated"),
            data.not_after.expect("validated"),
        );
        sign_under(serial, iaca, (&subject, key, &exts), times, data, signer).await
    }
}
