//! ISO/IEC 18013-5 Annex B certificates: IACA roots and Document Signers, built field by field
//! in DER and signed through the [`Signer`] trait (AWS KMS in production, a local key in tests).
//! No AWS dependency: this crate tests in seconds.

pub mod annex_b;
pub mod country;
pub mod crl;
pub mod csr;
pub mod der;
pub mod describe;
pub mod key;
pub mod parse;
pub mod pem;
pub mod profile;
pub mod signature;

pub use profile::{DsData, IacaData, Issued, SignerPurpose, StatusListSignerData};
pub use trustfn_signer::{Curve, KeyError, PublicKey, SignError, Signer};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum X509Error {
    /// A profile rule was violated; `rule` names it. The request is at fault (400).
    #[error("{rule}: {message}")]
    Profile { rule: &'static str, message: String },
    /// A key is unusable (wrong type, curve, encoding). The request is at fault (400).
    #[error("{0}")]
    Key(String),
    /// A certificate given in the request does not parse (400).
    #[error("{0}")]
    Parse(String),
    /// The signer failed (KMS unreachable ...): not the request's fault.
    #[error("signing failed: {0}")]
    Signer(String),
    /// The signer answered with a signature that does not verify against its own public key.
    #[error("the signature does not verify against the signing key")]
    BadSignature,
}

pub(crate) fn rule(rule: &'static str, message: impl Into<String>) -> X509Error {
    X509Error::Profile {
        rule,
        message: message.into(),
    }
}

impl From<KeyError> for X509Error {
    fn from(e: KeyError) -> Self {
        X509Error::Key(e.0)
    }
}

impl From<SignError> for X509Error {
    fn from(e: SignError) -> Self {
        X509Error::Signer(e.0)
    }
}
