//! Credential status lists: the packed status array (IETF Token Status List, LSB-first; W3C
//! Bitstring Status List / StatusList2021, MSB-first), their compressed encodings, and the signed
//! tokens that carry them (JWT, COSE_Sign1 CWT, VC-JWT). Signing goes through
//! [`trustfn_signer::Signer`]; no AWS dependency.

pub mod bits;
pub mod cbor;
pub mod codec;
pub mod permutation;
pub mod read;
pub mod token;

pub use token::{Claims, W3cKind};

pub use bits::{BitOrder, StatusArray};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StatusListError {
    #[error("bits per status must be 1, 2, 4 or 8 (got {0})")]
    Bits(u8),
    #[error("index {index} is outside the list of {capacity} entries")]
    Range { index: usize, capacity: usize },
    #[error("status {value} does not fit in {bits} bit(s)")]
    Value { value: u8, bits: u8 },
    #[error("cannot decode the list: {0}")]
    Decode(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("the signature does not verify with the list's key")]
    Signature,
}
