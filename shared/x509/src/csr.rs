//! PKCS#10 certification requests (RFC 2986), both ways.
//!
//! Read: the key a Document Signer is issued for when its private key lives in the issuer's own
//! HSM. Only the public key is taken from a request, and only after the request's self-signature
//! proves possession of the private key; its subject and requested extensions are ignored (the
//! certificate's come from the profile).
//!
//! Written ([`build_csr`]): a generic request for a key trustfn holds (walt.id's `csrs` with
//! `type: generic`), signed by that key through the [`Signer`] trait, to be certified by an
//! external CA: the subject as given, subject alternative names in an extensionRequest.

use serde::Deserialize;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::der;
use crate::profile::{attr, extension};
use crate::{rule, PublicKey, Signer, X509Error};

/// PKCS#9 extensionRequest.
const OID_EXTENSION_REQUEST: &[u64] = &[1, 2, 840, 113549, 1, 9, 14];
const OID_SAN: &[u64] = &[2, 5, 29, 17];
const OID_OU: &[u64] = &[2, 5, 4, 11];
/// Most subject alternative names one request may carry.
pub const MAX_ALT_NAMES: usize = 100;

/// The subject of a generic request (walt.id's `subjectName`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CsrSubject {
    pub common_name: String,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub state_or_province_name: Option<String>,
    #[serde(default)]
    pub locality_name: Option<String>,
    #[serde(default)]
    pub organization_name: Option<String>,
    #[serde(default)]
    pub organizational_unit_name: Option<String>,
}

/// The subject alternative names a request asks for (walt.id's `subjectAlternativeNames`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AltNames {
    #[serde(default)]
    pub dns_names: Vec<String>,
    #[serde(default)]
    pub email_addresses: Vec<String>,
    #[serde(default)]
    pub uris: Vec<String>,
    #[serde(default)]
    pub ip_addresses: Vec<String>,
}

impl CsrSubject {
    /// Name ::= RDNSequence, in the order C, ST, L, O, OU, CN (C a PrintableString, the rest
    /// UTF8String), each checked first.
    fn name(&self) -> Result<Vec<u8>, X509Error> {
        crate::profile::check_text("subjectName.commonName", &self.common_name, 64)?;
        let mut rdns = Vec::new();
        if let Some(c) = &self.country {
            crate::profile::check_country("subjectName.country", c)?;
            rdns.push(attr(
                crate::profile::OID_C,
                der::tlv(der::PRINTABLE_STRING, c.as_bytes()),
            ));
        }
        for (field, oid, v, max) in [
            (
                "subjectName.stateOrProvinceName",
                crate::profile::OID_ST,
                &self.state_or_province_name,
                128,
            ),
            (
                "subjectName.localityName",
                crate::profile::OID_L,
                &self.locality_name,
                128,
            ),
            (
                "subjectName.organizationName",
                crate::profile::OID_O,
                &self.organization_name,
                64,
            ),
            (
                "subjectName.organizationalUnitName",
                OID_OU,
                &self.organizational_unit_name,
                64,
            ),
        ] {
            if let Some(v) = v {
                crate::profile::check_text(field, v, max)?;
                rdns.push(attr(oid, der::tlv(der::UTF8_STRING, v.as_bytes())));
            }
        }
        rdns.push(attr(
            crate::profile::OID_CN,
            der::tlv(der::UTF8_STRING, self.common_name.as_bytes()),
        ));
        Ok(der::seq(
            &rdns.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        ))
    }
}

fn dns_name(d: &str) -> bool {
    let d = d.strip_prefix("*.").unwrap_or(d);
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl AltNames {
    fn count(&self) -> usize {
        self.dns_names.len()
            + self.email_addresses.len()
            + self.uris.len()
            + self.ip_addresses.len()
    }

    /// GeneralNames: dNSName [2], rfc822Name [1], uniformResourceIdentifier [6], iPAddress [7]
    /// (4 or 16 octets), each checked first.
    fn general_names(&self) -> Result<Vec<u8>, X509Error> {
        let f = "subjectAlternativeNames";
        if self.count() > MAX_ALT_NAMES {
            return Err(rule(f, format!("at most {MAX_ALT_NAMES} names")));
        }
        let mut inner = Vec::new();
        for d in &self.dns_names {
            if !dns_name(d) {
                return Err(rule(f, format!("dnsNames: {d:?} is not a DNS name")));
            }
            inner.extend(der::context_primitive(2, d.to_ascii_lowercase().as_bytes()));
        }
        for e in &self.email_addresses {
            crate::profile::check_email("subjectAlternativeNames.emailAddresses", e)?;
            inner.extend(der::context_primitive(1, e.as_bytes()));
        }
        for u in &self.uris {
            crate::profile::check_uri("subjectAlternativeNames.uris", u)?;
            inner.extend(der::context_primitive(6, u.as_bytes()));
        }
        for ip in &self.ip_addresses {
            let octets = match ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(a)) => a.octets().to_vec(),
                Ok(std::net::IpAddr::V6(a)) => a.octets().to_vec(),
                Err(_) => return Err(rule(f, format!("ipAddresses: {ip:?} is not an IP address"))),
            };
            inner.extend(der::context_primitive(7, &octets));
        }
        Ok(der::tlv(der::SEQUENCE, &inner))
    }
}

/// A PKCS#10 request for `signer`'s key with `subject` and `alt_names` (an extensionRequest
/// holding subjectAltName when any is given), signed by that key (one call to `signer`) and
/// read back before it is answered: the DER and its PEM.
pub async fn build_csr(
    subject: &CsrSubject,
    alt_names: &AltNames,
    signer: &dyn Signer,
) -> Result<(Vec<u8>, String), X509Error> {
    let name = subject.name()?;
    let attributes = if alt_names.count() == 0 {
        Vec::new()
    } else {
        let san = extension(OID_SAN, false, &alt_names.general_names()?);
        der::seq(&[
            &der::oid(OID_EXTENSION_REQUEST),
            &der::set(&[&der::seq(&[&san])]),
        ])
    };
    let info = der::seq(&[
        &der::uint(&[0]),
        &name,
        &crate::key::spki_der(signer.public_key()),
        &der::context(0, &attributes),
    ]);
    let alg = der::seq(&[&der::oid(signer.public_key().curve.signature_oid())]);
    let sig = signer.sign(&info).await?;
    let csr = der::seq(&[&info, &alg, &der::bits(&sig)]);
    let pem = crate::pem::encode("CERTIFICATE REQUEST", &csr);
    // Proof of possession, checked as any reader would.
    if csr_public_key(&pem)? != *signer.public_key() {
        return Err(X509Error::BadSignature);
    }
    Ok((csr, pem))
}

/// The public key of a PEM `CERTIFICATE REQUEST` whose signature verifies with that key.
pub fn csr_public_key(pem: &str) -> Result<PublicKey, X509Error> {
    let der = crate::pem::decode_one(pem, "CERTIFICATE REQUEST")?;
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| X509Error::Parse(format!("not a PKCS#10 certification request ({e})")))?;
    if !rest.is_empty() {
        return Err(X509Error::Parse(
            "trailing bytes after the certification request".into(),
        ));
    }
    if csr.certification_request_info.version.0 != 0 {
        return Err(X509Error::Parse(
            "unsupported certification request version (must be v1)".into(),
        ));
    }
    let key = crate::key::from_parsed_spki(&csr.certification_request_info.subject_pki)?;
    let bad = || {
        X509Error::Parse(
            "the request's signature does not verify with its own public key (no proof of possession)"
                .into(),
        )
    };
    let info = csr.certification_request_info.raw;
    if !crate::signature::signed_by(&key, &csr.signature_algorithm, &csr.signature_value, info) {
        return Err(bad());
    }
    Ok(key)
}
