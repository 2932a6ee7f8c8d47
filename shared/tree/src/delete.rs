//! `resources/delete` and `resources/delete-recursive`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::json;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{ApiKey, Kind, Record};
use trustfn_domain::reply::Reply;
use trustfn_domain::reply::MAX_PAGE;
use trustfn_domain::repo::MAX_TX_ITEMS;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::resource::{failed_index, load};
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
    let root = load(repo, target).await?;
    if !recursive {
        if root.children > 0 {
            return Err(ApiError::conflict(format!(
                "{target} has {} child resource(s); delete them first or use delete-recursive",
                root.children
            )));
        }
        if root.dependants > 0 {
            let users = repo.dependants(target).await?;
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
        if n.kind() != Kind::Service {
            continue;
        }
        let mut found: Vec<(Target, Target)> = repo
            .dependencies(&n.id)
            .await?
            .into_iter()
            .map(|d| (n.id.clone(), d))
            .collect();
        if recursive && n.dependants > 0 {
            found.extend(
                repo.dependants(&n.id)
                    .await?
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
        if let Some(k) = n.get::<ApiKey>() {
            steps.push(Step::Token(k.token_hash.clone()));
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
                    let mut err = ApiError::from(e);
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
