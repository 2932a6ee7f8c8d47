//! The resource tree: organizations and tenants, services and their configuration, dependencies
//! between services, listing and (recursive) deletes. Every use case takes the proof of its
//! authorization ([`trustfn_domain::auth::Authorized`]) and plans its writes as atomic commits.

pub mod configuration;
pub mod default_requests;
pub mod delete;
pub mod dependencies;
pub mod listing;
pub mod organizations;
pub mod services;
