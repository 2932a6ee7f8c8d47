//! The AWS-free core every trustfn service crate builds on: resource targets, the error shape,
//! principals and permission evaluation (with the proof of authorization use cases take), the
//! stored model, the storage port (in memory for tests: `trustfn_testkit::MemoryRepo`) and the ports to KMS,
//! secret sealing and status-list registries.

pub mod audit;
pub mod auth;
pub mod authn;
pub mod defaults;
pub mod duration;
pub mod endpoint;
pub mod error;
pub mod json;
pub mod model;
pub mod ports;
pub mod registry_config;
pub mod reply;
pub mod repo;
pub mod resource;
pub mod sealing;
pub mod secret;
pub mod target;

pub use error::ApiError;
pub use reply::Reply;
pub use target::Target;
