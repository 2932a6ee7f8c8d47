//! Helpers every service uses on the resource tree: load a record or answer 404, create a record
//! under its parent, page through children, and the field checks of new resources.

use crate::auth::{Action, Principal};
use crate::error::ApiError;
use crate::model::{DocKind, Kind, Record};
use crate::reply::{page_limit, page_offset, PageParams, Reply, MAX_PAGE};
use crate::repo::{Op, Page, RepoError, Repository};
use crate::target::Target;
use serde_json::Value;

/// The record at `id`, or 404 naming it.
pub async fn load(repo: &dyn Repository, id: &Target) -> Result<Record, ApiError> {
    repo.get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{id} not found")))
}

/// The record at `id` as a `T`: 404 when missing, 400 when it is another kind.
pub async fn load_as<T: DocKind>(
    repo: &dyn Repository,
    id: &Target,
) -> Result<Record<T>, ApiError> {
    load(repo, id)
        .await?
        .downcast::<T>()
        .map_err(|_| ApiError::validation(format!("{id} is not {}", T::KIND.described())))
}

/// Replaces `record` if it is still at `expected_version`: one conditional write; a 409 naming
/// it when another writer changed (or removed) it first, and nothing is written.
pub async fn replace(
    repo: &dyn Repository,
    record: Record,
    expected_version: u64,
) -> Result<(), ApiError> {
    let id = record.id.clone();
    repo.commit(vec![crate::repo::Op::Replace {
        record,
        expected_version,
        children_delta: 0,
    }])
    .await
    .map_err(|e| match failed_index(&e) {
        Some(_) => ApiError::conflict(format!(
            "{id} changed concurrently; nothing was written, retry"
        )),
        None => ApiError::from(e),
    })
}

/// The op index a failed commit names: `Some(index)` for a failed condition, `None` otherwise.
pub fn failed_index(e: &RepoError) -> Option<Option<usize>> {
    match e {
        RepoError::ConditionFailed { index } => Some(*index),
        _ => None,
    }
}

/// Fails with 400 unless `target` has `depth` segments.
pub fn require_depth(target: &Target, depth: usize, what: &str) -> Result<(), ApiError> {
    if target.depth() != depth {
        return Err(ApiError::bad_request(
            "InvalidTarget",
            format!("the target of a new {what} must be '<org>.<id>' (got {target})"),
        ));
    }
    Ok(())
}

/// A required text field: not blank, at most 256 characters.
pub fn non_blank(field: &str, v: &str) -> Result<(), ApiError> {
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

/// Creates a child record under `target`'s parent, which must be one of `parent_kinds`.
pub async fn create_child(
    repo: &dyn Repository,
    record: Record,
    parent_kinds: &[Kind],
) -> Result<Record, ApiError> {
    let target = record.id.clone();
    let parent_id = target
        .parent()
        .ok_or_else(|| ApiError::bad_request("InvalidTarget", format!("{target} has no parent")))?;
    let parent = load(repo, &parent_id).await?;
    if !parent_kinds.contains(&parent.kind()) {
        return Err(ApiError::validation(format!(
            "a {} cannot be created under a {} ({parent_id})",
            if record.kind() == Kind::Service {
                "service"
            } else {
                record.kind().as_str()
            },
            parent.kind().as_str()
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
        None => e.into(),
    })?;
    Ok(record)
}

/// Every child of `parent` of one kind (an organization's API keys or roles, an x509-service's
/// IACAs, what an IACA signed), following all pages.
pub async fn children_of_kind(
    repo: &dyn Repository,
    parent: &Target,
    kind: Kind,
) -> Result<Vec<Record>, ApiError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = repo
            .children(Some(parent), MAX_PAGE, cursor.as_deref())
            .await?;
        out.extend(page.items.into_iter().filter(|r| r.kind() == kind));
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(out),
        }
    }
}

/// A plain delete is refused (409) while the record has children or anything refers to it: a
/// service other services depend on, a key a status configuration signs with. The answer names
/// only the users the caller may list; the others are counted.
pub async fn refuse_if_used(
    repo: &dyn Repository,
    caller: &Principal,
    root: &Record,
) -> Result<(), ApiError> {
    let target = &root.id;
    if root.children > 0 {
        return Err(ApiError::conflict(format!(
            "{target} has {} child resource(s); delete them first or use delete-recursive",
            root.children
        )));
    }
    if root.dependants > 0 {
        let users = repo.dependants(target).await?;
        let message = if root.kind() == Kind::Key {
            format!(
                "{target} is the signing key of {} (status lists or an IACA's CRLs); delete \
                 those first",
                visible(caller, users.iter(), "signer")
            )
        } else {
            format!(
                "{target} is a dependency of {}; remove that dependency first",
                visible(caller, users.iter(), "service")
            )
        };
        return Err(ApiError::conflict(message));
    }
    Ok(())
}

/// `ids` as `caller` may see them, for a message: the ones it may list (`resource-list`) by
/// name, the others counted as "N other `what`(s)".
pub fn visible<'a>(
    caller: &Principal,
    ids: impl IntoIterator<Item = &'a Target>,
    what: &str,
) -> String {
    let (seen, unseen): (Vec<&Target>, Vec<&Target>) = ids
        .into_iter()
        .partition(|t| caller.allows(t, Action::ResourceList));
    let mut names: Vec<String> = seen.iter().map(|t| t.to_string()).collect();
    if !unseen.is_empty() {
        names.push(format!("{} other {what}(s)", unseen.len()));
    }
    names.join(", ")
}

/// One page of `parent`'s children as a request asks for it: `limit` items after `cursor`, or
/// after skipping `offset` items (read page by page; bounded by `MAX_OFFSET`).
pub async fn children_page(
    repo: &dyn Repository,
    parent: &Target,
    page: &PageParams,
) -> Result<Page, ApiError> {
    let limit = page_limit(page)?;
    let mut skip = page_offset(page)?;
    let mut cursor = page.cursor.clone();
    while skip > 0 {
        let skipped = repo
            .children(Some(parent), skip.min(MAX_PAGE), cursor.as_deref())
            .await?;
        skip -= skipped.items.len();
        match skipped.next {
            Some(next) => cursor = Some(next),
            None => {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                })
            }
        }
    }
    Ok(repo
        .children(Some(parent), limit, cursor.as_deref())
        .await?)
}

/// A listing of `parent`'s children of one kind (an organization's roles or API keys, a kms
/// service's keys): one page of children read, at most `limit` of them (1,000 unless the request
/// gives `limit`, so a usual listing is whole), those of `kind` answered and, when more children
/// follow, their cursor in `x-next-cursor`. A request never reads more than one page.
pub async fn kind_listing(
    repo: &dyn Repository,
    parent: &Target,
    kind: Kind,
    page: &PageParams,
    show: impl Fn(&Record) -> Result<Value, ApiError>,
) -> Result<Reply, ApiError> {
    let mut page = page.clone();
    if page.limit.is_none() {
        page.limit = Some(MAX_PAGE.to_string());
    }
    let out = children_page(repo, parent, &page).await?;
    let items = out
        .items
        .iter()
        .filter(|r| r.kind() == kind)
        .map(show)
        .collect::<Result<Vec<_>, _>>()?;
    let mut reply = Reply::json(200, Value::Array(items));
    if let Some(n) = out.next {
        reply.headers.push(("x-next-cursor", n));
    }
    Ok(reply)
}

/// A stored certificate a request names in its body field `field`: a path in the organization of
/// `within` (the request's target), readable by the caller (`x509-store-certificate-view`, checked
/// before anything about it is read). 400 naming the field when it is not one.
pub async fn named_certificate(
    repo: &dyn Repository,
    caller: &Principal,
    within: &Target,
    field: &str,
    path: &str,
) -> Result<(Target, crate::model::Certificate), ApiError> {
    let path =
        Target::parse(path).map_err(|e| ApiError::validation(format!("{field}: {}", e.message)))?;
    if path.org() != within.org() {
        return Err(ApiError::validation(format!(
            "{field}: not in this organization"
        )));
    }
    caller.authorize::<crate::auth::act::CertificateView>(&path)?;
    let cert = repo
        .get(&path)
        .await?
        .and_then(|r| r.downcast::<crate::model::Certificate>().ok())
        .ok_or_else(|| ApiError::validation(format!("{field}: no stored certificate at {path}")))?;
    Ok((path, cert.doc))
}
