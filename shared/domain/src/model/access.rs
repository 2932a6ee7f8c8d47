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
    /// Set at creation (see `auth::new_role_uid`); keys hold `<id>#<uid>`, so recreating a
    /// deleted role gives nothing to the keys of the old one. Roles created before uids have none.
    #[serde(rename = "_uid", default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl Role {
    /// How a key refers to this role.
    pub fn binding(&self, id: &crate::target::Target) -> String {
        match &self.uid {
            Some(uid) => format!("{id}#{uid}"),
            None => id.to_string(),
        }
    }
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
    /// The API key that created this one (none when the administrator did).
    #[serde(rename = "createdBy", default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}
