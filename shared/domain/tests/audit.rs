//! The audit log against the in-memory repository: entries in the same commit as their change,
//! gapless chains under contention, refusals in the caller's own chain, tampering found.

use std::sync::Arc;

use serde_json::Value;
use trustfn_domain::audit::verify::{verify_chain, Retention};
use trustfn_domain::audit::{self, context, Actor, Audited, Entry};
use trustfn_domain::auth::{act, Principal};
use trustfn_domain::model::{Record, Tenant};
use trustfn_domain::repo::{Op, RepoError, Repository};
use trustfn_testkit::{api_key, seed_tenant, t, MemoryRepo};

/// The default retention, seen now.
fn keep() -> Retention {
    Retention::now(audit::DEFAULT_RETENTION_DAYS)
}

fn tenant(id: &str) -> Record {
    Record::new(
        t(id),
        Tenant {
            name: id.into(),
            configuration: None,
        },
    )
}

fn create(id: &str) -> Vec<Op> {
    vec![
        Op::Create(tenant(id)),
        Op::Count {
            id: t(id).parent().unwrap(),
            children: 1,
            dependants: 0,
        },
    ]
}

async fn entries(repo: &dyn Repository, chain: &str) -> Vec<Entry> {
    repo.audit_entries(chain, 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect()
}

async fn world_with_store() -> (Audited, Arc<MemoryRepo>) {
    let repo = Arc::new(MemoryRepo::new());
    seed_tenant(repo.as_ref(), "acme.t1").await;
    seed_tenant(repo.as_ref(), "other.t1").await;
    (
        Audited::new(repo.clone(), audit::DEFAULT_RETENTION_DAYS),
        repo,
    )
}

async fn world() -> Audited {
    world_with_store().await.0
}

/// Runs `f` as a request of `p` authorized for `tenant-create` on `target`.
async fn as_request<F: std::future::Future>(p: &Principal, target: &str, f: F) -> F::Output {
    let p = p.clone();
    let target = t(target);
    context::scope(Some("req-1".into()), async move {
        // Roles are left out: the entries these tests compare name the key only.
        let (actor, org) = match p.audit_actor() {
            (Actor::ApiKey { key_id, .. }, org) => (
                Actor::ApiKey {
                    key_id,
                    roles: vec![],
                },
                org,
            ),
            other => other,
        };
        context::set_caller(actor, org);
        let _ = p.authorize::<act::TenantCreate>(&target);
        f.await
    })
    .await
}

/// Tenants `acme.t<i>` for each `i`, each created by the administrator in a request of its own.
async fn tenants(repo: &Audited, range: std::ops::Range<u32>) {
    for i in range {
        let id = format!("acme.t{i}");
        as_request(&Principal::Admin, &id.clone(), repo.commit(create(&id)))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn each_change_leaves_one_entry_in_its_commit_and_the_chain_verifies() {
    let repo = world().await;
    as_request(&Principal::Admin, "acme.t2", repo.commit(create("acme.t2")))
        .await
        .unwrap();
    as_request(&Principal::Admin, "acme.t3", repo.commit(create("acme.t3")))
        .await
        .unwrap();
    // Bookkeeping alone (a counter) leaves nothing.
    let count = vec![Op::Touch { id: t("acme.t2") }];
    as_request(&Principal::Admin, "acme.t2", repo.commit(count))
        .await
        .unwrap();
    // A commit that fails leaves nothing either.
    let e = as_request(&Principal::Admin, "acme.t2", repo.commit(create("acme.t2")))
        .await
        .unwrap_err();
    assert!(matches!(e, RepoError::ConditionFailed { .. }), "{e:?}");
    let got = entries(&repo, "acme").await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].sequence_number, 1);
    assert_eq!(got[0].prev_entry_hash, "GENESIS");
    assert_eq!(got[1].prev_entry_hash, got[0].entry_hash);
    assert_eq!(got[0].action, "tenant-create");
    assert_eq!(got[0].target, "acme.t2");
    assert_eq!(got[0].actor, Actor::Admin);
    assert_eq!(got[0].request_id.as_deref(), Some("req-1"));
    let change = Value::Object(got[1].changes[0].clone());
    assert_eq!(change["op"], "create");
    assert_eq!(change["id"], "acme.t3");
    assert_eq!(change["kind"], "tenant");
    assert!(entries(&repo, "other").await.is_empty());
    let v = verify_chain(&repo, "acme", None, keep()).await.unwrap();
    assert!(v.valid && v.entries == 2, "{v:?}");
    // Outside a request (the scheduled refresh), trustfn is the actor.
    repo.commit(create("acme.t4")).await.unwrap();
    let last = entries(&repo, "acme").await.pop().unwrap();
    assert_eq!(
        (last.actor, last.action.as_str()),
        (Actor::System, "create")
    );
}

#[tokio::test]
async fn concurrent_changes_of_one_organization_keep_the_chain_gapless() {
    let repo = Arc::new(world().await);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let repo = repo.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("acme.c{i}");
            as_request(&Principal::Admin, &id.clone(), async move {
                repo.commit(vec![Op::Create(tenant(&id))]).await
            })
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let got = entries(repo.as_ref(), "acme").await;
    let seqs: Vec<u64> = got.iter().map(|e| e.sequence_number).collect();
    assert_eq!(seqs, (1..=16).collect::<Vec<_>>());
    assert!(
        verify_chain(repo.as_ref(), "acme", None, keep())
            .await
            .unwrap()
            .valid
    );
}

#[tokio::test]
async fn a_refusal_is_recorded_in_the_callers_own_organization() {
    let repo = world().await;
    let key = api_key(&[(
        "acme.t1",
        "resource-list",
        trustfn_domain::auth::Operation::Add,
    )]);
    as_request(&key, "other.t9", repo.record_denied())
        .await
        .unwrap();
    assert!(
        entries(&repo, "other").await.is_empty(),
        "nothing is written into another organization's log"
    );
    let got = entries(&repo, "acme").await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].outcome, audit::Outcome::Denied);
    assert_eq!(got[0].target, "other.t9");
    assert!(got[0].changes.is_empty());
    // The administrator's refusals go to the `admin` chain; an unauthenticated caller (no
    // actor) writes nothing.
    context::scope(None, repo.record_denied()).await.unwrap();
    assert!(entries(&repo, audit::ADMIN_CHAIN).await.is_empty());
}

#[tokio::test]
async fn editing_removing_or_reordering_an_entry_is_found() {
    for tamper in ["edit", "remove", "swap", "truncate"] {
        let (repo, inner) = world_with_store().await;
        tenants(&repo, 2..6).await;
        let texts = repo.audit_entries("acme", 0, 10).await.unwrap();
        match tamper {
            "edit" => {
                let edited = texts[1].replace("acme.t3", "acme.tX");
                inner.tamper_audit("acme", 2, Some(edited)).await;
            }
            "remove" => inner.tamper_audit("acme", 2, None).await,
            "swap" => {
                inner.tamper_audit("acme", 2, Some(texts[2].clone())).await;
                inner.tamper_audit("acme", 3, Some(texts[1].clone())).await;
            }
            _ => inner.tamper_audit("acme", 4, None).await,
        }
        let v = verify_chain(&repo, "acme", None, keep()).await.unwrap();
        assert!(!v.valid, "{tamper}: {v:?}");
        let want = if tamper == "truncate" { 4 } else { 2 };
        assert_eq!(v.first_broken_sequence, Some(want), "{tamper}: {v:?}");
    }
}

#[tokio::test]
async fn a_chain_rewritten_with_every_later_hash_recomputed_is_found_by_its_signed_checkpoint() {
    use trustfn_domain::audit::checkpoint;
    use trustfn_domain::ports::KeyManager;
    let (repo, inner) = world_with_store().await;
    tenants(&repo, 2..5).await;
    let kms = trustfn_testkit::FakeKms::default();
    let (arn, public) = kms.add_key(trustfn_signer::Curve::P256);
    let signer = kms.signer(&arn, public.clone());
    let now = chrono::Utc::now().timestamp_millis();
    let report = checkpoint::run(&repo, signer.as_ref(), now, now + 10_000, 30)
        .await
        .unwrap();
    assert_eq!((report.due, report.signed), (1, 1));
    let (seq, jws) = repo
        .audit_checkpoints("acme", None, 1)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let claims = checkpoint::open(&jws, &public).unwrap();
    let head = repo.audit_head("acme").await.unwrap().unwrap();
    assert_eq!(
        (seq, claims.sequence_number, claims.entry_hash.clone()),
        (3, 3, head.1.clone())
    );
    let (_, other) = kms.add_key(trustfn_signer::Curve::P256);
    assert!(
        checkpoint::open(&jws, &other).is_err(),
        "another key's checkpoint"
    );
    // Nothing new: not due again.
    let again = checkpoint::run(&repo, signer.as_ref(), now, now + 10_000, 30)
        .await
        .unwrap();
    assert_eq!(again.due, 0);
    let v = verify_chain(&repo, "acme", Some(&public), keep())
        .await
        .unwrap();
    assert!(v.valid, "{v:?}");
    assert_eq!(v.checkpoint.map(|c| c.sequence_number), Some(3));

    // Rewrite entry 2 and recompute every later hash and the head: consistent in itself.
    let mut log = entries(&repo, "acme").await;
    log[1].changes[0].insert("id".into(), Value::String("acme.tX".into()));
    for i in 1..log.len() {
        log[i].prev_entry_hash = log[i - 1].entry_hash.clone();
        log[i] = log[i].clone().seal().unwrap();
        inner
            .tamper_audit(
                "acme",
                log[i].sequence_number,
                Some(log[i].to_canonical().unwrap()),
            )
            .await;
    }
    inner.tamper_audit_head("acme", 3, &log[2].entry_hash).await;
    assert!(
        verify_chain(&repo, "acme", None, keep())
            .await
            .unwrap()
            .valid,
        "only the checkpoint can tell"
    );
    let v = verify_chain(&repo, "acme", Some(&public), keep())
        .await
        .unwrap();
    assert_eq!(
        (v.valid, v.first_broken_sequence),
        (false, Some(3)),
        "{v:?}"
    );

    // Cut short to before the checkpoint, head moved back: found too.
    let (repo, inner) = world_with_store().await;
    tenants(&repo, 2..5).await;
    checkpoint::run(&repo, signer.as_ref(), now, now + 10_000, 30)
        .await
        .unwrap();
    let log = entries(&repo, "acme").await;
    inner.tamper_audit("acme", 3, None).await;
    inner.tamper_audit_head("acme", 2, &log[1].entry_hash).await;
    assert!(
        verify_chain(&repo, "acme", None, keep())
            .await
            .unwrap()
            .valid
    );
    let v = verify_chain(&repo, "acme", Some(&public), keep())
        .await
        .unwrap();
    assert_eq!(
        (v.valid, v.first_broken_sequence),
        (false, Some(3)),
        "{v:?}"
    );
}

#[tokio::test]
async fn entries_gone_at_the_end_of_retention_verify_from_a_signed_checkpoint_and_a_cut_does_not() {
    use trustfn_domain::audit::checkpoint;
    use trustfn_domain::ports::KeyManager;
    let kms = trustfn_testkit::FakeKms::default();
    let (arn, public) = kms.add_key(trustfn_signer::Curve::P256);
    let signer = kms.signer(&arn, public.clone());
    let day = 86_400_000;
    let now = chrono::Utc::now().timestamp_millis();
    // Entries 1-3, a checkpoint of 3, entries 4-6; then 1-3 (or 1-4) leave the table.
    let chain = |gone: u64| {
        let kms_signer = &signer;
        async move {
            let (repo, inner) = world_with_store().await;
            tenants(&repo, 2..5).await;
            checkpoint::run(&repo, kms_signer.as_ref(), now, now + 10_000, 30)
                .await
                .unwrap();
            tenants(&repo, 5..8).await;
            for seq in 1..=gone {
                inner.tamper_audit("acme", seq, None).await;
            }
            (repo, inner)
        }
    };
    let retention = |days_later: i64| Retention {
        retention_days: 30,
        now_ms: now + days_later * day,
    };
    for gone in [3, 4] {
        let (repo, _) = chain(gone).await;
        // 31 days on, entries of 30-day retention have expired: the chain starts after them.
        let v = verify_chain(&repo, "acme", Some(&public), retention(31))
            .await
            .unwrap();
        assert!(v.valid, "{v:?}");
        assert_eq!(
            (
                v.expired_before,
                v.entries,
                v.head.map(|h| h.sequence_number)
            ),
            (Some(gone + 1), 6 - gone, Some(6))
        );
        // The same entries gone on day 10: cut, not expired.
        let v = verify_chain(&repo, "acme", Some(&public), retention(10))
            .await
            .unwrap();
        assert_eq!(
            (v.valid, v.first_broken_sequence),
            (false, Some(1)),
            "{v:?}"
        );
        assert!(v.reason.unwrap().contains("was cut"));
        // Without the checkpoint key nothing shows they expired.
        let v = verify_chain(&repo, "acme", None, retention(31))
            .await
            .unwrap();
        assert!(!v.valid, "{v:?}");
    }
    // A first remaining entry rewritten (and resealed) to start a chain of its own: it does
    // not follow the entry the checkpoint signed.
    let (repo, inner) = chain(3).await;
    let mut log = entries(&repo, "acme").await;
    assert_eq!(log[0].sequence_number, 4);
    log[0].prev_entry_hash = "0".repeat(64);
    let forged = log[0].clone().seal().unwrap();
    inner
        .tamper_audit("acme", 4, Some(forged.to_canonical().unwrap()))
        .await;
    let v = verify_chain(&repo, "acme", Some(&public), retention(31))
        .await
        .unwrap();
    assert_eq!(
        (v.valid, v.first_broken_sequence),
        (false, Some(1)),
        "{v:?}"
    );
}
