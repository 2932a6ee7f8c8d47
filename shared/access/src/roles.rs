//! Roles: named sets of permissions `{target, action, operation}` within one organization.

use serde::Deserialize;
use trustfn_domain::auth::{self, Permission};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Kind, Record, Role};
use trustfn_domain::reply::{PageParams, Reply};
use trustfn_domain::repo::Repository;
use trustfn_domain::resource::kind_listing;
use trustfn_domain::resource::{create_child, load, non_blank, require_depth};
use trustfn_domain::target::Target;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    pub name: String,
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

/// `POST /v1/{org.roleId}/roles-api/roles/create`
pub async fn create_role(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::RoleCreate>,
    body: CreateRole,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    require_depth(target, 2, "role")?;
    non_blank("name", &body.name)?;
    let org = target.parent().expect("depth 2");
    let mut perms = Vec::new();
    for (i, perm) in body.permissions.into_iter().enumerate() {
        let scope = Target::parse(&perm.target)
            .map_err(|e| ApiError::validation(format!("permissions[{i}].target: {}", e.message)))?;
        if scope.org() != org.as_str() {
            return Err(ApiError::validation(format!(
                "permissions[{i}].target: {scope} is outside organization {org}"
            )));
        }
        let action = auth::parse_action_name(&perm.action)
            .map_err(|e| ApiError::validation(format!("permissions[{i}].action: {}", e.message)))?;
        perms.push(Permission {
            target: scope.to_string(),
            action,
            operation: perm.operation,
        });
    }
    if !auth.principal().implies(&perms) {
        return Err(ApiError::forbidden(format!(
            "not permitted: role {target} would grant more than the caller holds"
        )));
    }
    let doc = Role {
        name: body.name,
        permissions: perms,
        uid: Some(auth::new_role_uid()),
    };
    let rec = create_child(
        repo,
        Record::new(target.clone(), doc),
        &[Kind::Organization],
    )
    .await?;
    tracing::info!(role = %target, "role created");
    Ok(Reply::json(201, rec.to_public()))
}

/// `GET /v1/{org}/roles-api/roles/list`
pub async fn list_roles(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::RoleList>,
    page: &PageParams,
) -> Result<Reply, ApiError> {
    let org = auth.target();
    require_depth(org, 1, "role list")
        .map_err(|_| ApiError::bad_request("InvalidTarget", "list roles on the organization"))?;
    load(repo, org).await?;
    kind_listing(repo, org, Kind::Role, page, |r| Ok(r.to_public())).await
}
