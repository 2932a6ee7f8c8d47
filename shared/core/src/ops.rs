//! The resource-tree operations behind every endpoint. Each one authorizes first, then reads,
//! then plans its writes as one atomic commit (or, for large recursive deletes, a sequence of
//! commits that each leave the tree consistent).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::{self, Action, Operation, Permission, Principal};
use crate::error::ApiError;
use crate::keys::SecretBox;
use crate::model::{Kind, Record, ServiceType};
use crate::registry;
use crate::repo::{Op, RepoError, Repository, TokenRecord, MAX_TX_ITEMS};
use crate::target::Target;

/// Most dependencies one service may have.
pub const MAX_DEPENDENCIES: usize = 32;
/// Default and largest page size of list endpoints.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

/// A successful answer: status, optional JSON body, extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }
}

/// Maps storage failures that no operation handles specially. Details go to the log only.
pub fn storage(e: RepoError) -> ApiError {
    match e {
        RepoError::InvalidCursor => ApiError::validation("cursor is not valid for this list"),
        RepoError::TransactionConflict => ApiError::conflict(
            "a concurrent change touched the same resources; nothing was written, retry",
        ),
        RepoError::ConditionFailed { .. } => {
            ApiError::conflict("the resource changed concurrently; nothing was written, retry")
        }
        RepoError::Unavailable(detail) => {
            tracing::error!(error = %detail, "storage failure");
            ApiError::upstream("storage")
        }
    }
}

fn failed_index(e: &RepoError) -> Option<Option<usize>> {
    match e {
        RepoError::ConditionFailed { index } => Some(*index),
        _ => None,
    }
}

async fn get_existing(repo: &dyn Repository, id: &Target) -> Result<Record, ApiError> {
    repo.get(id)
        .await
        .map_err(storage)?
        .ok_or_else(|| ApiError::not_found(format!("{id} not found")))
}

fn require_depth(target: &Target, depth: usize, what: &str) -> Result<(), ApiError> {
    if target.depth() != depth {
        return Err(ApiError::bad_request(
            "InvalidTarget",
            format!("the target of a new {what} must be '<org>.<id>' (got {target})"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Organizations and tenants

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    #[serde(rename = "_id")]
    pub id: String,
    pub profile: Profile,
    #[serde(default)]
    pub billing: Option<Map<String, Value>>,
}

#[derive(Deserialize, serde::Serialize)]
pub struct Profile {
    pub name: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `POST /v1/admin/organizations`: admin only. Also creates the role `{org}.admin` granting `all`.
pub async fn create_organization(
    repo: &dyn Repository,
    p: &Principal,
    body: CreateOrganization,
) -> Result<Reply, ApiError> {
    if !p.is_admin() {
        return Err(ApiError::forbidden(
            "not permitted: only the administrator creates organizations",
        ));
    }
    let id =
        Target::parse(&body.id).map_err(|e| ApiError::validation(format!("_id: {}", e.message)))?;
    require_depth(&id, 1, "organization")
        .map_err(|_| ApiError::validation("_id: an organization id is one segment"))?;
    non_blank("profile.name", &body.profile.name)?;
    let mut doc = json!({ "profile": body.profile });
    if let Some(b) = body.billing {
        doc["billing"] = Value::Object(b);
    }
    let mut org = Record::new(id.clone(), Kind::Organization, doc);
    org.children = 1;
    let role_id = id.child("admin")?;
    let role = Record::new(
        role_id.clone(),
        Kind::Role,
        json!({"name": "Administrator", "permissions": [{"target": id.as_str(), "action": auth::ACTION_ALL, "operation": "ADD"}]}),
    );
    let reply = org.to_public();
    repo.commit(vec![Op::Create(org), Op::Create(role)])
        .await
        .map_err(|e| match failed_index(&e) {
            Some(_) => ApiError::duplicate(id.as_str()),
            None => storage(e),
        })?;
    tracing::info!(org = %id, "organization created");
    Ok(Reply::json(201, reply))
}

fn non_blank(field: &str, v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() {
        return Err(ApiError::validation(format!("{field} must not be blank")));
    }
    if v.chars().count() > 256 {
        return Err(ApiError::validation(format!(
            "{field} is longer than 256 characters"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
    #[serde(default)]
    pub configuration: Option<Map<String, Value>>,
}

/// Creates a child record under `target`'s parent, which must be one of `parent_kinds`.
async fn create_child(
    repo: &dyn Repository,
    record: Record,
    parent_kinds: &[Kind],
) -> Result<Record, ApiError> {
    let target = record.id.clone();
    let parent_id = target
        .parent()
        .ok_or_else(|| ApiError::bad_request("InvalidTarget", format!("{target} has no parent")))?;
    let parent = get_existing(repo, &parent_id).await?;
    if !parent_kinds.contains(&parent.kind) {
        return Err(ApiError::validation(format!(
            "a {} cannot be created under a {} ({parent_id})",
            if record.kind == Kind::Service {
                "service"
            } else {
                record.kind.as_str()
            },
            parent.kind.as_str()
        )));
    }
    let ops = vec![
        Op::Create(record.clone()),
        Op::Count {
            id: parent_id.clone(),
            children: 1,
            dependants: 0,
        },
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(Some(1)) => ApiError::not_found(format!("{parent_id} not found")),
        Some(_) => ApiError::duplicate(target.as_str()),
        None => storage(e),
    })?;
    Ok(record)
}

/// `POST /v1/{org.tenant[.sub]}/resource-api/tenants/create`
pub async fn create_tenant(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    body: CreateTenant,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::TenantCreate)?;
    if target.depth() < 2 {
        return Err(ApiError::bad_request(
            "InvalidTarget",
            "the target of a new tenant is '<org>.<tenant>'",
        ));
    }
    non_blank("name", &body.name)?;
    let mut doc = json!({"name": body.name});
    if let Some(c) = body.configuration {
        doc["configuration"] = Value::Object(c);
    }
    let rec = create_child(
        repo,
        Record::new(target.clone(), Kind::Tenant, doc),
        &[Kind::Organization, Kind::Tenant],
    )
    .await?;
    tracing::info!(tenant = %target, "tenant created");
    Ok(Reply::json(201, rec.to_public()))
}

// ---------------------------------------------------------------------------------------------
// Services

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    #[serde(rename = "type")]
    pub service_type: String,
    #[serde(default)]
    pub config: Option<Value>,
    #[serde(default)]
    pub dependencies: Vec<String>,
}

/// Seals plaintext registry secrets with KMS before they are stored.
async fn seal(
    secrets: Option<&dyn SecretBox>,
    target: &Target,
    config: &mut Value,
) -> Result<(), ApiError> {
    let plain = config
        .get("registry")
        .map(registry::plaintext_secrets)
        .unwrap_or_default();
    if plain.is_empty() {
        return Ok(());
    }
    match secrets {
        Some(s) => crate::keys::seal_registry(s, target, config).await,
        None => {
            tracing::error!("a registry secret arrived but no secrets key is configured (TRUSTFN_SECRETS_KEY_ID)");
            Err(ApiError::internal())
        }
    }
}

fn validate_config(t: ServiceType, config: &Value) -> Result<(), ApiError> {
    if !config.is_object() {
        return Err(ApiError::validation("config must be an object"));
    }
    if t == ServiceType::CredentialStatus {
        registry::validate(config.get("registry"))?;
    } else if config.get("registry").is_some() {
        return Err(ApiError::validation(format!(
            "config.registry is only for credential-status services, not {}",
            t.as_str()
        )));
    }
    Ok(())
}

/// The public view of a service with its dependencies, secrets redacted.
fn service_view(rec: &Record, deps: &[Target]) -> Value {
    let mut v = registry::redact(&rec.to_public());
    v["dependencies"] = Value::Array(deps.iter().map(|d| Value::String(d.to_string())).collect());
    v
}

/// Checks a prospective dependency `dep` of service `from` (of type `t`): same organization,
/// exists, is a service of an allowed type. Needs `service-dependency-add` on `dep`.
async fn check_dependency(
    repo: &dyn Repository,
    p: &Principal,
    from: &Target,
    t: ServiceType,
    dep: &Target,
) -> Result<(), ApiError> {
    p.authorize(dep, Action::DependencyAdd)?;
    if dep.org() != from.org() {
        return Err(ApiError::validation(format!(
            "dependency {dep} is not in organization {}",
            from.org()
        )));
    }
    if dep == from {
        return Err(ApiError::validation("a service cannot depend on itself"));
    }
    let rec = repo.get(dep).await.map_err(storage)?;
    let dt = rec.as_ref().and_then(Record::service_type).ok_or_else(|| {
        ApiError::validation(format!(
            "dependency {dep} does not exist or is not a service"
        ))
    })?;
    if !t.allowed_dependencies().contains(&dt) {
        let allowed = t
            .allowed_dependencies()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>();
        return Err(ApiError::validation(format!(
            "a {} service cannot depend on a {} service ({dep}); allowed: {}",
            t.as_str(),
            dt.as_str(),
            if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            }
        )));
    }
    Ok(())
}

/// `POST /v1/{tenant.service}/resource-api/services/create`
pub async fn create_service(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    body: CreateService,
    secrets: Option<&dyn SecretBox>,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::ServiceCreate)?;
    if target.depth() < 3 {
        return Err(ApiError::bad_request(
            "InvalidTarget",
            "the target of a new service is '<org>.<tenant>.<service>'",
        ));
    }
    let t = ServiceType::parse(&body.service_type)?;
    let mut config = body.config.unwrap_or_else(|| json!({}));
    validate_config(t, &config)?;
    if body.dependencies.len() > MAX_DEPENDENCIES {
        return Err(ApiError::validation(format!(
            "at most {MAX_DEPENDENCIES} dependencies"
        )));
    }
    let mut deps = BTreeSet::new();
    for (i, d) in body.dependencies.iter().enumerate() {
        let dep = Target::parse(d)
            .map_err(|e| ApiError::validation(format!("dependencies[{i}]: {}", e.message)))?;
        check_dependency(repo, p, target, t, &dep).await?;
        if !deps.insert(dep.clone()) {
            return Err(ApiError::validation(format!(
                "dependencies[{i}]: {dep} is listed twice"
            )));
        }
    }
    let parent_id = target.parent().expect("depth >= 3");
    let parent = get_existing(repo, &parent_id).await?;
    if parent.kind != Kind::Tenant {
        return Err(ApiError::validation(format!(
            "a service is created in a tenant; {parent_id} is a {}",
            parent.kind.as_str()
        )));
    }
    seal(secrets, target, &mut config).await?;
    let rec = Record::new(
        target.clone(),
        Kind::Service,
        json!({"type": t.as_str(), "config": config}),
    );
    let mut ops = vec![
        Op::Create(rec.clone()),
        Op::Count {
            id: parent_id.clone(),
            children: 1,
            dependants: 0,
        },
    ];
    for d in &deps {
        ops.push(Op::AddEdge {
            from: target.clone(),
            to: d.clone(),
        });
        ops.push(Op::Count {
            id: d.clone(),
            children: 0,
            dependants: 1,
        });
    }
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(Some(0)) | Some(None) => ApiError::duplicate(target.as_str()),
        Some(Some(1)) => ApiError::not_found(format!("{parent_id} not found")),
        Some(Some(_)) => {
            ApiError::conflict("a dependency was removed concurrently; nothing was written")
        }
        None => storage(e),
    })?;
    tracing::info!(service = %target, service_type = t.as_str(), dependencies = deps.len(), "service created");
    Ok(Reply::json(
        201,
        service_view(&rec, &deps.into_iter().collect::<Vec<_>>()),
    ))
}

/// Loads a service and checks that its type serves `api`.
async fn service_for_api(
    repo: &dyn Repository,
    target: &Target,
    api: &str,
) -> Result<(Record, ServiceType), ApiError> {
    let wanted = ServiceType::from_api(api)?;
    let rec = get_existing(repo, target).await?;
    let t = rec.service_type().ok_or_else(|| {
        ApiError::validation(format!(
            "{target} is a {}, not a service",
            rec.kind.as_str()
        ))
    })?;
    if t != wanted {
        return Err(ApiError::validation(format!(
            "{target} is a {} service; use {} instead of {api}",
            t.as_str(),
            t.api()
        )));
    }
    Ok((rec, t))
}

/// `GET /v1/{service}/{service-api}/configuration/view`
pub async fn configuration_view(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    api: &str,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::ConfigurationView)?;
    let (rec, _) = service_for_api(repo, target, api).await?;
    let deps = repo.dependencies(target).await.map_err(storage)?;
    Ok(Reply::json(200, service_view(&rec, &deps)))
}

/// `PUT /v1/{service}/{service-api}/configuration/update`: replaces the service's `config`.
/// The body is the document as `configuration/view` shows it; `_id` and `type` must match,
/// `version` (when given) must be the current one, and secrets shown as `***` keep their value.
pub async fn configuration_update(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    api: &str,
    body: Value,
    secrets: Option<&dyn SecretBox>,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::ConfigurationUpdate)?;
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::validation("body must be a JSON object"))?;
    for k in obj.keys() {
        if ![
            "_id",
            "parent",
            "type",
            "config",
            "dependencies",
            "version",
            "createdAt",
        ]
        .contains(&k.as_str())
        {
            return Err(ApiError::validation(format!(
                "{k}: unknown field of a service document"
            )));
        }
    }
    let (rec, t) = service_for_api(repo, target, api).await?;
    if let Some(id) = obj.get("_id") {
        if id.as_str() != Some(target.as_str()) {
            return Err(ApiError::validation(format!(
                "_id must equal the target {target}"
            )));
        }
    }
    if let Some(ty) = obj.get("type") {
        if ty.as_str() != Some(t.as_str()) {
            return Err(ApiError::validation(format!(
                "type cannot change (is {})",
                t.as_str()
            )));
        }
    }
    if let Some(v) = obj.get("version") {
        if v.as_u64() != Some(rec.version) {
            return Err(ApiError::conflict(format!(
                "version {v} is not the current version {}",
                rec.version
            )));
        }
    }
    let mut config = obj.get("config").cloned().unwrap_or_else(|| json!({}));
    // Secrets echoed back redacted keep their stored value.
    if let (Some(new_reg), Some(old_reg)) = (
        config
            .pointer_mut("/registry")
            .and_then(Value::as_object_mut),
        rec.doc
            .pointer("/config/registry")
            .and_then(Value::as_object),
    ) {
        for f in registry::SECRET_FIELDS {
            if new_reg.get(f).and_then(Value::as_str) == Some(registry::REDACTED) {
                match old_reg.get(f) {
                    Some(old) => {
                        new_reg.insert(f.to_owned(), old.clone());
                    }
                    None => {
                        return Err(ApiError::validation(format!(
                            "config.registry.{f}: no stored secret to keep"
                        )))
                    }
                }
            }
        }
    }
    validate_config(t, &config)?;
    seal(secrets, target, &mut config).await?;
    let mut updated = rec.clone();
    updated.doc = json!({"type": t.as_str(), "config": config});
    repo.commit(vec![Op::Replace {
        record: updated,
        expected_version: rec.version,
        children_delta: 0,
    }])
    .await
    .map_err(|e| match failed_index(&e) {
        Some(_) => ApiError::conflict(format!(
            "{target} changed or was removed concurrently; nothing was written"
        )),
        None => storage(e),
    })?;
    tracing::info!(service = %target, version = rec.version + 1, "configuration replaced");
    Ok(Reply::empty(200))
}

// ---------------------------------------------------------------------------------------------
// Dependencies

/// `POST /v1/{service}/{service-api}/dependencies/add`
pub async fn dependency_add(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    api: &str,
    dep: &str,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::DependencyAdd)?;
    let dep = Target::parse(dep)
        .map_err(|e| ApiError::validation(format!("dependency: {}", e.message)))?;
    p.authorize(&dep, Action::DependencyAdd)?;
    let (_, t) = service_for_api(repo, target, api).await?;
    check_dependency(repo, p, target, t, &dep).await?;
    let existing = repo.dependencies(target).await.map_err(storage)?;
    if existing.contains(&dep) {
        return Err(ApiError::conflict(format!(
            "{dep} is already a dependency of {target}"
        )));
    }
    if existing.len() >= MAX_DEPENDENCIES {
        return Err(ApiError::validation(format!(
            "{target} already has {MAX_DEPENDENCIES} dependencies"
        )));
    }
    let ops = vec![
        Op::AddEdge {
            from: target.clone(),
            to: dep.clone(),
        },
        Op::Count {
            id: dep.clone(),
            children: 0,
            dependants: 1,
        },
        Op::Count {
            id: target.clone(),
            children: 0,
            dependants: 0,
        },
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(Some(0)) | Some(None) => {
            ApiError::conflict(format!("{dep} is already a dependency of {target}"))
        }
        Some(_) => ApiError::conflict(
            "the service or the dependency was removed concurrently; nothing was written",
        ),
        None => storage(e),
    })?;
    tracing::info!(service = %target, dependency = %dep, "dependency added");
    Ok(Reply::json(
        201,
        json!({"_id": target.as_str(), "dependency": dep.as_str()}),
    ))
}

/// `POST /v1/{service}/{service-api}/dependencies/remove`
pub async fn dependency_remove(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    api: &str,
    dep: &str,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::DependencyRemove)?;
    let dep = Target::parse(dep)
        .map_err(|e| ApiError::validation(format!("dependency: {}", e.message)))?;
    service_for_api(repo, target, api).await?;
    let ops = vec![
        Op::RemoveEdge {
            from: target.clone(),
            to: dep.clone(),
        },
        Op::Count {
            id: dep.clone(),
            children: 0,
            dependants: -1,
        },
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(_) => ApiError::validation(format!("{dep} is not a dependency of {target}")),
        None => storage(e),
    })?;
    tracing::info!(service = %target, dependency = %dep, "dependency removed");
    Ok(Reply::empty(204))
}

/// `GET /v1/{service}/{service-api}/dependencies/list`
pub async fn dependency_list(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    api: &str,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::DependencyList)?;
    service_for_api(repo, target, api).await?;
    let deps = repo.dependencies(target).await.map_err(storage)?;
    Ok(Reply::json(
        200,
        Value::Array(
            deps.into_iter()
                .map(|d| Value::String(d.to_string()))
                .collect(),
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// Listing

/// Page parameters of list endpoints.
#[derive(Debug, Clone, Default)]
pub struct PageParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

pub fn page_limit(p: &PageParams) -> Result<usize, ApiError> {
    match &p.limit {
        None => Ok(DEFAULT_PAGE),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(ApiError::validation(format!(
                "limit must be an integer from 1 to {MAX_PAGE}"
            ))),
        },
    }
}

/// `GET /v1/{target}/resource-api/resources/list`: immediate children, one page.
/// The next page's cursor is in the `x-next-cursor` header.
pub async fn list_children(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    page: &PageParams,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::ResourceList)?;
    let limit = page_limit(page)?;
    get_existing(repo, target).await?;
    let out = repo
        .children(Some(target), limit, page.cursor.as_deref())
        .await
        .map_err(storage)?;
    let items = out
        .items
        .iter()
        .map(|r| registry::redact(&r.to_public()))
        .collect();
    let mut reply = Reply::json(200, Value::Array(items));
    if let Some(n) = out.next {
        reply.headers.push(("x-next-cursor", n));
    }
    Ok(reply)
}

/// Every child of `org` of one kind (API keys, roles), following all pages.
pub(crate) async fn children_of_kind(
    repo: &dyn Repository,
    org: &Target,
    kind: Kind,
) -> Result<Vec<Record>, ApiError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = repo
            .children(Some(org), MAX_PAGE, cursor.as_deref())
            .await
            .map_err(storage)?;
        out.extend(page.items.into_iter().filter(|r| r.kind == kind));
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(out),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Deleting

/// `DELETE /v1/{target}/resource-api/resources/delete[-recursive]`.
///
/// Non-recursive: refused (409) while the resource has children or dependants. Recursive: removes
/// the subtree, its dependency edges (also those from services outside it) and its API-key tokens.
/// Writes go leaves-first in commits of at most [`MAX_TX_ITEMS`] items; each commit checks the
/// counters it expects, so a child or dependency added concurrently stops the delete (409)
/// instead of leaving an orphan.
pub async fn delete(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    recursive: bool,
) -> Result<Reply, ApiError> {
    delete_tracking(repo, p, target, recursive, &mut Vec::new()).await
}

/// [`delete`], also collecting every record actually removed (even when a later commit of a
/// large recursive delete fails), so callers can retire what lives outside the table (KMS keys).
pub async fn delete_tracking(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    recursive: bool,
    removed: &mut Vec<Record>,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::ResourceDelete)?;
    let root = get_existing(repo, target).await?;
    if !recursive {
        if root.children > 0 {
            return Err(ApiError::conflict(format!(
                "{target} has {} child resource(s); delete them first or use delete-recursive",
                root.children
            )));
        }
        if root.dependants > 0 {
            let users = repo.dependants(target).await.map_err(storage)?;
            let names = users
                .iter()
                .map(Target::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ApiError::conflict(format!(
                "{target} is a dependency of {names}; remove that dependency first"
            )));
        }
    }
    // Breadth-first walk: parents before children.
    let mut nodes = vec![root];
    let mut i = 0;
    while recursive && i < nodes.len() {
        let id = nodes[i].id.clone();
        if nodes[i].children > 0 {
            let mut cursor = None;
            loop {
                let page = repo
                    .children(Some(&id), MAX_PAGE, cursor.as_deref())
                    .await
                    .map_err(storage)?;
                nodes.extend(page.items);
                match page.next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
        }
        i += 1;
    }
    nodes.reverse(); // leaves first
    let pos: HashMap<Target, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.clone(), i))
        .collect();
    // Edges, each assigned to whichever endpoint is deleted first.
    let mut edges_of: Vec<Vec<(Target, Target)>> = vec![Vec::new(); nodes.len()];
    let mut seen = BTreeSet::new();
    for n in &nodes {
        if n.kind != Kind::Service {
            continue;
        }
        let mut found: Vec<(Target, Target)> = repo
            .dependencies(&n.id)
            .await
            .map_err(storage)?
            .into_iter()
            .map(|d| (n.id.clone(), d))
            .collect();
        if recursive && n.dependants > 0 {
            found.extend(
                repo.dependants(&n.id)
                    .await
                    .map_err(storage)?
                    .into_iter()
                    .map(|s| (s, n.id.clone())),
            );
        }
        for e in found {
            if seen.insert(e.clone()) {
                let at = pos
                    .get(&e.0)
                    .copied()
                    .unwrap_or(usize::MAX)
                    .min(pos.get(&e.1).copied().unwrap_or(usize::MAX));
                edges_of[at].push(e);
            }
        }
    }
    // The stream of writes, leaves first; each node's edges and token precede its own delete.
    enum Step<'a> {
        Edge(&'a (Target, Target)),
        Token(String),
        Node(&'a Record),
    }
    let mut steps = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        steps.extend(edges_of[i].iter().map(Step::Edge));
        if let Some(h) = n.doc.get("_tokenHash").and_then(Value::as_str) {
            steps.push(Step::Token(h.to_owned()));
        }
        steps.push(Step::Node(n));
    }
    // Cut into commits. Budget per step includes the counter update it may cause.
    let cost = |s: &Step| match s {
        Step::Edge(_) => 3,
        Step::Token(_) => 1,
        Step::Node(_) => 2,
    };
    let mut batches: Vec<Vec<Step>> = vec![Vec::new()];
    let mut used = 0;
    for s in steps {
        let c = cost(&s);
        if used + c > MAX_TX_ITEMS {
            batches.push(Vec::new());
            used = 0;
        }
        used += c;
        batches.last_mut().expect("non-empty").push(s);
    }
    let total = nodes.len();
    let mut deleted = 0usize;
    for (bi, batch) in batches.iter().enumerate() {
        let gone: BTreeSet<&Target> = batch
            .iter()
            .filter_map(|s| {
                if let Step::Node(n) = s {
                    Some(&n.id)
                } else {
                    None
                }
            })
            .collect();
        let mut counts: BTreeMap<Target, (i64, i64)> = BTreeMap::new();
        let mut expect: HashMap<&Target, (i64, i64)> =
            gone.iter().map(|id| (*id, (0, 0))).collect();
        let mut ops = Vec::new();
        for s in batch {
            match s {
                Step::Edge((from, to)) => {
                    ops.push(Op::RemoveEdge {
                        from: from.clone(),
                        to: to.clone(),
                    });
                    match expect.get_mut(to) {
                        Some(e) => e.1 += 1,
                        None => counts.entry(to.clone()).or_default().1 -= 1,
                    }
                }
                Step::Token(h) => ops.push(Op::RemoveToken { hash: h.clone() }),
                Step::Node(n) => {
                    if let Some(parent) = n.id.parent() {
                        match expect.get_mut(&parent) {
                            Some(e) => e.0 += 1,
                            None => counts.entry(parent).or_default().0 -= 1,
                        }
                    }
                }
            }
        }
        for s in batch {
            if let Step::Node(n) = s {
                let (children, dependants) = expect[&n.id];
                ops.push(Op::Delete {
                    id: n.id.clone(),
                    children,
                    dependants,
                });
            }
        }
        for (id, (children, dependants)) in counts {
            ops.push(Op::Count {
                id,
                children,
                dependants,
            });
        }
        if let Err(e) = repo.commit(ops).await {
            let partial = if bi > 0 {
                format!(" ({deleted} of {total} resources were already removed)")
            } else {
                String::new()
            };
            return Err(match failed_index(&e) {
                Some(_) => ApiError::conflict(format!(
                    "{target} changed concurrently (a child or dependency was added or removed); retry{partial}"
                )),
                None => {
                    let mut err = storage(e);
                    err.message.push_str(&partial);
                    err
                }
            });
        }
        deleted += gone.len();
        removed.extend(batch.iter().filter_map(|s| {
            if let Step::Node(n) = s {
                Some((*n).clone())
            } else {
                None
            }
        }));
        if batches.len() > 1 {
            tracing::info!(target_id = %target, batch = bi + 1, batches = batches.len(), deleted, total, "delete-recursive progress");
        }
    }
    tracing::info!(target_id = %target, recursive, deleted, "deleted");
    Ok(Reply::json(
        202,
        json!({"_id": target.as_str(), "deleted": deleted}),
    ))
}

// ---------------------------------------------------------------------------------------------
// API keys and roles

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

fn role_permissions(rec: &Record) -> Vec<Permission> {
    rec.doc
        .get("permissions")
        .and_then(|v| serde_json::from_value::<Vec<Permission>>(v.clone()).ok())
        .unwrap_or_default()
}

/// `POST /v1/{org.keyId}/apikeys-api/api-keys/create`. The token is returned once; only its
/// SHA-256 is stored. A caller that is not the administrator may only hand out roles whose
/// grants it holds itself.
pub async fn create_api_key(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
    body: CreateApiKey,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::ApiKeyCreate)?;
    require_depth(target, 2, "API key")?;
    non_blank("name", &body.name)?;
    let org = target.parent().expect("depth 2");
    let expires_at = match &body.expiration {
        Some(e) => Some(
            chrono::Utc::now().timestamp()
                + crate::duration::parse_duration_secs(e)
                    .map_err(|err| ApiError::validation(format!("expiration: {}", err.message)))?,
        ),
        None => None,
    };
    let mut role_ids = Vec::new();
    for (i, r) in body.roles.iter().enumerate() {
        let t = role_target(&org, r, i)?;
        if !role_ids.contains(&t) {
            role_ids.push(t);
        }
    }
    let roles = repo.get_many(&role_ids).await.map_err(storage)?;
    for (i, id) in role_ids.iter().enumerate() {
        match roles.iter().find(|r| &r.id == id) {
            Some(r) if r.kind == Kind::Role => {
                if !p.is_admin() {
                    for perm in role_permissions(r)
                        .iter()
                        .filter(|x| x.operation == Operation::Add)
                    {
                        let scope = Target::parse(&perm.target)
                            .map_err(|_| ApiError::forbidden("not permitted"))?;
                        let holds = if perm.action == auth::ACTION_ALL {
                            Action::ALL.iter().all(|a| p.allows(&scope, *a))
                        } else {
                            Action::ALL
                                .iter()
                                .find(|a| a.as_str() == perm.action)
                                .is_some_and(|a| p.allows(&scope, *a))
                        };
                        if !holds {
                            return Err(ApiError::forbidden(format!(
                                "not permitted: role {id} grants more than the caller holds"
                            )));
                        }
                    }
                }
            }
            _ => {
                return Err(ApiError::validation(format!(
                    "roles[{i}]: role {id} does not exist"
                )))
            }
        }
    }
    let token = auth::new_token();
    let hash = auth::token_hash(&token);
    let role_strs: Vec<String> = role_ids.iter().map(|r| r.to_string()).collect();
    let mut doc = json!({"name": body.name, "roles": role_strs, "_tokenHash": hash});
    if let Some(at) = expires_at {
        doc["expiresAt"] = Value::String(
            chrono::DateTime::from_timestamp(at, 0)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
        );
    }
    let rec = Record::new(target.clone(), Kind::ApiKey, doc);
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
            roles: role_strs,
            expires_at,
        }),
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(Some(1)) => ApiError::not_found(format!("{org} not found")),
        Some(_) => ApiError::duplicate(target.as_str()),
        None => storage(e),
    })?;
    tracing::info!(api_key = %target, roles = role_ids.len(), "api key created");
    let mut out = rec.to_public();
    out["token"] = Value::String(token);
    Ok(Reply::json(201, out))
}

/// `GET /v1/{org}/apikeys-api/api-keys/list`: the organization's keys (never their tokens).
pub async fn list_api_keys(
    repo: &dyn Repository,
    p: &Principal,
    org: &Target,
) -> Result<Reply, ApiError> {
    p.authorize(org, Action::ApiKeyList)?;
    require_depth(org, 1, "API key list")
        .map_err(|_| ApiError::bad_request("InvalidTarget", "list API keys on the organization"))?;
    get_existing(repo, org).await?;
    let keys = children_of_kind(repo, org, Kind::ApiKey).await?;
    Ok(Reply::json(
        200,
        Value::Array(keys.iter().map(Record::to_public).collect()),
    ))
}

/// `DELETE /v1/{org.keyId}/apikeys-api/api-keys/delete`: the token stops working at once.
pub async fn delete_api_key(
    repo: &dyn Repository,
    p: &Principal,
    target: &Target,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::ApiKeyDelete)?;
    let rec = get_existing(repo, target).await?;
    if rec.kind != Kind::ApiKey {
        return Err(ApiError::validation(format!(
            "{target} is a {}, not an API key",
            rec.kind.as_str()
        )));
    }
    let hash = rec
        .doc
        .get("_tokenHash")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let org = target.parent().expect("api keys live in an org");
    let ops = vec![
        Op::RemoveToken { hash },
        Op::Delete {
            id: target.clone(),
            children: 0,
            dependants: 0,
        },
        Op::Count {
            id: org,
            children: -1,
            dependants: 0,
        },
    ];
    repo.commit(ops).await.map_err(|e| match failed_index(&e) {
        Some(_) => ApiError::not_found(format!("{target} not found")),
        None => storage(e),
    })?;
    tracing::info!(api_key = %target, "api key deleted");
    Ok(Reply::empty(204))
}

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
    p: &Principal,
    target: &Target,
    body: CreateRole,
) -> Result<Reply, ApiError> {
    p.authorize(target, Action::RoleCreate)?;
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
    let doc = json!({"name": body.name, "permissions": perms});
    let rec = create_child(
        repo,
        Record::new(target.clone(), Kind::Role, doc),
        &[Kind::Organization],
    )
    .await?;
    tracing::info!(role = %target, "role created");
    Ok(Reply::json(201, rec.to_public()))
}

/// `GET /v1/{org}/roles-api/roles/list`
pub async fn list_roles(
    repo: &dyn Repository,
    p: &Principal,
    org: &Target,
) -> Result<Reply, ApiError> {
    p.authorize(org, Action::RoleList)?;
    require_depth(org, 1, "role list")
        .map_err(|_| ApiError::bad_request("InvalidTarget", "list roles on the organization"))?;
    get_existing(repo, org).await?;
    let roles = children_of_kind(repo, org, Kind::Role).await?;
    Ok(Reply::json(
        200,
        Value::Array(roles.iter().map(Record::to_public).collect()),
    ))
}

// ---------------------------------------------------------------------------------------------
// Authentication

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
        .await
        .map_err(storage)?
        .ok_or_else(|| ApiError::unauthorized("invalid token"))?;
    if rec
        .expires_at
        .is_some_and(|at| at <= chrono::Utc::now().timestamp())
    {
        return Err(ApiError::new(401, "ExpiredTokenException", "token expired"));
    }
    let role_ids: Vec<Target> = rec
        .roles
        .iter()
        .filter_map(|r| Target::parse(r).ok())
        .collect();
    let roles = repo.get_many(&role_ids).await.map_err(storage)?;
    let permissions = roles
        .iter()
        .filter(|r| r.kind == Kind::Role)
        .flat_map(role_permissions)
        .collect();
    Ok(Principal::ApiKey {
        key_id: rec.key_id,
        permissions,
    })
}
