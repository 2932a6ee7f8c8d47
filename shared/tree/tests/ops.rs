//! The tree operations against the in-memory repository (same semantics as DynamoDB).

use std::sync::Arc;

use serde_json::json;
use trustfn_domain::auth::{act, Operation};
use trustfn_domain::model::{Record, Service};
use trustfn_domain::reply::PageParams;
use trustfn_domain::repo::{Op, Pending, Repository};
use trustfn_domain::Target;
use trustfn_testkit::MemoryRepo;
use trustfn_testkit::{admin, api_key, CommitsFail, Raced};
use trustfn_tree::configuration;
use trustfn_tree::organizations::{self, CreateTenant};
use trustfn_tree::services::{self, CreateService};
use trustfn_tree::{delete, listing};

fn t(s: &str) -> Target {
    Target::parse(s).unwrap()
}

async fn org(repo: &dyn Repository, id: &str) {
    let body = serde_json::from_value(json!({"_id": id, "profile": {"name": id}})).unwrap();
    organizations::create_organization(repo, &admin::<act::OrganizationCreate>(id), body)
        .await
        .unwrap();
}

async fn tenant(repo: &dyn Repository, id: &str) {
    let body = CreateTenant {
        name: id.into(),
        configuration: None,
    };
    organizations::create_tenant(repo, &admin::<act::TenantCreate>(id), body)
        .await
        .unwrap();
}

async fn service(repo: &dyn Repository, id: &str, ty: &str, deps: &[&str]) {
    let body = CreateService {
        service_type: ty.into(),
        config: None,
        dependencies: deps.iter().map(|d| d.to_string()).collect(),
        ..Default::default()
    };
    services::create_service(
        repo,
        &admin::<act::ServiceCreate>(id),
        body,
        None,
        &Default::default(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn counters_follow_children_and_dependants() {
    let repo = MemoryRepo::new();
    org(&repo, "acme").await;
    tenant(&repo, "acme.t1").await;
    service(&repo, "acme.t1.kms", "kms", &[]).await;
    service(&repo, "acme.t1.x509", "x509-service", &["acme.t1.kms"]).await;
    let kms = repo.get(&t("acme.t1.kms")).await.unwrap().unwrap();
    assert_eq!((kms.children, kms.dependants), (0, 1));
    let tenant = repo.get(&t("acme.t1")).await.unwrap().unwrap();
    assert_eq!(tenant.children, 2);
    // org: its admin role and the tenant
    assert_eq!(repo.get(&t("acme")).await.unwrap().unwrap().children, 2);
}

#[tokio::test]
async fn recursive_delete_spans_several_commits_and_leaves_nothing() {
    let repo = MemoryRepo::new();
    org(&repo, "acme").await;
    tenant(&repo, "acme.big").await;
    tenant(&repo, "acme.other").await;
    service(&repo, "acme.other.kms", "kms", &[]).await;
    service(&repo, "acme.big.kms", "kms", &[]).await;
    for i in 0..60 {
        service(
            &repo,
            &format!("acme.big.x{i:02}"),
            "x509-service",
            &["acme.big.kms", "acme.other.kms"],
        )
        .await;
    }
    // A service outside the subtree depending on one inside.
    service(&repo, "acme.other.x509", "x509-service", &["acme.big.kms"]).await;
    let before = repo.item_counts().await;
    let reply = delete::delete(&repo, &admin::<act::ResourceDelete>("acme.big"), true)
        .await
        .unwrap();
    assert_eq!(reply.body.unwrap()["deleted"], 62);
    let (records, edges, tokens) = repo.item_counts().await;
    assert_eq!(records, before.0 - 62);
    assert_eq!(edges, 0, "edges into or out of the subtree remain");
    assert_eq!(tokens, 0);
    let other_kms = repo.get(&t("acme.other.kms")).await.unwrap().unwrap();
    assert_eq!(other_kms.dependants, 0);
    assert_eq!(repo.get(&t("acme")).await.unwrap().unwrap().children, 2);
    // Survivors' counters are right: plain deletes now succeed.
    for id in ["acme.other.x509", "acme.other.kms", "acme.other"] {
        delete::delete(&repo, &admin::<act::ResourceDelete>(id), false)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_child_added_during_recursive_delete_stops_it_without_orphans() {
    let inner = MemoryRepo::new();
    org(&inner, "acme").await;
    tenant(&inner, "acme.t1").await;
    service(&inner, "acme.t1.kms", "kms", &[]).await;
    // A concurrent request creates a child under acme.t1 just before the delete's first commit.
    let late = Record::new(t("acme.t1.late"), Service::Kms(Default::default()));
    let race = vec![
        Op::Create(late),
        Op::Count {
            id: t("acme.t1"),
            children: 1,
            dependants: 0,
        },
    ];
    let repo = Raced::new(&inner, race);
    let err = delete::delete(&repo, &admin::<act::ResourceDelete>("acme.t1"), true)
        .await
        .unwrap_err();
    assert_eq!(err.status, 409);
    assert!(repo.get(&t("acme.t1.late")).await.unwrap().is_some());
    assert!(
        repo.get(&t("acme.t1")).await.unwrap().is_some(),
        "parent of a live child was deleted"
    );
    // A retry sees the new child and removes everything.
    delete::delete(&repo, &admin::<act::ResourceDelete>("acme.t1"), true)
        .await
        .unwrap();
    assert!(repo.get(&t("acme.t1.late")).await.unwrap().is_none());
}

#[tokio::test]
async fn a_dependency_added_during_a_delete_stops_it_without_a_dangling_edge() {
    for recursive in [false, true] {
        let inner = MemoryRepo::new();
        org(&inner, "acme").await;
        tenant(&inner, "acme.t1").await;
        service(&inner, "acme.t1.kms", "kms", &[]).await;
        service(&inner, "acme.t1.x509", "x509-service", &[]).await;
        // dependencies/add x509 -> kms commits between the delete's reads and its commit.
        let race = vec![
            Op::AddEdge {
                from: t("acme.t1.x509"),
                to: t("acme.t1.kms"),
            },
            Op::Count {
                id: t("acme.t1.kms"),
                children: 0,
                dependants: 1,
            },
            Op::Touch {
                id: t("acme.t1.x509"),
            },
        ];
        let repo = Raced::new(&inner, race);
        let auth = admin::<act::ResourceDelete>("acme.t1.x509");
        let err = delete::delete(&repo, &auth, recursive).await.unwrap_err();
        assert_eq!(err.status, 409, "recursive: {recursive}");
        assert!(repo.get(&t("acme.t1.x509")).await.unwrap().is_some());
        assert_eq!(
            repo.dependencies(&t("acme.t1.x509")).await.unwrap(),
            vec![t("acme.t1.kms")]
        );
        // A retry sees the edge and removes it with the service.
        delete::delete(&repo, &auth, true).await.unwrap();
        assert!(repo.dependants(&t("acme.t1.kms")).await.unwrap().is_empty());
        let kms = repo.get(&t("acme.t1.kms")).await.unwrap().unwrap();
        assert_eq!(kms.dependants, 0);
    }
}

/// A repository whose writes fail, as an unreachable DynamoDB would.
#[tokio::test]
async fn storage_failures_are_clean_503s() {
    let mem = Arc::new(MemoryRepo::new());
    org(mem.as_ref(), "acme").await;
    let before = mem.item_counts().await;
    let repo = CommitsFail(mem.as_ref());
    let body = CreateTenant {
        name: "t".into(),
        configuration: None,
    };
    let err = organizations::create_tenant(&repo, &admin::<act::TenantCreate>("acme.t1"), body)
        .await
        .unwrap_err();
    assert_eq!(err.status, 503);
    assert!(!err.message.contains("DynamoDB is down"), "{}", err.message);
    assert_eq!(mem.item_counts().await, before);
}

#[tokio::test]
async fn listing_pages_through_children() {
    let repo = MemoryRepo::new();
    org(&repo, "acme").await;
    tenant(&repo, "acme.t1").await;
    for i in 0..7 {
        service(&repo, &format!("acme.t1.s{i}"), "x509-store", &[]).await;
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = PageParams {
            limit: Some("3".into()),
            cursor: cursor.clone(),
            ..Default::default()
        };
        let reply = listing::list_children(&repo, &admin::<act::ResourceList>("acme.t1"), &page)
            .await
            .unwrap();
        let items = reply.body.unwrap();
        seen.extend(
            items
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["_id"].as_str().unwrap().to_owned()),
        );
        cursor = reply
            .headers
            .iter()
            .find(|(k, _)| *k == "x-next-cursor")
            .map(|(_, v)| v.clone());
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        (0..7).map(|i| format!("acme.t1.s{i}")).collect::<Vec<_>>()
    );
    // Offset paging, as Enterprise API clients page: limit/offset, never the same page twice.
    let ids = |limit: &str, offset: &str| {
        let page = PageParams {
            limit: Some(limit.into()),
            offset: Some(offset.into()),
            ..Default::default()
        };
        let repo = &repo;
        async move {
            let reply =
                listing::list_children(repo, &admin::<act::ResourceList>("acme.t1"), &page).await?;
            Ok::<Vec<String>, trustfn_domain::ApiError>(
                reply
                    .body
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["_id"].as_str().unwrap().to_owned())
                    .collect(),
            )
        }
    };
    assert_eq!(ids("1", "1").await.unwrap(), ["acme.t1.s1"]);
    assert_eq!(ids("3", "5").await.unwrap(), ["acme.t1.s5", "acme.t1.s6"]);
    assert!(ids("3", "7").await.unwrap().is_empty());
    assert!(ids("3", "70").await.unwrap().is_empty());
    for bad in ["-1", "x", "10001"] {
        assert_eq!(ids("3", bad).await.unwrap_err().status, 400, "{bad}");
    }
    let both = PageParams {
        limit: Some("1".into()),
        offset: Some("1".into()),
        cursor: cursor_of_first(&repo).await,
    };
    let e = listing::list_children(&repo, &admin::<act::ResourceList>("acme.t1"), &both)
        .await
        .unwrap_err();
    assert_eq!(e.status, 400);
}

async fn cursor_of_first(repo: &MemoryRepo) -> Option<String> {
    repo.children(Some(&t("acme.t1")), 1, None)
        .await
        .unwrap()
        .next
}

fn pending(list: &str, seq: &str, due_at: i64) -> Op {
    Op::AddPending(Pending {
        list: t(list),
        seq: seq.into(),
        changes: vec![(7, 1)],
        due_at,
        by: None,
    })
}

#[tokio::test]
async fn pending_changes_are_ordered_and_make_their_list_due_once() {
    let repo = MemoryRepo::new();
    repo.commit(vec![
        pending("a.s.c.l1", "0002", 50),
        pending("a.s.c.l2", "0001", 90),
    ])
    .await
    .unwrap();
    repo.commit(vec![pending("a.s.c.l1", "0001", 40)])
        .await
        .unwrap();
    let seqs: Vec<String> = repo
        .pending(&t("a.s.c.l1"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.seq)
        .collect();
    assert_eq!(seqs, ["0001", "0002"], "folded oldest first");
    assert_eq!(
        repo.due(60, 10).await.unwrap(),
        [t("a.s.c.l1")],
        "l2 is not due yet; l1 once"
    );
    assert_eq!(
        repo.due(100, 10).await.unwrap(),
        [t("a.s.c.l1"), t("a.s.c.l2")]
    );
    // A sequence is stored once; removing it twice fails and changes nothing.
    assert!(repo
        .commit(vec![pending("a.s.c.l1", "0001", 1)])
        .await
        .is_err());
    let rm = || Op::RemovePending {
        list: t("a.s.c.l1"),
        seq: "0001".into(),
    };
    repo.commit(vec![rm()]).await.unwrap();
    assert!(repo.commit(vec![rm()]).await.is_err());
    assert_eq!(repo.pending_count().await, 2);
}

#[tokio::test]
async fn a_refused_delete_names_only_the_dependants_the_caller_may_see() {
    let repo = MemoryRepo::new();
    org(&repo, "acme").await;
    tenant(&repo, "acme.t1").await;
    tenant(&repo, "acme.t2").await;
    service(&repo, "acme.t1.kms", "kms", &[]).await;
    service(&repo, "acme.t1.x509", "x509-service", &["acme.t1.kms"]).await;
    service(
        &repo,
        "acme.t2.secret-x509",
        "x509-service",
        &["acme.t1.kms"],
    )
    .await;
    let t1_only = api_key(&[("acme.t1", "all", Operation::Add)]);
    let auth = t1_only
        .authorize::<act::ResourceDelete>(&t("acme.t1.kms"))
        .unwrap();
    let e = delete::delete(&repo, &auth, false).await.unwrap_err();
    assert_eq!(e.status, 409);
    assert!(e.message.contains("acme.t1.x509"), "{}", e.message);
    assert!(!e.message.contains("secret-x509"), "{}", e.message);
    assert!(e.message.contains("1 other service(s)"), "{}", e.message);
    let e = delete::delete(&repo, &admin::<act::ResourceDelete>("acme.t1.kms"), false)
        .await
        .unwrap_err();
    assert!(e.message.contains("acme.t2.secret-x509"), "{}", e.message);
}

#[tokio::test]
async fn configuration_update_refuses_a_changed_dependency_list_instead_of_ignoring_it() {
    let repo = MemoryRepo::new();
    org(&repo, "acme").await;
    tenant(&repo, "acme.t1").await;
    service(&repo, "acme.t1.kms", "kms", &[]).await;
    service(&repo, "acme.t1.kms2", "kms", &[]).await;
    service(&repo, "acme.t1.x509", "x509-service", &["acme.t1.kms"]).await;
    let auth = admin::<act::ConfigurationUpdate>("acme.t1.x509");
    let policy = Default::default();
    let update = |deps: serde_json::Value| {
        configuration::configuration_update(
            &repo,
            &auth,
            "x509-service-api",
            json!({"config": {"note": "n"}, "dependencies": deps}),
            None,
            &policy,
        )
    };
    for changed in [
        json!([]),
        json!(["acme.t1.kms2"]),
        json!(["acme.t1.kms", "acme.t1.kms2"]),
        json!("acme.t1.kms"),
    ] {
        let e = update(changed.clone()).await.unwrap_err();
        assert_eq!(e.status, 400, "{changed}");
        assert!(e.message.contains("dependencies/add"), "{}", e.message);
    }
    assert_eq!(
        repo.get(&t("acme.t1.x509")).await.unwrap().unwrap().version,
        1
    );
    // The list configuration/view shows, sent back unchanged, is accepted.
    update(json!(["acme.t1.kms"])).await.unwrap();
    assert_eq!(
        repo.get(&t("acme.t1.x509")).await.unwrap().unwrap().version,
        2
    );
    assert_eq!(
        repo.dependencies(&t("acme.t1.x509")).await.unwrap(),
        vec![t("acme.t1.kms")]
    );
}

#[tokio::test]
async fn a_recursive_delete_does_not_change_services_outside_the_callers_authority() {
    let repo = MemoryRepo::new();
    org(&repo, "acme").await;
    tenant(&repo, "acme.a").await;
    tenant(&repo, "acme.b").await;
    service(&repo, "acme.a.kms", "kms", &[]).await;
    service(&repo, "acme.b.st", "x509-service", &["acme.a.kms"]).await;
    let a_only = api_key(&[("acme.a", "all", Operation::Add)]);
    let auth = a_only
        .authorize::<act::ResourceDelete>(&t("acme.a"))
        .unwrap();
    let before = repo.item_counts().await;
    let e = delete::delete(&repo, &auth, true).await.unwrap_err();
    assert_eq!(e.status, 409);
    assert!(!e.message.contains("acme.b.st"), "{}", e.message);
    assert_eq!(repo.item_counts().await, before, "nothing removed");
    assert_eq!(
        repo.dependencies(&t("acme.b.st")).await.unwrap(),
        vec![t("acme.a.kms")]
    );
    // With the right to remove that dependency, the subtree goes and the edge with it.
    let both = api_key(&[
        ("acme.a", "all", Operation::Add),
        ("acme.b", "service-dependency-remove", Operation::Add),
    ]);
    let auth = both.authorize::<act::ResourceDelete>(&t("acme.a")).unwrap();
    delete::delete(&repo, &auth, true).await.unwrap();
    assert!(repo.dependencies(&t("acme.b.st")).await.unwrap().is_empty());
    assert!(repo.get(&t("acme.a")).await.unwrap().is_none());
}

#[tokio::test]
async fn duplicates_are_409_and_names_are_required_and_bounded() {
    let repo = MemoryRepo::new();
    org(&repo, "acme").await;
    tenant(&repo, "acme.t1").await;
    let create = |name: String| {
        let repo = &repo;
        async move {
            let body = CreateTenant {
                name,
                configuration: None,
            };
            organizations::create_tenant(repo, &admin::<act::TenantCreate>("acme.t2"), body).await
        }
    };
    let e = organizations::create_tenant(
        &repo,
        &admin::<act::TenantCreate>("acme.t1"),
        CreateTenant {
            name: "again".into(),
            configuration: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!((e.status, e.id), (409, "DuplicateTarget"));
    assert_eq!(create("   ".into()).await.unwrap_err().status, 400);
    assert_eq!(create("x".repeat(257)).await.unwrap_err().status, 400);
    create("x".repeat(256)).await.unwrap();
}

#[tokio::test]
async fn configuration_documents_are_read_and_written_nested_or_flat() {
    let repo = MemoryRepo::new();
    org(&repo, "acme").await;
    tenant(&repo, "acme.t1").await;
    service(&repo, "acme.t1.kms", "kms", &[]).await;
    let view = || async {
        configuration::configuration_view(
            &repo,
            &admin::<act::ConfigurationView>("acme.t1.kms"),
            "kms-service-api",
        )
        .await
        .unwrap()
        .body
        .unwrap()
    };
    let update = |body: serde_json::Value| {
        let repo = &repo;
        async move {
            let policy = Default::default();
            configuration::configuration_update(
                repo,
                &admin::<act::ConfigurationUpdate>("acme.t1.kms"),
                "kms-service-api",
                body,
                None,
                &policy,
            )
            .await
        }
    };
    // The Enterprise API's flat document (its example), with a field of the client's own.
    update(
        json!({"_id": "acme.t1.kms", "traversable": true, "defaultKeyGenerationRequests": {},
                  "parent": "acme.t1", "label": "eu"}),
    )
    .await
    .unwrap();
    let doc = view().await;
    assert_eq!(
        doc["config"],
        json!({"defaultKeyGenerationRequests": {}, "label": "eu"}),
        "traversable is the document's (always true), not configuration"
    );
    assert_eq!(
        (
            doc["traversable"].clone(),
            doc["type"].clone(),
            doc["defaultKeyGenerationRequests"].clone()
        ),
        (json!(true), json!("kms"), json!({}))
    );
    // A round trip editing either form.
    let mut nested = doc.clone();
    nested["config"]["label"] = json!("us");
    update(nested).await.unwrap();
    assert_eq!(view().await["config"]["label"], json!("us"));
    let mut flat = view().await;
    flat["label"] = json!("eu");
    flat["defaultKeyGenerationRequests"] = json!({"keyType": "secp384r1"});
    update(flat).await.unwrap();
    let doc = view().await;
    assert_eq!(
        (
            doc["label"].clone(),
            doc["defaultKeyGenerationRequests"].clone()
        ),
        (json!("eu"), json!({"keyType": "secp384r1"}))
    );
    // A default key generation request that is not one: refused by name.
    let mut bad = view().await;
    bad["defaultKeyGenerationRequests"] = json!({"keyType": 7});
    let e = update(bad).await.unwrap_err();
    assert!(
        e.message.starts_with("defaultKeyGenerationRequests"),
        "{}",
        e.message
    );
    // Flat fields without the document's `_id` (a stray or misspelt field): refused.
    let e = update(json!({"confg": {}})).await.unwrap_err();
    assert!(e.message.contains("confg"), "{}", e.message);
    // Both forms changing one field differently: refused, nothing changes.
    let mut both = view().await;
    both["label"] = json!("a");
    both["config"]["label"] = json!("b");
    let e = update(both).await.unwrap_err();
    assert_eq!(e.status, 400);
    assert!(e.message.contains("label"), "{}", e.message);
    assert_eq!(view().await["config"]["label"], json!("eu"));
}

#[tokio::test]
async fn the_generic_routes_hold_the_narrower_denials_of_each_kind() {
    // A role that REMOVEs kms-key-list and kms-key-delete still listed and deleted keys through
    // resources/list and resources/delete.
    let repo = MemoryRepo::new();
    org(&repo, "acme").await;
    tenant(&repo, "acme.t1").await;
    service(&repo, "acme.t1.kms", "kms", &[]).await;
    let kms = trustfn_testkit::FakeKms::default();
    let (arn, public) = kms.add_key(trustfn_signer::Curve::P256);
    let key = trustfn_domain::model::KeyDoc {
        key_type: trustfn_signer::Curve::P256,
        public_key: public,
        kms_key_arn: trustfn_domain::model::KeyArn::parse(&arn).unwrap(),
        imported: false,
    };
    trustfn_testkit::seed(&repo, "acme.t1.kms.k", key).await;
    let p = api_key(&[
        ("acme", "all", Operation::Add),
        ("acme.t1.kms", "kms-key-list", Operation::Remove),
        ("acme.t1.kms", "kms-key-delete", Operation::Remove),
    ]);
    let page = PageParams::default();
    let admin_p = trustfn_domain::auth::Principal::Admin;
    for (who, shown) in [(&admin_p, 1), (&p, 0)] {
        let auth = who
            .authorize::<act::ResourceList>(&t("acme.t1.kms"))
            .unwrap();
        let reply = listing::list_children(&repo, &auth, &page).await.unwrap();
        let n = reply.body.unwrap().as_array().unwrap().len();
        assert_eq!(n, shown, "keys shown to {}", who.describe());
    }
    for (path, recursive) in [
        ("acme.t1.kms.k", false),
        ("acme.t1.kms.missing", false),
        ("acme.t1.kms", true),
    ] {
        let auth = p.authorize::<act::ResourceDelete>(&t(path)).unwrap();
        let e = delete::delete(&repo, &auth, recursive).await.unwrap_err();
        assert_eq!(e.status, 403, "{path}: {}", e.message);
    }
    assert!(repo.get(&t("acme.t1.kms.k")).await.unwrap().is_some());
}

#[tokio::test]
async fn an_organization_id_is_never_given_out_twice() {
    // Grants outside trustfn name paths (a KMS key tagged trustfn:adopt-by = "acme"): an id
    // deleted and created again for someone else must not inherit them.
    let repo = MemoryRepo::new();
    org(&repo, "acme").await;
    delete::delete(&repo, &admin::<act::ResourceDelete>("acme"), true)
        .await
        .unwrap();
    assert!(repo.get(&t("acme")).await.unwrap().is_none());
    let body = serde_json::from_value(json!({"_id": "acme", "profile": {"name": "new"}})).unwrap();
    let e =
        organizations::create_organization(&repo, &admin::<act::OrganizationCreate>("acme"), body)
            .await
            .unwrap_err();
    assert_eq!(e.status, 409, "{e:?}");
    assert!(e.message.contains("used before"), "{}", e.message);
    assert!(repo.get(&t("acme")).await.unwrap().is_none());
    assert!(repo.get(&t("acme.admin")).await.unwrap().is_none());
    // A live organization's id is the usual duplicate.
    org(&repo, "other").await;
    let body = serde_json::from_value(json!({"_id": "other", "profile": {"name": "x"}})).unwrap();
    let e =
        organizations::create_organization(&repo, &admin::<act::OrganizationCreate>("other"), body)
            .await
            .unwrap_err();
    assert_eq!(e.status, 409);
    assert!(!e.message.contains("used before"), "{}", e.message);
}
