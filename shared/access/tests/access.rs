//! API keys and roles against the in-memory repository: what a key holds, where roles may
//! grant, the token that works once issued and stops at deletion.

use serde_json::json;
use trustfn_access::api_keys::{create_api_key, delete_api_key, list_api_keys, CreateApiKey};
use trustfn_access::roles::{create_role, CreateRole};
use trustfn_domain::auth::{act, Action, Operation, Principal};
use trustfn_domain::authn::{authenticate, AdminToken};
use trustfn_domain::model::{ApiKey, Role};
use trustfn_domain::resource::load_as;
use trustfn_testkit::MemoryRepo;
use trustfn_testkit::{admin, api_key, seed_tenant, t};

fn key_body(v: serde_json::Value) -> CreateApiKey {
    serde_json::from_value(v).unwrap()
}

fn role_body(v: serde_json::Value) -> CreateRole {
    serde_json::from_value(v).unwrap()
}

async fn world() -> MemoryRepo {
    let repo = MemoryRepo::new();
    seed_tenant(&repo, "acme.t1").await;
    seed_tenant(&repo, "other.t1").await;
    let ops = admin::<act::RoleCreate>("acme.ops");
    let body = role_body(json!({"name": "Ops", "permissions": [
        {"target": "acme.t1", "action": "ALL", "operation": "ADD"},
        {"target": "acme.t1.kms", "action": "resource-delete", "operation": "REMOVE"}]}));
    create_role(&repo, &ops, body).await.unwrap();
    let body = role_body(
        json!({"name": "Administrator", "permissions": [{"target": "acme", "action": "all", "operation": "ADD"}]}),
    );
    create_role(&repo, &admin::<act::RoleCreate>("acme.admin"), body)
        .await
        .unwrap();
    repo
}

async fn principal(repo: &MemoryRepo, token: &str) -> Principal {
    let header = format!("Bearer {token}");
    authenticate(repo, &AdminToken::new(None, None).unwrap(), Some(&header))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_key_gets_its_roles_permissions_and_stops_working_when_deleted() {
    let repo = world().await;
    let body = key_body(json!({"name": "CI", "roles": ["ops", "acme.ops"], "expiration": "30d"}));
    let out = create_api_key(&repo, &admin::<act::ApiKeyCreate>("acme.ci"), body)
        .await
        .unwrap()
        .body
        .unwrap();
    let token = out["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tfk_"));
    let stored = load_as::<ApiKey>(&repo, &t("acme.ci")).await.unwrap().doc;
    assert_eq!(
        stored.roles,
        vec!["acme.ops".to_owned()],
        "one role, listed once"
    );
    assert_ne!(stored.token_hash, token, "only the hash is stored");
    let expires =
        chrono::DateTime::parse_from_rfc3339(stored.expires_at.as_deref().unwrap()).unwrap();
    let days = (expires.timestamp() - chrono::Utc::now().timestamp()) / 86_400;
    assert!((29..=30).contains(&days), "{days} days");
    let p = principal(&repo, &token).await;
    assert!(p.allows(&t("acme.t1.st"), Action::StatusUpdate));
    assert!(!p.allows(&t("acme.t1.kms"), Action::ResourceDelete));
    assert!(!p.allows(&t("acme"), Action::TenantCreate));
    let listed = list_api_keys(
        &repo,
        &admin::<act::ApiKeyList>("acme"),
        &Default::default(),
    )
    .await
    .unwrap();
    let listed = listed.body.unwrap().to_string();
    assert!(
        listed.contains("acme.ci")
            && !listed.contains(&token)
            && !listed.contains(&stored.token_hash)
    );
    delete_api_key(&repo, &admin::<act::ApiKeyDelete>("acme.ci"))
        .await
        .unwrap();
    let header = format!("Bearer {token}");
    let e = authenticate(&repo, &AdminToken::new(None, None).unwrap(), Some(&header))
        .await
        .unwrap_err();
    assert_eq!(e.status, 401);
    assert_eq!(repo.item_counts().await.2, 0, "no token left");
    assert_eq!(
        delete_api_key(&repo, &admin::<act::ApiKeyDelete>("acme.ci"))
            .await
            .unwrap_err()
            .status,
        404
    );
    let e = delete_api_key(&repo, &admin::<act::ApiKeyDelete>("acme.ops"))
        .await
        .unwrap_err();
    assert_eq!(e.status, 400, "a role is not an API key");
}

#[tokio::test]
async fn roles_come_from_the_keys_own_organization_and_must_exist() {
    let repo = world().await;
    let before = repo.item_counts().await;
    for (roles, why) in [
        (json!(["other.admin"]), "not a role of organization"),
        (json!(["acme.t1.ops"]), "not a role of organization"),
        (json!(["missing"]), "does not exist"),
        (json!(["t1"]), "does not exist"),
    ] {
        let body = key_body(json!({"name": "k", "roles": roles}));
        let e = create_api_key(&repo, &admin::<act::ApiKeyCreate>("acme.k"), body)
            .await
            .unwrap_err();
        assert!(e.message.contains(why), "{roles}: {}", e.message);
    }
    let body = key_body(json!({"name": "k", "expiration": "soon"}));
    let e = create_api_key(&repo, &admin::<act::ApiKeyCreate>("acme.k"), body)
        .await
        .unwrap_err();
    assert!(e.message.contains("expiration"), "{}", e.message);
    let body = key_body(json!({"name": "k"}));
    let e = create_api_key(&repo, &admin::<act::ApiKeyCreate>("acme.t1.k"), body)
        .await
        .unwrap_err();
    assert_eq!(e.id, "InvalidTarget");
    assert_eq!(repo.item_counts().await, before, "nothing written");
}

#[tokio::test]
async fn a_key_may_hand_out_only_roles_whose_grants_it_holds() {
    let repo = world().await;
    // The delegator may create keys and holds `all` on acme.t1, nothing more.
    let body = role_body(json!({"name": "delegator", "permissions": [
        {"target": "acme", "action": "apikey-create", "operation": "ADD"},
        {"target": "acme.t1", "action": "all", "operation": "ADD"}]}));
    create_role(&repo, &admin::<act::RoleCreate>("acme.delegator"), body)
        .await
        .unwrap();
    let body = role_body(
        json!({"name": "lister", "permissions": [{"target": "acme.t1", "action": "resource-list", "operation": "ADD"}]}),
    );
    create_role(&repo, &admin::<act::RoleCreate>("acme.lister"), body)
        .await
        .unwrap();
    let body = key_body(json!({"name": "delegator", "roles": ["delegator"]}));
    let out = create_api_key(
        &repo,
        &admin::<act::ApiKeyCreate>("acme.delegator-key"),
        body,
    )
    .await
    .unwrap();
    let token = out.body.unwrap()["token"].as_str().unwrap().to_owned();
    let delegator = principal(&repo, &token).await;
    let create = |id: &'static str, roles: serde_json::Value| {
        let (repo, delegator) = (&repo, &delegator);
        async move {
            let proof = delegator.authorize::<act::ApiKeyCreate>(&t(id))?;
            let body = key_body(json!({"name": id, "roles": roles}));
            create_api_key(repo, &proof, body).await.map(|_| ())
        }
    };
    // A role granting less than the delegator holds: fine.
    create("acme.reader", json!(["lister"])).await.unwrap();
    // Roles granting more (all on acme; the REMOVE-carrying ops role grants all on acme.t1,
    // which it holds): `admin` is refused and nothing is written.
    let before = repo.item_counts().await;
    let e = create("acme.escalated", json!(["admin"]))
        .await
        .unwrap_err();
    assert_eq!(e.status, 403);
    assert!(
        e.message.contains("grants more than the caller holds"),
        "{}",
        e.message
    );
    assert_eq!(repo.item_counts().await, before);
    create("acme.operator", json!(["ops"])).await.unwrap();
    // Without apikey-create on the key's path there is no proof at all.
    let lister = principal(&repo, &token).await;
    assert!(lister
        .authorize::<act::ApiKeyCreate>(&t("other.k"))
        .is_err());
}

#[tokio::test]
async fn roles_grant_only_inside_their_organization_and_name_known_actions() {
    let repo = world().await;
    for (perm, why) in [
        (
            json!({"target": "other.t1", "action": "all", "operation": "ADD"}),
            "outside organization",
        ),
        (
            json!({"target": "acme.t1", "action": "rm-rf", "operation": "ADD"}),
            "unknown action",
        ),
        (
            json!({"target": "bad target!", "action": "all", "operation": "ADD"}),
            "permissions[0].target",
        ),
    ] {
        let body = role_body(json!({"name": "r", "permissions": [perm]}));
        let e = create_role(&repo, &admin::<act::RoleCreate>("acme.r"), body)
            .await
            .unwrap_err();
        assert!(e.message.contains(why), "{}", e.message);
    }
    let body = role_body(json!({"name": "r"}));
    let e = create_role(&repo, &admin::<act::RoleCreate>("acme.t1.r"), body)
        .await
        .unwrap_err();
    assert_eq!(
        e.status, 400,
        "a role lives directly under its organization"
    );
    let ops = load_as::<Role>(&repo, &t("acme.ops")).await.unwrap().doc;
    assert_eq!(ops.permissions[0].action, "all", "ALL is stored as all");
    assert_eq!(ops.permissions[1].operation, Operation::Remove);
}

#[tokio::test]
async fn a_remove_the_delegator_carries_limits_what_it_may_delegate() {
    let repo = world().await;
    // Everything in acme but the registry tenant acme.reg.
    let body = role_body(json!({"name": "almost", "permissions": [
        {"target": "acme", "action": "all", "operation": "ADD"},
        {"target": "acme.reg", "action": "all", "operation": "REMOVE"}]}));
    create_role(&repo, &admin::<act::RoleCreate>("acme.almost"), body)
        .await
        .unwrap();
    let body = key_body(json!({"name": "almost", "roles": ["almost"]}));
    let out = create_api_key(&repo, &admin::<act::ApiKeyCreate>("acme.almost-key"), body)
        .await
        .unwrap();
    let token = out.body.unwrap()["token"].as_str().unwrap().to_owned();
    let p = principal(&repo, &token).await;
    let before = repo.item_counts().await;
    // A key with the admin role would reach into acme.reg: refused.
    let auth = p
        .authorize::<act::ApiKeyCreate>(&t("acme.escalated"))
        .unwrap();
    let body = key_body(json!({"name": "escalated", "roles": ["admin"]}));
    let e = create_api_key(&repo, &auth, body).await.unwrap_err();
    assert_eq!(e.status, 403);
    // So is a role granting it, which the key could then hand out or hold.
    let auth = p
        .authorize::<act::RoleCreate>(&t("acme.everything"))
        .unwrap();
    let body = role_body(json!({"name": "everything", "permissions": [
        {"target": "acme", "action": "all", "operation": "ADD"}]}));
    let e = create_role(&repo, &auth, body).await.unwrap_err();
    assert_eq!(e.status, 403);
    assert_eq!(repo.item_counts().await, before, "nothing written");
    // Within its rights both work.
    let body = role_body(json!({"name": "t1", "permissions": [
        {"target": "acme.t1", "action": "all", "operation": "ADD"}]}));
    let auth = p.authorize::<act::RoleCreate>(&t("acme.t1only")).unwrap();
    create_role(&repo, &auth, body).await.unwrap();
    let auth = p.authorize::<act::ApiKeyCreate>(&t("acme.t1-key")).unwrap();
    let body = key_body(json!({"name": "t1", "roles": ["t1only"]}));
    create_api_key(&repo, &auth, body).await.unwrap();
}

async fn new_key(repo: &MemoryRepo, by: &Principal, id: &str, body: serde_json::Value) -> String {
    let auth = by.authorize::<act::ApiKeyCreate>(&t(id)).unwrap();
    let out = create_api_key(repo, &auth, key_body(body))
        .await
        .unwrap()
        .body
        .unwrap();
    out["token"].as_str().unwrap().to_owned()
}

async fn refused(repo: &MemoryRepo, token: &str) -> trustfn_domain::error::ApiError {
    let header = format!("Bearer {token}");
    authenticate(repo, &AdminToken::new(None, None).unwrap(), Some(&header))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_role_deleted_and_created_again_gives_nothing_to_the_keys_of_the_old_one() {
    let repo = world().await;
    let body = role_body(json!({"name": "Readers", "permissions": [
        {"target": "acme.t1", "action": "resource-list", "operation": "ADD"}]}));
    create_role(&repo, &admin::<act::RoleCreate>("acme.readers"), body)
        .await
        .unwrap();
    let token = new_key(
        &repo,
        &Principal::Admin,
        "acme.reader",
        json!({"name": "r", "roles": ["readers"]}),
    )
    .await;
    assert!(principal(&repo, &token)
        .await
        .allows(&t("acme.t1"), Action::ResourceList));
    trustfn_tree::delete::delete(&repo, &admin::<act::ResourceDelete>("acme.readers"), false)
        .await
        .unwrap();
    let body = role_body(json!({"name": "Readers", "permissions": [
        {"target": "acme", "action": "all", "operation": "ADD"}]}));
    create_role(&repo, &admin::<act::RoleCreate>("acme.readers"), body)
        .await
        .unwrap();
    let p = principal(&repo, &token).await;
    for action in [Action::ResourceList, Action::ResourceDelete] {
        assert!(!p.allows(&t("acme.t1"), action), "{action:?}");
    }
    // A key given the new role holds it.
    let token = new_key(
        &repo,
        &Principal::Admin,
        "acme.reader2",
        json!({"name": "r", "roles": ["readers"]}),
    )
    .await;
    assert!(principal(&repo, &token)
        .await
        .allows(&t("acme.t1"), Action::ResourceDelete));
}

#[tokio::test]
async fn a_key_made_by_a_key_expires_no_later_and_stops_when_its_creator_is_deleted() {
    let repo = world().await;
    let parent = new_key(
        &repo,
        &Principal::Admin,
        "acme.parent",
        json!({"name": "p", "roles": ["admin"], "expiration": "1h"}),
    )
    .await;
    let p = principal(&repo, &parent).await;
    let parent_expiry = load_as::<ApiKey>(&repo, &t("acme.parent"))
        .await
        .unwrap()
        .doc
        .expires_at;
    // No expiry asked, or a later one: the child gets its creator's.
    for (id, body) in [
        ("acme.child", json!({"name": "c", "roles": ["ops"]})),
        (
            "acme.child2",
            json!({"name": "c", "roles": ["ops"], "expiration": "365d"}),
        ),
    ] {
        new_key(&repo, &p, id, body).await;
        let child = load_as::<ApiKey>(&repo, &t(id)).await.unwrap().doc;
        assert_eq!(child.expires_at, parent_expiry, "{id}");
        assert_eq!(child.created_by.as_deref(), Some("acme.parent"));
    }
    let child = new_key(
        &repo,
        &p,
        "acme.child3",
        json!({"name": "c", "roles": ["admin"], "expiration": "10m"}),
    )
    .await;
    let c = principal(&repo, &child).await;
    assert!(c.allows(&t("acme.t1.st"), Action::StatusUpdate));
    // A grandchild, then the parent goes: both descendants stop at once, even when a new key
    // takes the parent's id.
    let grandchild = new_key(
        &repo,
        &c,
        "acme.grandchild",
        json!({"name": "g", "roles": ["ops"]}),
    )
    .await;
    principal(&repo, &grandchild).await;
    delete_api_key(&repo, &admin::<act::ApiKeyDelete>("acme.parent"))
        .await
        .unwrap();
    new_key(
        &repo,
        &Principal::Admin,
        "acme.parent",
        json!({"name": "p", "roles": ["admin"]}),
    )
    .await;
    for token in [&child, &grandchild] {
        let e = refused(&repo, token).await;
        assert_eq!(e.status, 401);
        assert!(e.message.contains("revoked"), "{}", e.message);
    }
}

fn assignment(key: &str) -> trustfn_access::api_keys::RoleAssignment {
    serde_json::from_value(json!({ "apikey": key })).unwrap()
}

#[tokio::test]
async fn a_key_gets_roles_assigned_and_unassigned_under_the_delegation_rule() {
    use trustfn_access::api_keys::assign_role;
    let repo = world().await;
    let token = new_key(&repo, &Principal::Admin, "acme.bare", json!({"name": "b"})).await;
    assert!(!principal(&repo, &token)
        .await
        .allows(&t("acme.t1.st"), Action::StatusUpdate));
    let admin_assign = admin::<act::RoleAssign>("acme.ops");
    let out = assign_role(&repo, &admin_assign, assignment("bare"), true)
        .await
        .unwrap();
    assert_eq!(out.body.unwrap()["roles"], json!(["acme.ops"]));
    assert!(principal(&repo, &token)
        .await
        .allows(&t("acme.t1.st"), Action::StatusUpdate));
    // Twice is once.
    assign_role(&repo, &admin_assign, assignment("acme.bare"), true)
        .await
        .unwrap();
    let stored = load_as::<ApiKey>(&repo, &t("acme.bare")).await.unwrap().doc;
    assert_eq!(stored.roles, ["acme.ops"]);
    // A caller may assign only roles whose every right it holds, and needs the right on the key
    // named in the body as well as on the role.
    let limited = api_key(&[
        ("acme", "apikey-role-assign", Operation::Add),
        ("acme.t1", "resource-list", Operation::Add),
    ]);
    let auth = limited
        .authorize::<act::RoleAssign>(&t("acme.admin"))
        .unwrap();
    let e = assign_role(&repo, &auth, assignment("bare"), true)
        .await
        .unwrap_err();
    assert_eq!(e.status, 403);
    let on_role_only = api_key(&[
        ("acme.ops", "apikey-role-assign", Operation::Add),
        ("acme", "all", Operation::Add),
        ("acme.bare", "apikey-role-assign", Operation::Remove),
    ]);
    let auth = on_role_only
        .authorize::<act::RoleAssign>(&t("acme.ops"))
        .unwrap();
    let e = assign_role(&repo, &auth, assignment("bare"), false)
        .await
        .unwrap_err();
    assert_eq!(e.status, 403, "{}", e.message);
    assert!(e.message.contains("acme.bare"), "{}", e.message);
    let e = assign_role(&repo, &admin_assign, assignment("other.k"), true)
        .await
        .unwrap_err();
    assert_eq!(e.status, 400);
    // Unassigned, the key loses the role's rights at once.
    assign_role(&repo, &admin_assign, assignment("bare"), false)
        .await
        .unwrap();
    assert!(!principal(&repo, &token)
        .await
        .allows(&t("acme.t1.st"), Action::StatusUpdate));
    assert!(load_as::<ApiKey>(&repo, &t("acme.bare"))
        .await
        .unwrap()
        .doc
        .roles
        .is_empty());
}

/// The token of key `acme.<name>`, created by the administrator with `role`.
async fn admins_key(repo: &MemoryRepo, name: &str, role: &str) -> String {
    let body = key_body(json!({"name": name, "roles": [role]}));
    let out = create_api_key(
        repo,
        &admin::<act::ApiKeyCreate>(&format!("acme.{name}")),
        body,
    )
    .await
    .unwrap();
    out.body.unwrap()["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_weak_key_cannot_take_an_administrators_rights_away() {
    // A key with only role-create and apikey-role-assign gave a deny-all role (REMOVE rules
    // only, so "no more than the caller holds") to an org-admin key and unassigned its role.
    use trustfn_access::api_keys::{assign_role, RoleAssignment};
    let repo = world().await;
    let boss = admins_key(&repo, "boss", "acme.admin").await;
    let weak = api_key(&[
        ("acme", "role-create", Operation::Add),
        ("acme", "apikey-role-assign", Operation::Add),
    ]);
    let deny = role_body(json!({"name": "deny", "permissions": [
        {"target": "acme", "action": "all", "operation": "REMOVE"}]}));
    create_role(
        &repo,
        &weak.authorize::<act::RoleCreate>(&t("acme.deny")).unwrap(),
        deny,
    )
    .await
    .unwrap();
    for (role, assign) in [("acme.deny", true), ("acme.admin", false)] {
        let auth = weak.authorize::<act::RoleAssign>(&t(role)).unwrap();
        let body: RoleAssignment = serde_json::from_value(json!({"apikey": "boss"})).unwrap();
        let e = assign_role(&repo, &auth, body, assign).await.unwrap_err();
        assert_eq!(e.status, 403, "{role} {assign}: {}", e.message);
    }
    let p = principal(&repo, &boss).await;
    assert!(
        p.allows(&t("acme.t1"), Action::ResourceList),
        "the administrator keeps its rights"
    );
    // The administrator itself may still change its own key's roles.
    let auth = admin::<act::RoleAssign>("acme.deny");
    let body: RoleAssignment = serde_json::from_value(json!({"apikey": "boss"})).unwrap();
    assert!(assign_role(&repo, &auth, body, true).await.is_ok());
}

#[tokio::test]
async fn assigning_a_role_created_again_gives_the_new_role() {
    // The key still held its binding to the deleted role of the same id: assign answered 200
    // and changed nothing, and the key did not get the new role.
    use trustfn_access::api_keys::{assign_role, RoleAssignment};
    let repo = world().await;
    let token = admins_key(&repo, "ci", "acme.ops").await;
    trustfn_tree::delete::delete(&repo, &admin::<act::ResourceDelete>("acme.ops"), false)
        .await
        .unwrap();
    let again = role_body(json!({"name": "Ops", "permissions": [
        {"target": "acme.t1", "action": "ALL", "operation": "ADD"}]}));
    create_role(&repo, &admin::<act::RoleCreate>("acme.ops"), again)
        .await
        .unwrap();
    assert!(!principal(&repo, &token)
        .await
        .allows(&t("acme.t1"), Action::ResourceList));
    let body: RoleAssignment = serde_json::from_value(json!({"apikey": "ci"})).unwrap();
    assign_role(&repo, &admin::<act::RoleAssign>("acme.ops"), body, true)
        .await
        .unwrap();
    assert!(
        principal(&repo, &token)
            .await
            .allows(&t("acme.t1"), Action::ResourceList),
        "the key holds the new role"
    );
}

#[tokio::test]
async fn a_role_assigned_by_a_key_ends_when_that_key_or_its_creator_is_deleted() {
    // Keys a key creates die with it (lineage); roles it assigns did not: deleting the
    // assigning key left the rights it handed out in place.
    use trustfn_access::api_keys::assign_role;
    let repo = world().await;
    let creator = admins_key(&repo, "lead", "acme.admin").await;
    let lead = principal(&repo, &creator).await;
    let assigner_token = new_key(
        &repo,
        &lead,
        "acme.ops-bot",
        json!({"name": "bot", "roles": ["acme.admin"]}),
    )
    .await;
    let assigner = principal(&repo, &assigner_token).await;
    let member = admins_key(&repo, "member", "acme.admin").await;
    // The member's own administrator role aside, it gets ops from the bot.
    let plain = new_key(&repo, &Principal::Admin, "acme.plain", json!({"name": "p"})).await;
    for (who, key) in [(&assigner, "plain"), (&assigner, "member")] {
        let auth = who.authorize::<act::RoleAssign>(&t("acme.ops")).unwrap();
        assign_role(&repo, &auth, assignment(key), true)
            .await
            .unwrap();
    }
    let holds = |p: &Principal| p.allows(&t("acme.t1.st"), Action::StatusUpdate);
    assert!(holds(&principal(&repo, &plain).await));
    // Its creator deleted, the bot's token stops and so does what it assigned.
    trustfn_access::api_keys::delete_api_key(&repo, &admin::<act::ApiKeyDelete>("acme.lead"))
        .await
        .unwrap();
    assert_eq!(refused(&repo, &assigner_token).await.status, 401);
    let p = principal(&repo, &plain).await;
    assert!(
        !holds(&p),
        "the assigned role outlived its assigner's chain"
    );
    // The member keeps what it holds on its own (its administrator role from the admin).
    assert!(holds(&principal(&repo, &member).await));
    // Assigned again by the administrator, the role lasts.
    assign_role(
        &repo,
        &admin::<act::RoleAssign>("acme.ops"),
        assignment("plain"),
        true,
    )
    .await
    .unwrap();
    assert!(holds(&principal(&repo, &plain).await));
}

#[tokio::test]
async fn a_listing_reads_one_page_of_children_and_says_where_the_next_starts() {
    // Listings of roles, API keys and KMS keys read every child of the organization (or
    // service) in one request, however many there were.
    use trustfn_access::api_keys::list_api_keys;
    use trustfn_domain::reply::PageParams;
    let repo = world().await;
    for i in 0..5 {
        new_key(
            &repo,
            &Principal::Admin,
            &format!("acme.k{i}"),
            json!({"name": "k"}),
        )
        .await;
    }
    let auth = admin::<act::ApiKeyList>("acme");
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut requests = 0;
    loop {
        let page = PageParams {
            limit: Some("3".into()),
            cursor: cursor.take(),
            ..Default::default()
        };
        let before = repo.children_reads(&t("acme")).await;
        let out = list_api_keys(&repo, &auth, &page).await.unwrap();
        assert_eq!(
            repo.children_reads(&t("acme")).await,
            before + 1,
            "one page read"
        );
        requests += 1;
        let items = out.body.clone().unwrap();
        let items = items.as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|k| k["_id"].as_str().unwrap().to_owned()));
        match out.headers.iter().find(|(h, _)| *h == "x-next-cursor") {
            Some((_, next)) => cursor = Some(next.clone()),
            None => break,
        }
    }
    // The organization's children: two roles, a tenant and five keys, three at a time.
    assert_eq!(requests, 3);
    let want: Vec<String> = (0..5).map(|i| format!("acme.k{i}")).collect();
    assert_eq!(seen, want);
    // Without a limit, a usual organization is listed whole in one answer.
    let out = list_api_keys(&repo, &auth, &PageParams::default())
        .await
        .unwrap();
    assert_eq!(out.body.unwrap().as_array().unwrap().len(), 5);
    assert!(!out.headers.iter().any(|(h, _)| *h == "x-next-cursor"));
}
