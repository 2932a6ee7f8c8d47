//! Authentication: a bearer token becomes a [`Principal`] (the administrator, or an API key with
//! the union of its roles' permissions).

use crate::auth::{self, Creator, Delegation, Principal};
use crate::error::ApiError;
use crate::model::{ApiKey, Record, Role, RoleBinding};
use crate::repo::Repository;
use crate::target::Target;

/// Where the administrator's token is checked against: the SHA-256 of the token, hex.
#[derive(Clone)]
pub struct AdminToken {
    hash: Option<Vec<u8>>,
}

impl AdminToken {
    /// From a plain token (local use) or its SHA-256 in hex (deployments). Neither is required;
    /// without both, only API keys authenticate.
    pub fn new(plain: Option<&str>, sha256_hex: Option<&str>) -> Result<AdminToken, String> {
        if let Some(h) = sha256_hex.filter(|h| !h.trim().is_empty()) {
            let bytes =
                hex::decode(h.trim()).map_err(|_| "admin token hash is not hex".to_owned())?;
            if bytes.len() != 32 {
                return Err("admin token hash is not a SHA-256 (64 hex digits)".to_owned());
            }
            return Ok(AdminToken { hash: Some(bytes) });
        }
        if let Some(p) = plain.filter(|p| !p.is_empty()) {
            if p.len() < 16 {
                return Err("admin token must be at least 16 characters".to_owned());
            }
            return Ok(AdminToken {
                hash: Some(hex::decode(auth::token_hash(p)).expect("hex")),
            });
        }
        Ok(AdminToken { hash: None })
    }

    fn matches(&self, token: &str) -> bool {
        let h = hex::decode(auth::token_hash(token)).expect("hex");
        self.hash
            .as_deref()
            .is_some_and(|want| auth::constant_time_eq(want, &h))
    }
}

/// The 401 of a token past its expiry (an API key's, or a single sign-on token's `exp`).
pub fn token_expired() -> ApiError {
    ApiError::new(401, "ExpiredTokenException", "token expired")
}

/// Whether the API key `c` names is still the one that gave something: its record is among
/// `found` with the same token hash (an id can be reused after a delete, a token never).
fn key_alive(found: &[Record], c: &Creator) -> bool {
    found.iter().any(|r| {
        r.id == c.key_id
            && r.get::<ApiKey>()
                .is_some_and(|k| k.token_hash == c.token_hash)
    })
}

/// How the audit log names a role in force: `<role>#<uid>` (just the id for a role without uid).
fn in_force_name(role: &Target, uid: Option<&str>) -> String {
    match uid {
        Some(uid) => format!("{role}#{uid}"),
        None => role.to_string(),
    }
}

/// Turns an `Authorization` header into a principal, or 401.
pub async fn authenticate(
    repo: &dyn Repository,
    admin: &AdminToken,
    header: Option<&str>,
) -> Result<Principal, ApiError> {
    let token = auth::bearer(header)?;
    if admin.matches(token) {
        return Ok(Principal::Admin);
    }
    if !token.starts_with(auth::TOKEN_PREFIX) || token.len() > 128 {
        return Err(ApiError::unauthorized("invalid token"));
    }
    let rec = repo
        .token(&auth::token_hash(token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid token"))?;
    if rec
        .expires_at
        .is_some_and(|at| at <= chrono::Utc::now().timestamp())
    {
        return Err(token_expired());
    }
    // One read for the roles, the keys that created this one and those that assigned roles.
    let bindings: Vec<RoleBinding> = rec
        .roles
        .iter()
        .filter_map(|r| {
            let b = RoleBinding::parse(r);
            if b.is_none() {
                tracing::error!(key = %rec.key_id, binding = %r, "role binding does not parse; not applied");
            }
            b
        })
        .collect();
    let ids: Vec<Target> = bindings
        .iter()
        .flat_map(|b| std::iter::once(&b.role).chain(b.given_by.iter().map(|c| &c.key_id)))
        .chain(rec.lineage.iter().map(|c| &c.key_id))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let found = repo.get_many(&ids).await?;
    let alive = |c: &Creator| key_alive(&found, c);
    if !rec.lineage.iter().all(alive) {
        return Err(ApiError::unauthorized(
            "token revoked: an API key that created it was deleted",
        ));
    }
    let mut permissions = Vec::new();
    let mut in_force = Vec::new();
    for b in &bindings {
        let Some(role) = found
            .iter()
            .find(|r| r.id == b.role)
            .and_then(|r| r.get::<Role>())
        else {
            continue;
        };
        if role.uid != b.uid {
            tracing::warn!(key = %rec.key_id, role = %b.role, "role was recreated since the key got it; not applied");
            continue;
        }
        if !b.given_by.iter().all(alive) {
            tracing::info!(key = %rec.key_id, role = %b.role, "the API key that assigned this role was deleted; not applied");
            continue;
        }
        permissions.extend(role.permissions.iter().cloned());
        in_force.push(in_force_name(&b.role, b.uid.as_deref()));
    }
    Ok(Principal::ApiKey {
        key_id: rec.key_id,
        permissions,
        delegation: Delegation {
            token_hash: rec.hash,
            expires_at: rec.expires_at,
            lineage: rec.lineage,
            roles: in_force,
        },
    })
}

/// A person a valid single sign-on token names (the token itself checked by the caller: see
/// `trustfn_oidc::verify`).
#[derive(Debug, Clone)]
pub struct SsoUser {
    pub issuer: String,
    pub subject: String,
    /// Only a verified address (mapping conditions on e-mail domains read it).
    pub verified_email: Option<String>,
    /// The values of the configured roles claim.
    pub groups: Vec<String>,
    /// With an organization claim configured: the organizations the token says the person
    /// belongs to (mappings of any other organization never apply). `None`: not configured.
    pub organizations: Option<Vec<String>>,
}

/// The principal of a signed-in user acting in `org`: the roles the organization's mapping
/// document gives the user's claim values, as the roles are now (a role deleted, or deleted
/// and created again, gives nothing) and while the API keys that made each mapping are alive.
/// Two reads: the organization, then its mapped roles and their givers. A request that names no
/// organization, or one the token's organization claim does not name, gets a principal allowed
/// nothing.
pub async fn user_principal(
    repo: &dyn Repository,
    user: SsoUser,
    org: Option<&str>,
) -> Result<Principal, ApiError> {
    let mut permissions = Vec::new();
    let mut in_force = Vec::new();
    let org_id = org
        .and_then(|o| Target::parse(o).ok())
        .filter(|t| t.depth() == 1);
    let member = |o: &Target| {
        user.organizations
            .as_ref()
            .is_none_or(|all| all.iter().any(|m| m == o.as_str()))
    };
    if let Some(org_id) = org_id.as_ref().filter(|o| member(o)) {
        let mappings = match repo.get(org_id).await? {
            Some(rec) => match rec.get::<crate::model::Organization>() {
                Some(o) => o.role_mappings.clone(),
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        let mut applying = Vec::new();
        for m in &mappings {
            if !m.applies(&user.issuer, &user.groups, user.verified_email.as_deref()) {
                continue;
            }
            let (Ok(role), Some(givers)) = (Target::parse(&m.role_id), m.givers()) else {
                tracing::error!(org = %org_id, external_role = %m.external_role, "external role mapping does not parse; not applied");
                continue;
            };
            if role.org() == org_id.as_str() {
                applying.push((m, role, givers));
            }
        }
        let ids: Vec<Target> = applying
            .iter()
            .flat_map(|(_, role, givers)| {
                std::iter::once(role.clone()).chain(givers.iter().map(|g| g.key_id.clone()))
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let found = if ids.is_empty() {
            Vec::new()
        } else {
            repo.get_many(&ids).await?
        };
        let alive = |c: &Creator| key_alive(&found, c);
        let mut given = std::collections::BTreeSet::new();
        for (m, role_id, givers) in &applying {
            let Some(role) = found
                .iter()
                .find(|r| &r.id == role_id)
                .and_then(|r| r.get::<Role>())
            else {
                continue;
            };
            if m.role_uid != role.uid {
                tracing::info!(role = %role_id, "role was recreated since it was mapped; not applied");
                continue;
            }
            if !givers.iter().all(alive) {
                tracing::info!(role = %role_id, "the API key that made this mapping was deleted; not applied");
                continue;
            }
            if !given.insert(role_id.clone()) {
                continue;
            }
            permissions.extend(role.permissions.iter().cloned());
            in_force.push(in_force_name(role_id, role.uid.as_deref()));
        }
    }
    Ok(Principal::User {
        issuer: user.issuer,
        subject: user.subject,
        org: org_id.map(|t| t.to_string()),
        permissions,
        roles: in_force,
    })
}
