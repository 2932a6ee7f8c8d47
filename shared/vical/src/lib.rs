//! The VICAL service: Verified Issuer Certificate Authority Lists (ISO/IEC 18013-5 Annex C)
//! built from the `vical-entry` certificates of a `vical-service`'s attached X.509 stores,
//! signed with a KMS key whose certificate carries the VICAL signer extended key usage, and
//! kept version by version (walt.id's VICAL Service routes).
//!
//! - [`payload`]: the VICAL's CBOR and its COSE_Sign1 (pure);
//! - [`service`]: the checks of a vical-service's configuration;
//! - [`publish`]: a new version;
//! - [`versions`]: the version listing and the public registry routes;
//! - [`registry`]: the copy of every version in the service's own registry (S3, Azure, GCS),
//!   through the publishing engine;
//! - [`defaults`]: the stored default publish request;
//! - [`refresh`]: the scheduled refresh's publisher of VICALs, and the publish metrics.

pub mod defaults;
pub mod payload;
pub mod publish;
pub mod refresh;
pub mod registry;
pub mod service;
pub mod versions;
