//! Access: API keys and roles. Authentication itself (token to principal) lives in
//! [`trustfn_domain::authn`], since every function needs it.

pub mod api_keys;
pub mod mappings;
pub mod roles;
