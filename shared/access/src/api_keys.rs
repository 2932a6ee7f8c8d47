//! API keys: opaque tokens of one organization holding roles. The token is shown once; only its
//! SHA-256 is stored.

use serde::Deserialize;
use serde_json::Value;
use trustfn_domain::auth::{self, Action, Permission, Principal};
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{ApiKey, Kind, Record, Role, RoleBinding};
use trustfn_domain::reply::{PageParams, Reply};
use trustfn_domain::repo::TokenRecord;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::resource::kind_listing;
use trustfn_domain::resource::{failed_index, load, non_blank, require_depth};
use trustfn_domain::target::Target;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    #[serde(default)]
    pub expiration: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Resolves a role reference (`admin` or `org.admin`) within `org`.
fn role_target(org: &Target, r: &str, i: usize) -> Result<Target, ApiError> {
    let t = if r.contains('.') {
        Target::parse(r)
    } else {
        org.child(r)
    }
    .map_err(|e| ApiError::validation(format!("roles[{i}]: {}", e.message)))?;
    if t.depth() != 2 || t.org() != org.as_str() {
        return Err(ApiError::validation(format!(
            "roles[{i}]: {r} is not a role of organization {org}"
        )));
    }
    Ok(t)
}

/// `POST /v1/{org.keyId}/apikeys-api/api-keys/create`. The token is returned once; only its
/// SHA-256 is stored. A caller that is not the administrator may only hand out roles whose
/// grants it holds itself.
pub async fn create_api_key(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::ApiKeyCreate>,
    body: CreateApiKey,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let p = auth.principal();
    require_depth(target, 2, "API key")?;
    non_blank("name", &body.name)?;
    let org = target.parent().expect("depth 2");
    let requested = match &body.expiration {
        Some(e) => Some(
            chrono::Utc::now().timestamp()
                + trustfn_domain::duration::parse_duration_secs(e)
                    .map_err(|err| ApiError::validation(format!("expiration: {}", err.message)))?,
        ),
        None => None,
    };
    // A key made by a key lives no longer than its creator, and dies with it.
    let (expires_at, lineage) = p.delegate(requested)?;
    let roles = roles_of(repo, p, &org, &body.roles).await?;
    let token = auth::new_token();
    let hash = auth::token_hash(&token);
    let doc = ApiKey {
        name: body.name,
        roles: roles.iter().map(|(id, _)| id.to_string()).collect(),
        token_hash: hash.clone(),
        expires_at: expires_at
            .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        created_by: lineage.last().map(|c| c.key_id.to_string()),
    };
    let rec = Record::new(target.clone(), doc);
    let ops = vec![
        Op::Create(rec.clone()),
        Op::Count {
            id: org.clone(),
            children: 1,
            dependants: 0,
        },
        Op::AddToken(TokenRecord {
            hash,
            key_id: target.clone(),
            roles: roles.into_iter().map(|(_, binding)| binding).collect(),
            expires_at,
            lineage,
        }),
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(Some(1)) => ApiError::not_found(format!("{org} not found")),
        Some(_) => ApiError::duplicate(target.as_str()),
        None => ApiError::from(e),
    })?;
    tracing::info!(api_key = %target, by = %p.describe(), "api key created");
    let mut out = rec.to_public();
    out["token"] = Value::String(token);
    Ok(Reply::json(201, out))
}

/// The roles a new key gets, with the binding the key stores for each (see [`Role::binding`]):
/// each a role of `org` that exists, listed once, none granting a right the caller does not
/// hold (REMOVE rules included).
async fn roles_of(
    repo: &dyn Repository,
    p: &Principal,
    org: &Target,
    names: &[String],
) -> Result<Vec<(Target, String)>, ApiError> {
    let mut role_ids = Vec::new();
    for (i, r) in names.iter().enumerate() {
        let t = role_target(org, r, i)?;
        if !role_ids.contains(&t) {
            role_ids.push(t);
        }
    }
    let roles = repo.get_many(&role_ids).await?;
    let mut out = Vec::new();
    for (i, id) in role_ids.into_iter().enumerate() {
        let refused = || {
            ApiError::forbidden(format!(
                "not permitted: role {id} grants more than the caller holds"
            ))
        };
        let Some(role) = roles
            .iter()
            .find(|r| r.id == id)
            .and_then(|r| r.get::<Role>())
        else {
            // Only a caller that may list the roles learns which ones exist.
            return Err(if p.allows(org, Action::RoleList) {
                ApiError::validation(format!("roles[{i}]: role {id} does not exist"))
            } else {
                refused()
            });
        };
        if !p.implies(&role.permissions) {
            return Err(refused());
        }
        out.push((id.clone(), role.binding(&id)));
    }
    Ok(out)
}

/// `GET /v1/{org}/apikeys-api/api-keys/list`: the organization's keys (never their tokens).
pub async fn list_api_keys(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::ApiKeyList>,
    page: &PageParams,
) -> Result<Reply, ApiError> {
    let org = auth.target();
    require_depth(org, 1, "API key list")
        .map_err(|_| ApiError::bad_request("InvalidTarget", "list API keys on the organization"))?;
    load(repo, org).await?;
    kind_listing(repo, org, Kind::ApiKey, page, |r| Ok(r.to_public())).await
}

/// `DELETE /v1/{org.keyId}/apikeys-api/api-keys/delete`: the token stops working at once.
pub async fn delete_api_key(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::ApiKeyDelete>,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let rec = load(repo, target).await?;
    let Some(key) = rec.get::<ApiKey>() else {
        return Err(ApiError::validation(format!(
            "{target} is a {}, not an API key",
            rec.kind().as_str()
        )));
    };
    let hash = key.token_hash.clone();
    let org = target.parent().expect("api keys live in an org");
    let ops = vec![
        Op::RemoveToken { hash },
        Op::Delete {
            id: target.clone(),
            children: 0,
            dependants: 0,
            version: Some(rec.version),
        },
        Op::Count {
            id: org,
            children: -1,
            dependants: 0,
        },
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(_) => ApiError::not_found(format!("{target} not found")),
        None => ApiError::from(e),
    })?;
    tracing::info!(api_key = %target, "api key deleted");
    Ok(Reply::empty(204))
}

/// The body of `roles/apikey/assign` and `unassign`: the API key, as `<org>.<keyId>` or `<keyId>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignment {
    pub apikey: String,
}

/// Whether `p` is the API key that created the key of `token`, or one of its creators.
fn created_by(p: &Principal, token: &TokenRecord) -> bool {
    match p {
        Principal::Admin => true,
        Principal::ApiKey { key_id, .. } => token.lineage.iter().any(|c| &c.key_id == key_id),
        Principal::User { .. } => false,
    }
}

/// The permissions a key holds through its roles now (roles deleted since hold none).
async fn current_permissions(
    repo: &dyn Repository,
    token: &TokenRecord,
) -> Result<Vec<Permission>, ApiError> {
    let ids: Vec<Target> = token
        .roles
        .iter()
        .filter_map(|b| RoleBinding::parse(b).map(|b| b.role))
        .collect();
    Ok(repo
        .get_many(&ids)
        .await?
        .iter()
        .filter_map(|r| r.get::<Role>())
        .flat_map(|r| r.permissions.iter().cloned())
        .collect())
}

/// `POST /v1/{org.roleId}/roles-api/roles/apikey/assign` (`assign`) or `.../unassign`: gives an
/// existing API key the role, or takes it away. The key named in the body needs its own right
/// (`apikey-role-assign` on the key as well as on the role), and a role may only be given by a
/// caller that holds every right it grants (the delegation rule of key creation).
pub async fn assign_role(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::RoleAssign>,
    body: RoleAssignment,
    assign: bool,
) -> Result<Reply, ApiError> {
    let role_id = auth.target();
    let p = auth.principal();
    require_depth(role_id, 2, "role")?;
    let org = role_id.parent().expect("depth 2");
    let key_id = role_target(&org, body.apikey.trim(), 0).map_err(|_| {
        ApiError::validation(format!(
            "apikey: {:?} is not an API key of organization {org}",
            body.apikey
        ))
    })?;
    p.authorize::<act::RoleAssign>(&key_id)?;
    // Unassigning changes rights too (a role of REMOVE rules takes some away).
    p.can_delegate()?;
    let role_rec = load(repo, role_id).await?;
    let role = role_rec.get::<Role>().ok_or_else(|| {
        ApiError::validation(format!(
            "{role_id} is a {}, not a role",
            role_rec.kind().as_str()
        ))
    })?;
    if assign && !p.implies(&role.permissions) {
        return Err(ApiError::forbidden(format!(
            "not permitted: role {role_id} grants more than the caller holds"
        )));
    }
    let key_rec = load(repo, &key_id).await?;
    let Some(key) = key_rec.get::<ApiKey>() else {
        return Err(ApiError::validation(format!(
            "apikey: {key_id} is a {}, not an API key",
            key_rec.kind().as_str()
        )));
    };
    let Some(mut token) = repo.token(&key.token_hash).await? else {
        return Err(ApiError::internal_msg(format!(
            "the token of API key {key_id} is missing"
        )));
    };
    // Assigning or unassigning changes the key's rights (a role of REMOVE rules takes rights
    // away): the caller must hold at least what the key holds now, unless it created the key
    // (a key it created never held more than the caller).
    if !created_by(p, &token) {
        let current = current_permissions(repo, &token).await?;
        if !p.implies(&current) {
            return Err(ApiError::forbidden(format!(
                "not permitted: {key_id} holds rights the caller does not; only a key holding at \
                 least those (or the key's creator) may change its roles"
            )));
        }
    }
    let mut doc = key.clone();
    // What an API key assigns lasts while it (and the keys that created it) are alive, as the
    // keys it creates do.
    let binding = role.binding_given_by(role_id, p.chain());
    let bound_here =
        |b: &String| b == &binding || RoleBinding::parse(b).is_some_and(|b| &b.role == role_id);
    // Assigning twice changes nothing; but a binding to an earlier role of the same id (deleted
    // and created again) gives nothing, so it is replaced rather than taken for the new one.
    let unchanged = match assign {
        true => token.roles.contains(&binding),
        false => !token.roles.iter().any(bound_here),
    };
    if unchanged {
        return Ok(Reply::json(200, key_rec.to_public()));
    }
    if assign {
        token.roles.retain(|b| !bound_here(b));
        token.roles.push(binding);
        if !doc.roles.iter().any(|r| r == role_id.as_str()) {
            doc.roles.push(role_id.to_string());
        }
    } else {
        token.roles.retain(|b| !bound_here(b));
        doc.roles.retain(|r| r != role_id.as_str());
    }
    let mut updated = key_rec.clone();
    updated.doc = trustfn_domain::model::Doc::ApiKey(doc);
    let ops = vec![
        Op::Replace {
            record: updated.clone(),
            expected_version: key_rec.version,
            children_delta: 0,
        },
        Op::ReplaceToken(token),
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(_) => ApiError::conflict(format!(
            "{key_id} changed or was deleted concurrently; nothing was written"
        )),
        None => ApiError::from(e),
    })?;
    tracing::info!(api_key = %key_id, role = %role_id, assign, "api key role changed");
    updated.version += 1;
    Ok(Reply::json(200, updated.to_public()))
}
