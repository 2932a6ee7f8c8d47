//! The X.509 Certificate Service: ISO 18013-5 IACA, Document Signer and status-list signer
//! issuance with KMS keys, written through to every attached X.509 store in one transaction.
//!
//! - [`iaca`]: `iso/iacas`, self-signed roots;
//! - [`document_signer`], [`status_list_signer`] and [`vical_signer`]: what an IACA signs, through
//!   [`under_iaca`] (the signing IACA named in the request, its record, one KMS Sign);
//! - [`issuer`]: the x509-service issuing for one caller (its attached kms services and stores);
//! - [`recording`]: the write-through to the stores and the issued-certificate record.

pub mod document_signer;
pub mod iaca;
pub(crate) mod issuer;
mod recording;
pub mod status_list_signer;
mod under_iaca;
pub mod vical_signer;

pub use document_signer::{issue_document_signer, IssueDs};
pub use iaca::{issue_iaca, IssueIaca};
pub use issuer::KeyDescriptor;
pub(crate) use recording::certificate_doc;
pub use status_list_signer::{issue_status_list_signer, IssueStatusListSigner};
pub use under_iaca::IacaSigner;
pub use vical_signer::{issue_vical_signer, IssueVicalSigner};
