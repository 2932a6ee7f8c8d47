//! X.509: the certificate service (IACA and Document Signer issuance with KMS keys, written
//! through to attached stores) and the X.509 store.

pub mod crl;
pub mod issue;
pub mod issued;
pub mod store;
