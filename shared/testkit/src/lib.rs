//! Test doubles for the use-case tests of the service crates, so they run in `cargo test` in
//! seconds without emulators: a KMS that signs with local P-256/P-384 keys and counts its calls,
//! a secret box bound to its context, a registry that records (or refuses, or holds) uploads, and
//! helpers that seed the resource tree and make the administrator's proofs; and [`MemoryRepo`],
//! the repository port in memory with DynamoDB's semantics.

pub mod memory;
pub mod metered;
pub use memory::MemoryRepo;
pub use metered::Metered;
mod faulty;
mod kms;
mod registry;
mod seed;

pub use faulty::*;
pub use kms::*;
pub use registry::*;
pub use seed::*;
