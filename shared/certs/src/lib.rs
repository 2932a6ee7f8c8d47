//! The X.509 Certificate and Store services: issuance ([`issuance`]), what a service issued
//! ([`inventory`]), revocation ([`revocation`]) and the CRLs published for it
//! ([`crl_publication`]), its audit report ([`report`]), certification requests for its keys
//! ([`csr`]), and the X.509 stores ([`store`]).

pub mod answer;
pub mod crl_publication;
pub mod csr;
mod error;
pub mod inventory;
pub mod issuance;
pub mod report;
pub mod revocation;
pub mod store;
