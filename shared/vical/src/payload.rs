//! The VICAL itself (ISO/IEC 18013-5 Annex C): its CBOR payload and the COSE_Sign1 around it.
//!
//! Keys are written in the order of the Annex's CDDL (as the AAMVA and Austroads VICALs have
//! them); dates are `tdate` (CBOR tag 0 around RFC 3339, whole seconds, `Z`); `serialNumber` is
//! a `biguint` (tag 2 around the serial's unsigned bytes). The COSE_Sign1 is untagged (as the
//! published VICALs are), `alg` in the protected header, `x5chain` (33) in the unprotected one:
//! one byte string for a lone signer certificate, else an array, signer first; the payload is
//! attached and `external_aad` empty.

use chrono::{DateTime, SecondsFormat, Utc};
use trustfn_signer::Signer;
use trustfn_statuslist::cbor::Value as Cbor;

/// The VICAL `version` this module writes.
pub const VICAL_VERSION: &str = "1.0";
/// The media type the raw VICAL is served with.
pub const CBOR_MEDIA_TYPE: &str = "application/cbor";

/// One `CertificateInfo`: an IACA certificate and what a relying party may use it for.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateInfo {
    /// The certificate, DER.
    pub certificate: Vec<u8>,
    /// The serial number's content bytes (two's complement, as in the certificate).
    pub serial_number: Vec<u8>,
    pub ski: Vec<u8>,
    /// At least one.
    pub doc_types: Vec<String>,
    /// Left out when empty.
    pub certificate_profiles: Vec<String>,
    pub issuing_authority: Option<String>,
    pub issuing_country: Option<String>,
    pub state_or_province_name: Option<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// Why a VICAL could not be signed.
#[derive(Debug, Clone, PartialEq)]
pub enum SignFailure {
    /// The signer failed (KMS unreachable, key disabled, ...).
    Signer(String),
    /// The signer answered a signature that does not verify with its public key.
    BadSignature,
}

/// A VICAL's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Vical {
    pub provider: String,
    pub date: DateTime<Utc>,
    pub issue_id: u64,
    pub next_update: Option<DateTime<Utc>>,
    pub infos: Vec<CertificateInfo>,
}

fn tdate(t: DateTime<Utc>) -> Cbor {
    Cbor::Tag(
        0,
        Box::new(Cbor::Text(t.to_rfc3339_opts(SecondsFormat::Secs, true))),
    )
}

/// `biguint`: the serial's magnitude, without the sign octet DER may put first.
fn biguint(serial: &[u8]) -> Cbor {
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    Cbor::Tag(2, Box::new(Cbor::Bytes(serial[start..].to_vec())))
}

fn texts(v: &[String]) -> Cbor {
    Cbor::Array(v.iter().map(|s| Cbor::text(s)).collect())
}

impl CertificateInfo {
    fn to_cbor(&self) -> Cbor {
        let mut m = vec![
            (
                Cbor::text("certificate"),
                Cbor::Bytes(self.certificate.clone()),
            ),
            (Cbor::text("serialNumber"), biguint(&self.serial_number)),
            (Cbor::text("ski"), Cbor::Bytes(self.ski.clone())),
            (Cbor::text("docType"), texts(&self.doc_types)),
        ];
        if !self.certificate_profiles.is_empty() {
            m.push((
                Cbor::text("certificateProfile"),
                texts(&self.certificate_profiles),
            ));
        }
        for (k, v) in [
            ("issuingAuthority", &self.issuing_authority),
            ("issuingCountry", &self.issuing_country),
            ("stateOrProvinceName", &self.state_or_province_name),
        ] {
            if let Some(v) = v {
                m.push((Cbor::text(k), Cbor::text(v)));
            }
        }
        m.push((Cbor::text("notBefore"), tdate(self.not_before)));
        m.push((Cbor::text("notAfter"), tdate(self.not_after)));
        Cbor::Map(m)
    }
}

impl Vical {
    /// The payload: the VICAL map, CBOR.
    pub fn payload(&self) -> Vec<u8> {
        let mut m = vec![
            (Cbor::text("version"), Cbor::text(VICAL_VERSION)),
            (Cbor::text("vicalProvider"), Cbor::text(&self.provider)),
            (Cbor::text("date"), tdate(self.date)),
            (Cbor::text("vicalIssueID"), Cbor::Uint(self.issue_id)),
        ];
        if let Some(n) = self.next_update {
            m.push((Cbor::text("nextUpdate"), tdate(n)));
        }
        m.push((
            Cbor::text("certificateInfos"),
            Cbor::Array(self.infos.iter().map(CertificateInfo::to_cbor).collect()),
        ));
        Cbor::Map(m).encode()
    }

    /// The signed VICAL: a COSE_Sign1 made with one call to `signer`; `x5chain` is the signer's
    /// certificate then the chain above it (DER).
    pub async fn sign(
        &self,
        signer: &dyn Signer,
        x5chain: &[Vec<u8>],
    ) -> Result<Vec<u8>, SignFailure> {
        let protected = Cbor::Map(vec![(
            Cbor::Uint(1),
            Cbor::int(signer.public_key().curve.cose_alg()),
        )])
        .encode();
        let payload = self.payload();
        let to_sign = trustfn_statuslist::cbor::sig_structure1(&protected, &payload);
        let signature = trustfn_signer::sign_raw(signer, &to_sign)
            .await
            .map_err(|e| SignFailure::Signer(e.to_string()))?;
        if !signer.public_key().verifies(&to_sign, &signature) {
            return Err(SignFailure::BadSignature);
        }
        // The service's configuration always names the signer certificate, so the chain is never empty.
        let unprotected = trustfn_statuslist::cbor::x5chain(x5chain)
            .map(|chain| vec![(Cbor::Uint(33), chain)])
            .unwrap_or_default();
        Ok(Cbor::Array(vec![
            Cbor::Bytes(protected),
            Cbor::Map(unprotected),
            Cbor::Bytes(payload),
            Cbor::Bytes(signature),
        ])
        .encode())
    }
}
