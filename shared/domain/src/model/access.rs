//! Documents of access control: roles and API keys.

use serde::{Deserialize, Serialize};

use crate::auth::Permission;

/// A named set of permissions within one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

/// An API key: its roles and the SHA-256 of its token (never the token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(rename = "_tokenHash")]
    pub token_hash: String,
    #[serde(rename = "expiresAt", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}
