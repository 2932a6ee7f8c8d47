//! The audit log: one hash-chained, append-only log per organization (see `entry` for the hash
//! construction). Every commit that changes something appends its entry in the same transaction
//! (`repo::Audited`); refusals are recorded in the caller's own organization's chain; the
//! routes query and verify a chain.

pub mod checkpoint;
pub mod context;
pub mod entry;
pub mod events;
pub mod query;
pub mod repo;
pub mod verify;

pub use entry::{Actor, Entry, Outcome, GENESIS};
pub use repo::{Audited, ADMIN_CHAIN, DEFAULT_RETENTION_DAYS};
