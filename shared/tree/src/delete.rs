//! `resources/delete` and `resources/delete-recursive`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::json;
use trustfn_domain::auth::{
    act, delete_action, Action, Authorized, Principal, KIND_DELETE_ACTIONS,
};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{ApiKey, IssuedCertificate, IssuedProfile, KeyDoc, Kind, Record};
use trustfn_domain::reply::Reply;
use trustfn_domain::reply::MAX_PAGE;
use trustfn_domain::repo::MAX_TX_ITEMS;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::resource::{failed_index, refuse_if_used, visible};
use trustfn_domain::target::Target;

/// `DELETE /v1/{target}/resource-api/resources/delete[-recursive]`.
///
/// Non-recursive: refused (409) while the resource has children or dependants. Recursive: removes
/// the subtree, its dependency edges (also those from services outside it) and its API-key tokens.
/// Writes go leaves-first in commits of at most [`MAX_TX_ITEMS`] items; each commit checks the
/// counters it expects, so a child or dependency added concurrently stops the delete (409)
/// instead of leaving an orphan.
pub async fn delete(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::ResourceDelete>,
    recursive: bool,
) -> Result<Reply, ApiError> {
    delete_tracking(repo, auth, recursive, &mut Vec::new()).await
}

/// [`delete`], also collecting every record actually removed (even when a later commit of a
/// large recursive delete fails), so callers can retire what lives outside the table (KMS keys).
pub async fn delete_tracking(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::ResourceDelete>,
    recursive: bool,
    removed: &mut Vec<Record>,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    let caller = auth.principal();
    // A resource of a kind with its own delete route needs that route's action too. Without
    // one of them here, the answer is 403 whether or not anything exists at the path.
    let root = match repo.get(target).await? {
        Some(r) => r,
        None if KIND_DELETE_ACTIONS
            .iter()
            .any(|a| !caller.allows(target, *a)) =>
        {
            return Err(kind_forbidden(target, None));
        }
        None => return Err(ApiError::not_found(format!("{target} not found"))),
    };
    if root.kind() == Kind::StatusList {
        // Credentials point at indices of every list of a configuration, the current one or not.
        return Err(ApiError::conflict(format!(
            "{target} is a status list: issued credentials refer to it, so it is removed only \
             with its configuration ({})",
            target.parent().map(|p| p.to_string()).unwrap_or_default()
        )));
    }
    if root.kind() == Kind::VicalVersion {
        // Verifiers hold on to published versions by their path: they stay with their service.
        return Err(ApiError::conflict(format!(
            "{target} is a published VICAL: versions are kept for good, removed only with their \
             vical-service ({})",
            target.parent().map(|p| p.to_string()).unwrap_or_default()
        )));
    }
    if root.kind() == Kind::Issued {
        // A deleted record would drop its revocation from the IACA's next CRL (and a deleted
        // IACA record its CRL's numbering): they go only with their x509-service.
        let iaca = root
            .get::<IssuedCertificate>()
            .is_some_and(|c| c.profile == IssuedProfile::Iaca);
        let service = match iaca {
            true => target.parent(),
            false => target.parent().and_then(|p| p.parent()),
        }
        .map(|s| s.to_string())
        .unwrap_or_default();
        return Err(ApiError::conflict(format!(
            "{target} records an issued certificate: revoke it with certificates/revoke; the \
             records are removed only with their x509-service ({service})"
        )));
    }
    if !recursive {
        refuse_if_used(repo, auth.principal(), &root).await?;
    }
    let mut nodes = subtree(repo, root, recursive).await?;
    if let Some(n) = nodes
        .iter()
        .find(|n| delete_action(n.kind()).is_some_and(|a| !caller.allows(&n.id, a)))
    {
        return Err(kind_forbidden(&n.id, delete_action(n.kind())));
    }
    nodes.reverse(); // leaves first
    let edges = edges_of(repo, &nodes, recursive).await?;
    refuse_outside_dependants(auth.principal(), target, &nodes, &edges)?;
    let batches = batches(steps(&nodes, &edges));
    let total = nodes.len();
    let mut deleted = 0usize;
    for (bi, batch) in batches.iter().enumerate() {
        if let Err(e) = repo.commit(batch_ops(batch)).await {
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
                    let mut err = ApiError::from(e);
                    err.message.push_str(&partial);
                    err
                }
            });
        }
        let gone: Vec<Record> = batch.iter().filter_map(Step::node).cloned().collect();
        purge_lists(repo, &gone).await;
        deleted += gone.len();
        removed.extend(gone);
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

fn kind_forbidden(id: &Target, action: Option<Action>) -> ApiError {
    let what = match action {
        Some(a) => a.as_str().to_owned(),
        None => KIND_DELETE_ACTIONS
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    ApiError::forbidden(format!("not permitted: {what} on {id}"))
}

/// Removes what deleted status lists leave besides their records (status chunks, allocation
/// counter, unfolded changes). Nothing reads those once the record is gone; a failure leaves
/// them unreachable and is logged with a stable code for an alarm, never an error for the
/// caller, whose delete did happen.
async fn purge_lists(repo: &dyn Repository, gone: &[Record]) {
    for list in gone.iter().filter(|r| r.kind() == Kind::StatusList) {
        match repo.purge_list(&list.id).await {
            Ok(items) => tracing::info!(list = %list.id, items, "status list data removed"),
            Err(e) => tracing::error!(
                code = "STATUS_LIST_PURGE_FAILED", list = %list.id, error = %e,
                "the data of a deleted status list could not be removed"
            ),
        }
    }
}

/// A recursive delete also removes the edges of services outside the subtree that depend on
/// something inside it: that changes those services, so the caller needs
/// `service-dependency-remove` on each. Refused (409) otherwise, naming only the services the
/// caller may list.
///
/// A key inside that a status configuration outside signs with (a reference, not a dependency
/// anyone may remove) always stops the delete.
fn refuse_outside_dependants(
    caller: &Principal,
    target: &Target,
    nodes: &[Record],
    edges: &[Vec<Edge>],
) -> Result<(), ApiError> {
    let kind: HashMap<&Target, Kind> = nodes.iter().map(|n| (&n.id, n.kind())).collect();
    let (references, dependencies): (Vec<&Edge>, Vec<&Edge>) = edges
        .iter()
        .flatten()
        .filter(|(from, _)| !from.is_within(target))
        .partition(|(_, to)| kind.get(to) != Some(&Kind::Service));
    if !references.is_empty() {
        let users: BTreeSet<&Target> = references.iter().map(|(from, _)| from).collect();
        return Err(ApiError::conflict(format!(
            "{target} holds a key that {} outside it sign(s) with (status lists or an IACA's \
             CRLs); delete those first",
            visible(caller, users, "signer")
        )));
    }
    let outside: BTreeSet<&Target> = dependencies
        .into_iter()
        .map(|(from, _)| from)
        .filter(|from| !caller.allows(from, Action::DependencyRemove))
        .collect();
    if outside.is_empty() {
        return Ok(());
    }
    Err(ApiError::conflict(format!(
        "{target} is a dependency of {} outside it; remove those dependencies first (or hold \
         service-dependency-remove on them)",
        visible(caller, outside, "service")
    )))
}

/// `root` and, when `recursive`, everything below it, breadth first (parents before children).
async fn subtree(
    repo: &dyn Repository,
    root: Record,
    recursive: bool,
) -> Result<Vec<Record>, ApiError> {
    let mut nodes = vec![root];
    let mut i = 0;
    while recursive && i < nodes.len() {
        if nodes[i].children > 0 {
            let id = nodes[i].id.clone();
            let mut cursor = None;
            loop {
                let page = repo
                    .children(Some(&id), MAX_PAGE, cursor.as_deref())
                    .await?;
                nodes.extend(page.items);
                match page.next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
        }
        i += 1;
    }
    Ok(nodes)
}

type Edge = (Target, Target);

/// The edges from the services, status configurations and IACA records among `nodes` (leaves
/// first), each
/// assigned to whichever of its ends is deleted first; with `recursive`, edges into any of
/// them from outside too.
async fn edges_of(
    repo: &dyn Repository,
    nodes: &[Record],
    recursive: bool,
) -> Result<Vec<Vec<Edge>>, ApiError> {
    let pos: HashMap<&Target, usize> = nodes.iter().enumerate().map(|(i, r)| (&r.id, i)).collect();
    let mut edges: Vec<Vec<Edge>> = vec![Vec::new(); nodes.len()];
    let mut seen = BTreeSet::new();
    for n in nodes {
        // Services depend on services; a status configuration and a recorded IACA refer to
        // their signing key.
        let refers = match n.kind() {
            Kind::Service | Kind::StatusConfig => true,
            Kind::Issued => n
                .get::<IssuedCertificate>()
                .is_some_and(|c| c.profile == IssuedProfile::Iaca),
            _ => false,
        };
        let mut found: Vec<Edge> = if refers {
            repo.dependencies(&n.id)
                .await?
                .into_iter()
                .map(|d| (n.id.clone(), d))
                .collect()
        } else {
            Vec::new()
        };
        if recursive && n.dependants > 0 {
            let users = repo.dependants(&n.id).await?;
            found.extend(users.into_iter().map(|s| (s, n.id.clone())));
        }
        for e in found {
            if seen.insert(e.clone()) {
                let at = |t: &Target| pos.get(t).copied().unwrap_or(usize::MAX);
                let first = at(&e.0).min(at(&e.1));
                edges[first].push(e);
            }
        }
    }
    Ok(edges)
}

/// One write of a delete.
enum Step<'a> {
    Edge(&'a Edge),
    Token(String),
    /// An adopted KMS key's ARN, given back with its record.
    Release(String, &'a Target),
    /// A revoked certificate's entry in its IACA's revoked set, dropped with its record.
    Unrevoke(Target, String),
    Node(&'a Record),
}

impl Step<'_> {
    fn node(&self) -> Option<&Record> {
        match self {
            Step::Node(n) => Some(n),
            _ => None,
        }
    }
    /// Items the step costs in a transaction, the counter update it may cause included.
    fn cost(&self) -> usize {
        match self {
            Step::Edge(_) => 3,
            Step::Token(_) | Step::Release(..) | Step::Unrevoke(..) => 1,
            Step::Node(_) => 2,
        }
    }
}

/// The stream of writes, leaves first; each node's edges and token precede its own delete.
fn steps<'a>(nodes: &'a [Record], edges: &'a [Vec<Edge>]) -> Vec<Step<'a>> {
    let mut steps = Vec::new();
    for (n, its_edges) in nodes.iter().zip(edges) {
        steps.extend(its_edges.iter().map(Step::Edge));
        if let Some(k) = n.get::<ApiKey>() {
            steps.push(Step::Token(k.token_hash.clone()));
        }
        if let Some(name) = n.get::<KeyDoc>().and_then(KeyDoc::arn_claim) {
            steps.push(Step::Release(name, &n.id));
        }
        let revoked = n
            .get::<IssuedCertificate>()
            .is_some_and(|c| c.revocation.is_some() && c.profile != IssuedProfile::Iaca);
        if let (true, Some(iaca)) = (revoked, n.id.parent()) {
            steps.push(Step::Unrevoke(iaca, n.id.leaf().to_owned()));
        }
        steps.push(Step::Node(n));
    }
    steps
}

/// Cuts the steps into commits of at most [`MAX_TX_ITEMS`] items.
fn batches(steps: Vec<Step<'_>>) -> Vec<Vec<Step<'_>>> {
    let mut batches: Vec<Vec<Step>> = vec![Vec::new()];
    let mut used = 0;
    for s in steps {
        if used + s.cost() > MAX_TX_ITEMS {
            batches.push(Vec::new());
            used = 0;
        }
        used += s.cost();
        batches.last_mut().expect("non-empty").push(s);
    }
    batches
}

/// The ops of one commit: edge and token removals, the deletes (each expecting the counters the
/// deletes before it leave), and the counter updates of survivors outside the batch.
fn batch_ops(batch: &[Step<'_>]) -> Vec<Op> {
    let gone: BTreeSet<&Target> = batch.iter().filter_map(Step::node).map(|n| &n.id).collect();
    let mut counts: BTreeMap<Target, (i64, i64)> = BTreeMap::new();
    let mut expect: HashMap<&Target, (i64, i64)> = gone.iter().map(|id| (*id, (0, 0))).collect();
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
            Step::Release(name, owner) => ops.push(Op::Release {
                name: name.clone(),
                owner: (*owner).clone(),
            }),
            Step::Unrevoke(iaca, serial) => ops.push(Op::DropRevoked {
                iaca: iaca.clone(),
                serial: serial.clone(),
            }),
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
    for n in batch.iter().filter_map(Step::node) {
        let (children, dependants) = expect[&n.id];
        ops.push(Op::Delete {
            id: n.id.clone(),
            children,
            dependants,
            // Only records edges leave from can gain one concurrently; a status list republished
            // meanwhile does not stop the delete.
            version: matches!(n.kind(), Kind::Service | Kind::StatusConfig).then_some(n.version),
        });
    }
    for (id, (children, dependants)) in counts {
        ops.push(Op::Count {
            id,
            children,
            dependants,
        });
    }
    ops
}
