//! Organizations (administrator only; each comes with its `admin` role) and tenants.

use serde::Deserialize;
use serde_json::{Map, Value};
use trustfn_domain::auth::{self, Operation, Permission};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Kind, Organization, Profile, Record, Role, Tenant};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::resource::{create_child, failed_index, non_blank, require_depth};
use trustfn_domain::target::Target;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    #[serde(rename = "_id")]
    pub id: String,
    pub profile: Profile,
    #[serde(default)]
    pub billing: Option<Map<String, Value>>,
}

/// `POST /v1/admin/organizations`: admin only. Also creates the role `{org}.admin` granting `all`.
pub async fn create_organization(
    repo: &dyn Repository,
    _auth: &Authorized<'_, act::OrganizationCreate>,
    body: CreateOrganization,
) -> Result<Reply, ApiError> {
    let id =
        Target::parse(&body.id).map_err(|e| ApiError::validation(format!("_id: {}", e.message)))?;
    require_depth(&id, 1, "organization")
        .map_err(|_| ApiError::validation("_id: an organization id is one segment"))?;
    non_blank("profile.name", &body.profile.name)?;
    trustfn_domain::audit::context::about(&id);
    let doc = Organization {
        profile: body.profile,
        billing: body.billing,
        role_mappings: Vec::new(),
    };
    let mut org = Record::new(id.clone(), doc);
    org.children = 1;
    let role = Role {
        name: "Administrator".into(),
        permissions: vec![Permission {
            target: id.to_string(),
            action: auth::ACTION_ALL.into(),
            operation: Operation::Add,
        }],
        uid: Some(auth::new_role_uid()),
    };
    let role = Record::new(id.child("admin")?, role);
    let reply = org.to_public();
    // An organization id is never given to anyone else: grants made outside trustfn name
    // paths (a KMS key's `trustfn:adopt-by`, an external auditor's records), so an id deleted
    // and created again must not inherit them. The claim outlives the organization.
    let claim = Op::Claim {
        name: organization_claim(&id),
        owner: id.clone(),
    };
    repo.commit(vec![Op::Create(org), Op::Create(role), claim])
        .await
        .map_err(|e| match failed_index(&e) {
            Some(Some(2)) => ApiError::conflict(format!(
                "organization id {id} was used before and is never given out again: grants \
                 made to it (KMS keys tagged trustfn:adopt-by) would pass to the new owner; \
                 choose another id"
            )),
            Some(_) => ApiError::duplicate(id.as_str()),
            None => ApiError::from(e),
        })?;
    tracing::info!(org = %id, "organization created");
    Ok(Reply::json(201, reply))
}

/// The name an organization id is claimed under, for good (see [`create_organization`]).
pub fn organization_claim(id: &Target) -> String {
    format!("organization-id:{id}")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
    #[serde(default)]
    pub configuration: Option<Map<String, Value>>,
}

/// `POST /v1/{org.tenant[.sub]}/resource-api/tenants/create`
pub async fn create_tenant(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::TenantCreate>,
    body: CreateTenant,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    if target.depth() < 2 {
        return Err(ApiError::bad_request(
            "InvalidTarget",
            "the target of a new tenant is '<org>.<tenant>'",
        ));
    }
    non_blank("name", &body.name)?;
    let doc = Tenant {
        name: body.name,
        configuration: body.configuration,
    };
    let rec = create_child(
        repo,
        Record::new(target.clone(), doc),
        &[Kind::Organization, Kind::Tenant],
    )
    .await?;
    tracing::info!(tenant = %target, "tenant created");
    Ok(Reply::json(201, rec.to_public()))
}
