//! External role mappings (walt.id's `roles-api/roles/external-mappings`): which value of the
//! single sign-on roles claim gives which role. An organization keeps them in one document
//! (its record's `_roleMappings`, at most [`MAX_MAPPINGS`]), which every signed-in request of
//! the organization reads once.

use serde::Deserialize;
use serde_json::{json, Value};
use trustfn_domain::auth::{act, Authorized, Principal};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{MappingConditions, Organization, Record, Role, RoleMapping};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::resource::{failed_index, load_as, require_depth};
use trustfn_domain::target::Target;

/// Mappings one organization may hold (its document stays a few tens of KB).
pub const MAX_MAPPINGS: usize = 200;
/// Longest external role name, and most e-mail domains per mapping.
pub const MAX_EXTERNAL_ROLE: usize = 256;
pub const MAX_EMAIL_DOMAINS: usize = 20;

/// The body of `PUT .../external-mappings/{externalRole}` (every field optional: `{}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MappingBody {
    pub enabled: Option<bool>,
    pub provider_id: Option<String>,
    pub conditions: Option<MappingConditions>,
}

fn external_role(raw: &str) -> Result<&str, ApiError> {
    let r = raw.trim();
    if r.is_empty() || r.len() > MAX_EXTERNAL_ROLE || r.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "externalRole: 1 to {MAX_EXTERNAL_ROLE} characters, no control characters"
        )));
    }
    Ok(r)
}

/// The mapping as walt.id lists it.
fn view(m: &RoleMapping) -> Value {
    json!({
        "externalRole": m.external_role,
        "roleId": m.role_id,
        "enabled": m.enabled,
        "providerId": m.provider_id,
        "conditions": m.conditions.as_ref().map(|c| json!({"emailDomains": c.email_domains})),
    })
}

/// The role named by the path and its organization, checked: the caller must be one that can
/// delegate (a mapping gives the role to people for as long as the API keys that made it are
/// alive; a signed-in person is no such key) and hold everything the role grants.
async fn role_and_org(
    repo: &dyn Repository,
    role_id: &Target,
    p: &Principal,
) -> Result<(Record<Role>, Target), ApiError> {
    require_depth(role_id, 2, "role")?;
    p.can_delegate()?;
    let role = load_as::<Role>(repo, role_id).await?;
    if !p.implies(&role.doc.permissions) {
        return Err(ApiError::forbidden(format!(
            "not permitted: role {role_id} grants more than the caller holds; only a caller holding \
             at least its rights may map it"
        )));
    }
    Ok((role, role_id.parent().expect("depth 2")))
}

/// Writes the organization's mappings, if neither it nor the role changed since they were read.
async fn save(
    repo: &dyn Repository,
    org: Record<Organization>,
    role: Option<&Record<Role>>,
) -> Result<(), ApiError> {
    let v = org.version;
    let mut ops: Vec<Op> = role
        .map(|r| Op::Check {
            id: r.id.clone(),
            version: r.version,
        })
        .into_iter()
        .collect();
    ops.push(Op::Replace {
        record: org.upcast(),
        expected_version: v,
        children_delta: 0,
    });
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(_) => ApiError::conflict(
            "the role or its organization changed concurrently; nothing was written, retry",
        ),
        None => ApiError::from(e),
    })
}

/// `PUT /v1/{role}/roles-api/roles/external-mappings/{externalRole}`: creates (201) or
/// replaces (200) the mapping.
pub async fn put_mapping(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::RoleMappingUpdate>,
    external: &str,
    body: MappingBody,
    issuer: Option<&str>,
) -> Result<Reply, ApiError> {
    let external = external_role(external)?;
    if let Some(p) = &body.provider_id {
        if Some(p.as_str()) != issuer {
            return Err(ApiError::validation(match issuer {
                Some(i) => format!("providerId: this deployment trusts one issuer, {i:?}; omit providerId or name it"),
                None => "providerId: no single sign-on issuer is configured".to_owned(),
            }));
        }
    }
    if let Some(c) = &body.conditions {
        if c.email_domains.len() > MAX_EMAIL_DOMAINS
            || c.email_domains
                .iter()
                .any(|d| d.is_empty() || d.len() > 253 || d.contains(['@', ' ']))
        {
            return Err(ApiError::validation(format!(
                "conditions.emailDomains: at most {MAX_EMAIL_DOMAINS} domain names (no @)"
            )));
        }
    }
    let role_id = auth.target();
    let (role, org_id) = role_and_org(repo, role_id, auth.principal()).await?;
    let mut org = load_as::<Organization>(repo, &org_id).await?;
    let mut mapping = RoleMapping {
        external_role: external.to_owned(),
        role_id: role_id.to_string(),
        enabled: body.enabled.unwrap_or(true),
        provider_id: body.provider_id,
        conditions: body.conditions,
        role_uid: role.doc.uid.clone(),
        given_by: Vec::new(),
    };
    mapping.set_givers(&auth.principal().chain());
    let all = &mut org.doc.role_mappings;
    let found = all
        .iter()
        .position(|m| m.external_role == external && m.role_id == role_id.as_str());
    let status = match found {
        Some(i) => {
            all[i] = mapping.clone();
            200
        }
        None if all.len() >= MAX_MAPPINGS => {
            return Err(ApiError::validation(format!(
            "organization {org_id} has {MAX_MAPPINGS} external role mappings, the most it may hold"
        )))
        }
        None => {
            all.push(mapping.clone());
            201
        }
    };
    save(repo, org, Some(&role)).await?;
    tracing::info!(role = %role_id, status, "external role mapping saved");
    Ok(Reply::json(status, view(&mapping)))
}

/// `DELETE /v1/{role}/roles-api/roles/external-mappings/{externalRole}`: 204, or 404 when the
/// role has no such mapping. A mapping of a role deleted since is removed without the role.
pub async fn delete_mapping(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::RoleMappingUpdate>,
    external: &str,
) -> Result<Reply, ApiError> {
    let external = external_role(external)?;
    let role_id = auth.target();
    require_depth(role_id, 2, "role")?;
    let role = match repo.get(role_id).await? {
        Some(_) => Some(role_and_org(repo, role_id, auth.principal()).await?.0),
        None => {
            auth.principal().can_delegate()?;
            None
        }
    };
    let org_id = role_id.parent().expect("depth 2");
    let mut org = load_as::<Organization>(repo, &org_id).await?;
    let before = org.doc.role_mappings.len();
    org.doc
        .role_mappings
        .retain(|m| !(m.external_role == external && m.role_id == role_id.as_str()));
    if org.doc.role_mappings.len() == before {
        return Err(ApiError::not_found(format!(
            "role {role_id} has no mapping of external role {external:?}"
        )));
    }
    save(repo, org, role.as_ref()).await?;
    tracing::info!(role = %role_id, "external role mapping deleted");
    Ok(Reply::empty(204))
}

/// `GET /v1/{org | role}/roles-api/roles/external-mappings`: the organization's mappings, or
/// those of one role.
pub async fn list_mappings(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::RoleList>,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let org_id = Target::parse(target.org()).expect("an organization id");
    let org = load_as::<Organization>(repo, &org_id).await?;
    if target.depth() > 1 {
        load_as::<Role>(repo, target).await?;
    }
    let shown: Vec<Value> = org
        .doc
        .role_mappings
        .iter()
        .filter(|m| target.depth() == 1 || m.role_id == target.as_str())
        .map(view)
        .collect();
    Ok(Reply::json(200, Value::Array(shown)))
}
