//! What a certificate says about itself, for checks made on certificates trustfn did not build
//! (a VICAL's entries and its signer): names, validity, key identifiers, usages.

use chrono::{DateTime, Utc};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::annex_b::VICAL_SIGNER_EKU;
use crate::{PublicKey, X509Error};

/// A certificate's facts, as read (nothing checked but its encoding).
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    /// The serial number's content bytes.
    pub serial: Vec<u8>,
    /// The subjectKeyIdentifier, when the certificate carries one.
    pub subject_key_identifier: Option<Vec<u8>>,
    /// The subject and issuer Names, DER.
    pub subject: Vec<u8>,
    pub issuer: Vec<u8>,
    pub country: Option<String>,
    pub state_or_province_name: Option<String>,
    pub organization_name: Option<String>,
    pub common_name: Option<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// The certified key, when it is an EC key on a curve trustfn signs with.
    pub public_key: Option<PublicKey>,
    /// basicConstraints cA.
    pub ca: bool,
    pub key_cert_sign: bool,
    pub digital_signature: bool,
    pub non_repudiation: bool,
    /// Extended key usages, dotted.
    pub extended_key_usages: Vec<String>,
}

impl Described {
    /// Whether the certificate may sign VICALs: extended key usage 1.0.18013.5.1.8.
    pub fn is_vical_signer(&self) -> bool {
        let oid = dotted(VICAL_SIGNER_EKU);
        self.extended_key_usages.contains(&oid)
    }

    /// Whether it is valid at `now`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// An OID, dotted.
pub fn dotted(oid: &[u64]) -> String {
    oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

fn first(
    it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>,
) -> Option<String> {
    it.next().and_then(|a| a.as_str().ok()).map(str::to_owned)
}

/// Reads a certificate (DER).
pub fn describe(der: &[u8]) -> Result<Described, X509Error> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| X509Error::Parse(format!("not a valid X.509 certificate ({e})")))?;
    if !rest.is_empty() {
        return Err(X509Error::Parse(
            "trailing data after the certificate".into(),
        ));
    }
    let time = |t: x509_parser::time::ASN1Time| {
        DateTime::from_timestamp(t.timestamp(), 0).unwrap_or_default()
    };
    let subject = cert.subject();
    let mut d = Described {
        serial: cert.raw_serial().to_vec(),
        subject_key_identifier: None,
        subject: subject.as_raw().to_vec(),
        issuer: cert.issuer().as_raw().to_vec(),
        country: first(&mut subject.iter_country()),
        state_or_province_name: first(&mut subject.iter_state_or_province()),
        organization_name: first(&mut subject.iter_organization()),
        common_name: first(&mut subject.iter_common_name()),
        not_before: time(cert.validity().not_before),
        not_after: time(cert.validity().not_after),
        public_key: crate::key::from_parsed_spki(cert.public_key()).ok(),
        ca: false,
        key_cert_sign: false,
        digital_signature: false,
        non_repudiation: false,
        extended_key_usages: Vec::new(),
    };
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => {
                d.subject_key_identifier = Some(k.0.to_vec())
            }
            ParsedExtension::BasicConstraints(bc) => d.ca = bc.ca,
            ParsedExtension::KeyUsage(ku) => {
                d.key_cert_sign = ku.key_cert_sign();
                d.digital_signature = ku.digital_signature();
                d.non_repudiation = ku.non_repudiation();
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                d.extended_key_usages = eku.other.iter().map(|o| o.to_id_string()).collect();
            }
            _ => {}
        }
    }
    Ok(d)
}
