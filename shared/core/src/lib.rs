//! trustfn's domain logic, free of any AWS dependency: resource targets, the error shape,
//! authentication and authorization, the resource tree operations and the storage port they
//! run against.

pub mod auth;
pub mod certs;
pub mod duration;
pub mod error;
pub mod json;
pub mod keys;
pub mod model;
pub mod ops;
pub mod registry;
pub mod repo;
pub mod status;
pub mod target;

pub use error::ApiError;
pub use target::Target;
