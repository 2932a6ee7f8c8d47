//! Documents of access control: roles and API keys.

use serde::{Deserialize, Serialize};

use crate::auth::{Creator, Permission};
use crate::target::Target;

/// One external role mapping: users whose roles claim holds `external_role` get `role_id`
/// (walt.id's shape: `externalRole`, `roleId`, `enabled`, `providerId`, `conditions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleMapping {
    pub external_role: String,
    pub role_id: String,
    pub enabled: bool,
    /// The issuer the mapping is restricted to (trustfn trusts one issuer: when set, it is
    /// that issuer's identifier).
    #[serde(default)]
    pub provider_id: Option<String>,
    #[serde(default)]
    pub conditions: Option<MappingConditions>,
    /// The role's uid when the mapping was made: a role deleted and created again under the
    /// same id is not given by an old mapping.
    #[serde(rename = "_roleUid", default, skip_serializing_if = "Option::is_none")]
    pub role_uid: Option<String>,
    /// The API key that made the mapping and the keys that created it (`<keyId>#<tokenHash>`):
    /// the mapping applies only while all of them are alive, as a role an API key assigns does.
    /// Empty when the administrator made it.
    #[serde(rename = "_givenBy", default, skip_serializing_if = "Vec::is_empty")]
    pub given_by: Vec<String>,
}

/// Conditions a mapping applies under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingConditions {
    /// The user's verified e-mail address must be in one of these domains.
    #[serde(default)]
    pub email_domains: Vec<String>,
}

impl RoleMapping {
    /// Records who gives the role through this mapping.
    pub fn set_givers(&mut self, chain: &[Creator]) {
        self.given_by = chain
            .iter()
            .map(|c| format!("{}#{}", c.key_id, c.token_hash))
            .collect();
    }

    /// Who gives the role through this mapping; `None` when a stored giver does not parse.
    pub fn givers(&self) -> Option<Vec<Creator>> {
        self.given_by
            .iter()
            .map(|g| {
                let (key_id, token_hash) = g.split_once('#')?;
                Some(Creator {
                    key_id: Target::parse(key_id).ok()?,
                    token_hash: token_hash.to_owned(),
                })
            })
            .collect()
    }

    /// Whether the mapping gives its role to a user with these claim values and e-mail.
    pub fn applies(&self, issuer: &str, groups: &[String], verified_email: Option<&str>) -> bool {
        if !self.enabled || !groups.iter().any(|g| g == &self.external_role) {
            return false;
        }
        if self.provider_id.as_deref().is_some_and(|p| p != issuer) {
            return false;
        }
        let domains = self
            .conditions
            .as_ref()
            .map(|c| c.email_domains.as_slice())
            .unwrap_or(&[]);
        domains.is_empty()
            || verified_email
                .and_then(|e| e.rsplit_once('@'))
                .is_some_and(|(_, d)| domains.iter().any(|want| want.eq_ignore_ascii_case(d)))
    }
}

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
    /// How a key refers to this role when it gets it at creation (the key's own lineage
    /// already ends it with its creators).
    pub fn binding(&self, id: &Target) -> String {
        self.binding_given_by(id, Vec::new())
    }

    /// How a key refers to this role when `given_by` (the assigning key and the keys that
    /// created it) gave it: the role applies only while all of them are alive.
    pub fn binding_given_by(&self, id: &Target, given_by: Vec<Creator>) -> String {
        RoleBinding {
            role: id.clone(),
            uid: self.uid.clone(),
            given_by,
        }
        .encode()
    }
}

/// A key's hold on a role, as its token stores it: `<role id>[#<role uid>]`, then
/// `@<key id>#<token hash>` for each key of the chain that assigned it (none when the role came
/// with the key or from the administrator).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleBinding {
    pub role: Target,
    /// The uid of the role when the key got it: a role deleted and created again is another.
    pub uid: Option<String>,
    pub given_by: Vec<Creator>,
}

impl RoleBinding {
    pub fn parse(raw: &str) -> Option<RoleBinding> {
        let mut parts = raw.split('@');
        let head = parts.next()?;
        let (role, uid) = match head.split_once('#') {
            Some((role, uid)) => (role, Some(uid.to_owned())),
            None => (head, None),
        };
        let given_by = parts
            .map(|c| {
                let (key_id, token_hash) = c.split_once('#')?;
                Some(Creator {
                    key_id: Target::parse(key_id).ok()?,
                    token_hash: token_hash.to_owned(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(RoleBinding {
            role: Target::parse(role).ok()?,
            uid,
            given_by,
        })
    }

    pub fn encode(&self) -> String {
        let mut out = self.role.to_string();
        if let Some(uid) = &self.uid {
            out.push('#');
            out.push_str(uid);
        }
        for c in &self.given_by {
            out.push_str(&format!("@{}#{}", c.key_id, c.token_hash));
        }
        out
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
