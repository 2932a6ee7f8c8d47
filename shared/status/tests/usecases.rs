//! The status use cases against the in-memory repository (DynamoDB's limits enforced), a KMS that
//! signs locally and a registry that records uploads: allocation, update to pending to fold to
//! publish, coalescing, the lease, the fold cap, and the refresh's selection.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
use base64::Engine;
use serde_json::{json, Value};
use trustfn_domain::auth::{act, Operation};
use trustfn_domain::model::{KeyDoc, Lease, Service, StatusConfig, StatusList};
use trustfn_domain::repo::{Op, Pending, Repository};
use trustfn_domain::resource::load_as;
use trustfn_publish::{Clock, Cx, FakeClock, PublishDeps, RefreshReport, SystemClock};
use trustfn_signer::Curve;
use trustfn_status::config::{self, CreateConfig};
use trustfn_status::entries::{self, Allocate};
use trustfn_status::update::{self, UpdateBody};
use trustfn_status::{view, StatusLists};
use trustfn_testkit::MemoryRepo;
use trustfn_testkit::{
    admin, api_key, seed, seed_status_service, t, FakeKms, FakeSecrets, RecordingRegistry,
};

const CFG: &str = "acme.t1.st.revocations";

struct World {
    repo: MemoryRepo,
    kms: FakeKms,
    registry: RecordingRegistry,
    /// The status signing key's public point.
    public: Vec<u8>,
    /// A clock that starts at the system's time and moves when something waits on it, or the
    /// system clock for tests where publishers run concurrently in real time.
    clock: Box<dyn Clock>,
}

impl World {
    /// Publishing within 25 seconds of the world's clock.
    fn deps(&self) -> PublishDeps<'_> {
        PublishDeps {
            kms: &self.kms,
            secrets: &FakeSecrets,
            registries: &self.registry,
            clock: self.clock.as_ref(),
            deadline_ms: self.clock.now_ms() + 25_000,
        }
    }

    /// An organization with a kms service holding one P-256 key and a status service using it.
    async fn new() -> World {
        World::with_clock(Box::new(FakeClock::now())).await
    }

    /// [`World::new`] on the system clock.
    async fn real_time() -> World {
        World::with_clock(Box::new(SystemClock)).await
    }

    async fn with_clock(clock: Box<dyn Clock>) -> World {
        let mut w = World {
            repo: MemoryRepo::new(),
            kms: FakeKms::default(),
            registry: RecordingRegistry::default(),
            public: Vec::new(),
            clock,
        };
        w.public = seed_status_service(&w.repo, &w.kms).await.point;
        w
    }

    async fn configure(&self, spec: Value) -> Result<(), trustfn_domain::ApiError> {
        let body: CreateConfig = serde_json::from_value(spec).unwrap();
        config::create_config(&self.repo, &admin::<act::StatusConfigCreate>(CFG), body)
            .await
            .map(|_| ())
    }

    async fn allocate(&self, count: u64) -> Vec<Value> {
        let body = Allocate {
            count: Some(count),
            initial_status: None,
            idempotency_key: None,
        };
        let reply = entries::allocate(
            &self.repo,
            &self.deps(),
            &admin::<act::StatusEntryAllocate>(CFG),
            body,
        )
        .await
        .unwrap();
        reply.body.unwrap()["entries"].as_array().unwrap().clone()
    }

    async fn update(&self, body: Value) -> Value {
        let body: UpdateBody = serde_json::from_value(body).unwrap();
        update::update(
            &self.repo,
            &self.deps(),
            &admin::<act::StatusUpdate>(CFG),
            body,
        )
        .await
        .unwrap()
        .body
        .unwrap()
    }

    /// One scheduled refresh run looking `lookahead` seconds ahead (pages of 25, 30 s budget).
    async fn refresh(&self, lookahead: i64) -> Result<RefreshReport, trustfn_domain::ApiError> {
        let deps = self.deps();
        let cx = Cx {
            repo: &self.repo,
            deps: &deps,
        };
        trustfn_publish::refresh(&cx, &[&StatusLists], lookahead, 25, deps.deadline_ms).await
    }

    async fn list(&self, list_id: &str) -> StatusList {
        load_as::<StatusList>(&self.repo, &t(&format!("{CFG}.{list_id}")))
            .await
            .unwrap()
            .doc
    }

    /// Sets `list_id`'s publish lease as another publisher would hold it: until `until` (Unix
    /// seconds), owned by `owner` (kept as it is when `None`).
    async fn set_lease(&self, list_id: &str, until: i64, owner: Option<&str>) {
        let id = t(&format!("{CFG}.{list_id}"));
        let mut rec = load_as::<StatusList>(&self.repo, &id).await.unwrap();
        let current = rec.doc.publish.lease.take();
        let owner = owner
            .map(str::to_owned)
            .or(current.map(|l| l.owner))
            .unwrap_or_else(|| "someone".into());
        rec.doc.publish.lease = Some(Lease {
            owner,
            since: until - 20,
            until,
        });
        let v = rec.version;
        self.repo
            .commit(vec![Op::Replace {
                record: rec.upcast(),
                expected_version: v,
                children_delta: 0,
            }])
            .await
            .unwrap();
    }

    /// The statuses of the last token published for `list_id`, its signature checked.
    fn published(&self, list_id: &str) -> Vec<u8> {
        let key = format!("status-lists/{CFG}/{list_id}");
        let bodies = self.registry.bodies(&key);
        let jwt = String::from_utf8(bodies.last().expect("published").clone()).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let signed = format!("{}.{}", parts[0], parts[1]);
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            &self.public,
        )
        .verify(signed.as_bytes(), &B64U.decode(parts[2]).unwrap())
        .expect("signed by the configuration's key");
        let payload: Value = serde_json::from_slice(&B64U.decode(parts[1]).unwrap()).unwrap();
        let lst = payload["status_list"]["lst"].as_str().unwrap();
        let bits = payload["status_list"]["bits"].as_u64().unwrap() as u8;
        trustfn_statuslist::codec::tsl_decode(bits, lst)
            .unwrap()
            .values()
    }

    fn uploads_of(&self, list_id: &str) -> usize {
        self.registry
            .bodies(&format!("status-lists/{CFG}/{list_id}"))
            .len()
    }
}

fn tsl(size: u64) -> Value {
    json!({"kid": "acme.t1.kms.k", "config": {"type": "TokenStatusList", "statusSize": 2, "size": size}})
}

fn index_of(entry: &Value) -> (String, usize) {
    (
        entry["list"].as_str().unwrap().to_owned(),
        entry["index"].as_u64().unwrap() as usize,
    )
}

#[tokio::test]
async fn allocation_never_hands_out_an_entry_twice_and_rolls_over_to_a_new_list() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let mut seen = HashSet::new();
    for _ in 0..3 {
        for e in w.allocate(700).await {
            assert!(seen.insert(index_of(&e)), "{e} handed out twice");
        }
    }
    let lists: HashSet<&String> = seen.iter().map(|(l, _)| l).collect();
    assert_eq!(
        lists.len(),
        3,
        "2100 entries of 1024-entry lists fill two and start a third"
    );
    let cfg = load_as::<StatusConfig>(&w.repo, &t(CFG)).await.unwrap().doc;
    assert_eq!(cfg.lists.len(), 3);
    assert_eq!(cfg.current_list.as_ref(), cfg.lists.last());
    for id in &cfg.lists {
        let list = w.list(id.as_str()).await;
        let mine = seen.iter().filter(|(l, _)| l == id.as_str()).count() as u64;
        let counted = w.repo.reserved(&t(&format!("{CFG}.{id}"))).await.unwrap();
        assert_eq!(counted, mine);
        assert!(
            list.publish.published_revision >= 0,
            "a new list is published at once"
        );
    }
}

#[tokio::test]
async fn an_update_is_pending_then_folded_and_published_signed() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(3).await;
    let (list_id, idx) = index_of(&entries[1]);
    let out = w
        .update(json!({"entry": entries[1]["id"], "status": "0x2"}))
        .await;
    assert_eq!(
        out,
        json!({"updated": 1, "published": true, "pendingChanges": 0})
    );
    let statuses = w.published(&list_id);
    assert_eq!(statuses[idx], 2);
    assert_eq!(statuses.iter().filter(|s| **s != 0).count(), 1);
    let list = w.list(&list_id).await;
    assert_eq!(list.publish.published_revision, list.publish.revision);
    assert!(list.publish.lease.is_none() && !list.failing());
    assert_eq!(
        w.repo.pending_count().await,
        0,
        "every pending change is folded"
    );
    // An index that was never allocated is 404, and nothing is written.
    let before = w.repo.pending_count().await;
    let e = update::update(
        &w.repo,
        &w.deps(),
        &admin::<act::StatusUpdate>(CFG),
        serde_json::from_value(json!({"list": list_id, "index": 1023, "status": "1"})).unwrap(),
    )
    .await
    .unwrap_err();
    if entries.iter().all(|e| e["index"] != 1023) {
        assert_eq!(e.status, 404);
        assert_eq!(w.repo.pending_count().await, before);
    }
}

#[tokio::test]
async fn a_failed_upload_keeps_the_change_and_the_refresh_publishes_it() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(1).await;
    let (list_id, idx) = index_of(&entries[0]);
    w.registry.fail.store(true, Ordering::SeqCst);
    let out = w
        .update(json!({"entry": entries[0]["id"], "status": "1"}))
        .await;
    assert_eq!(out["published"], false);
    let list = w.list(&list_id).await;
    assert!(list.failing());
    assert!(list.publish.published_revision < list.publish.revision);
    w.registry.fail.store(false, Ordering::SeqCst);
    let run = |lookahead: i64| w.refresh(lookahead);
    // A failed list backs off: the first retry is a minute later, not on every run.
    let report = run(0).await.unwrap();
    assert_eq!((report.due, report.republished), (0, 0));
    let report = run(61).await.unwrap();
    assert_eq!((report.republished, report.failed), (1, 0));
    assert_eq!(w.published(&list_id)[idx], 1);
    assert!(!w.list(&list_id).await.failing());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_during_a_publish_are_coalesced_and_none_is_lost() {
    let w = std::sync::Arc::new(World::real_time().await);
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(21).await;
    let list_id = index_of(&entries[0]).0;
    let before = w.uploads_of(&list_id);
    // The first update's publisher holds the lease while its upload is held.
    w.registry.hold();
    let update = |e: &Value, status: &str| {
        let (w, id, status) = (w.clone(), e["id"].clone(), status.to_owned());
        tokio::spawn(async move { w.update(json!({"entry": id, "status": status})).await })
    };
    let first = update(&entries[0], "1");
    while w.registry.waiting.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Twenty more updates find the lease taken: each stores its change and waits for the
    // holder to publish it.
    let rest: Vec<_> = entries[1..].iter().map(|e| update(e, "3")).collect();
    while w.repo.pending_count().await < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        w.uploads_of(&list_id),
        before,
        "nothing more was uploaded meanwhile"
    );
    w.registry.release();
    assert_eq!(first.await.unwrap()["published"], true);
    for r in rest {
        let out = r.await.unwrap();
        assert_eq!(
            out["published"], true,
            "{out}: the holder published it, and said so"
        );
    }
    let statuses = w.published(&list_id);
    for (i, e) in entries.iter().enumerate() {
        let want = if i == 0 { 1 } else { 3 };
        assert_eq!(statuses[index_of(e).1], want, "entry {i}");
    }
    let publishes = w.uploads_of(&list_id) - before;
    assert!(publishes <= 2, "21 updates cost {publishes} publishes");
    assert_eq!(w.repo.pending_count().await, 0);
}

#[tokio::test]
async fn a_live_lease_defers_and_an_expired_one_is_taken_over() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(1).await;
    let (list_id, idx) = index_of(&entries[0]);
    // Another publisher holds the lease (alive): an update stores its change, waits for the
    // holder within its time, and says its change is not published yet.
    let set_lease = |until: i64| w.set_lease(&list_id, until, Some("someone-else"));
    let now = chrono::Utc::now().timestamp();
    set_lease(now + 600).await;
    let uploads = w.uploads_of(&list_id);
    let out = w
        .update(json!({"entry": entries[0]["id"], "status": "2"}))
        .await;
    assert_eq!(
        (&out["published"], &out["pendingChanges"]),
        (&json!(false), &json!(1)),
        "{out}"
    );
    assert_eq!(
        w.uploads_of(&list_id),
        uploads,
        "the lease holder publishes, not us"
    );
    assert_eq!(w.repo.pending_count().await, 1);
    // The holder died: once its lease has expired, the refresh takes over and publishes.
    set_lease(now - 1).await;
    let report = w.refresh(3600).await.unwrap();
    assert_eq!(report.republished, 1);
    assert_eq!(w.published(&list_id)[idx], 2);
    let list = w.list(&list_id).await;
    assert!(list.publish.lease.is_none());
    assert_eq!(w.repo.pending_count().await, 0);
}

#[tokio::test]
async fn a_publish_folds_at_most_ten_chunks_before_it_publishes() {
    let w = World::new().await;
    w.configure(tsl(2048)).await.unwrap();
    let entries = w.allocate(1000).await;
    let list_id = index_of(&entries[0]).0;
    let id = t(&format!("{CFG}.{list_id}"));
    // 1,040 pending changes (as if written by updates whose publishes found the lease taken).
    let changes: Vec<(u32, u8)> = entries.iter().map(|e| (index_of(e).1 as u32, 1)).collect();
    for (n, chunk) in changes
        .iter()
        .cycle()
        .take(1040)
        .collect::<Vec<_>>()
        .chunks(1)
        .enumerate()
    {
        let p = Pending {
            list: id.clone(),
            seq: format!("{n:020}"),
            changes: vec![*chunk[0]],
            due_at: 0,
            by: None,
        };
        w.repo.commit(vec![Op::AddPending(p)]).await.unwrap();
    }
    let before = w.uploads_of(&list_id);
    trustfn_status::publish(&w.repo, &w.deps(), &id)
        .await
        .unwrap();
    let bodies = w.registry.bodies(&format!("status-lists/{CFG}/{list_id}"));
    assert_eq!(
        bodies.len() - before,
        2,
        "one publish after 990 changes, one for the rest"
    );
    let list = w.list(&list_id).await;
    assert_eq!(list.publish.revision, 1040);
    assert_eq!(list.publish.published_revision, 1040);
    assert!(w.published(&list_id).iter().filter(|s| **s == 1).count() == 1000);
    assert_eq!(w.repo.pending_count().await, 0);
}

#[tokio::test]
async fn the_refresh_takes_only_lists_that_are_due() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let list_id = index_of(&w.allocate(1).await[0]).0;
    let uploads = w.uploads_of(&list_id);
    // Just published: due again only ttl + 5 minutes before it expires (12 h ttl, 24 h validity).
    let run = |lookahead: i64| w.refresh(lookahead);
    let report = run(0).await.unwrap();
    assert_eq!((report.due, report.republished), (0, 0));
    assert_eq!(w.uploads_of(&list_id), uploads);
    let report = run(12 * 3600).await.unwrap();
    assert_eq!((report.due, report.republished), (1, 1));
    assert_eq!(w.uploads_of(&list_id), uploads + 1);
    // The republished list is not due again within the same lookahead.
    assert_eq!(run(3600).await.unwrap().due, 0);
}

#[tokio::test]
async fn a_configurations_key_must_live_in_an_attached_kms_service() {
    let w = World::new().await;
    // A second kms service with a key, not attached to the status service.
    seed(&w.repo, "acme.t1.kms2", Service::Kms(Default::default())).await;
    let (arn, public) = w.kms.add_key(Curve::P256);
    let key = KeyDoc {
        key_type: Curve::P256,
        public_key: public,
        kms_key_arn: trustfn_domain::model::KeyArn::parse(&arn).unwrap(),
        imported: false,
    };
    seed(&w.repo, "acme.t1.kms2.k", key).await;
    let mut spec = tsl(1024);
    spec["kid"] = json!("acme.t1.kms2.k");
    let e = w.configure(spec).await.unwrap_err();
    assert_eq!(e.status, 400);
    assert!(
        e.message.contains("not an attached dependency"),
        "{}",
        e.message
    );
    let mut spec = tsl(1024);
    spec["kid"] = json!("acme.t1.kms.missing");
    let e = w.configure(spec).await.unwrap_err();
    assert!(e.message.contains("does not exist"), "{}", e.message);
    w.configure(tsl(1024)).await.unwrap();
}

#[tokio::test]
async fn a_configuration_needs_the_right_to_use_its_key() {
    let w = World::new().await;
    let p = api_key(&[
        ("acme", "all", Operation::Add),
        ("acme.t1.kms.k", "kms-key-use", Operation::Remove),
    ]);
    let auth = p.authorize::<act::StatusConfigCreate>(&t(CFG)).unwrap();
    let body: CreateConfig = serde_json::from_value(tsl(1024)).unwrap();
    let e = config::create_config(&w.repo, &auth, body)
        .await
        .unwrap_err();
    assert_eq!(e.status, 403);
    // The same answer for a key that does not exist.
    let mut spec = tsl(1024);
    spec["kid"] = json!("acme.t1.kms.k.nothing");
    let body: CreateConfig = serde_json::from_value(spec).unwrap();
    assert_eq!(
        config::create_config(&w.repo, &auth, body)
            .await
            .unwrap_err()
            .status,
        403
    );
    assert!(w.repo.get(&t(CFG)).await.unwrap().is_none());
}

#[tokio::test]
async fn the_view_shows_a_page_of_lists_and_where_the_next_starts() {
    // It read every list of a configuration (two storage reads each) in one request.
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    for _ in 0..3 {
        w.allocate(700).await;
    }
    let page = |limit: &str, cursor: Option<&str>| trustfn_domain::reply::PageParams {
        limit: Some(limit.into()),
        offset: None,
        cursor: cursor.map(str::to_owned),
    };
    let auth = admin::<act::StatusView>(CFG);
    let first = view::view(&w.repo, &auth, &page("2", None)).await.unwrap();
    let next = first
        .headers
        .iter()
        .find(|(h, _)| *h == "x-next-cursor")
        .map(|(_, v)| v.clone())
        .expect("a next page");
    let second = view::view(&w.repo, &auth, &page("2", Some(&next)))
        .await
        .unwrap();
    let ids = |r: &trustfn_domain::reply::Reply| -> Vec<String> {
        r.body.as_ref().unwrap()["lists"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["listId"].as_str().unwrap().to_owned())
            .collect()
    };
    let cfg = load_as::<StatusConfig>(&w.repo, &t(CFG)).await.unwrap().doc;
    let all: Vec<String> = cfg.lists.iter().map(|l| l.to_string()).collect();
    assert_eq!([ids(&first), ids(&second)].concat(), all);
    assert!(second.headers.iter().all(|(h, _)| *h != "x-next-cursor"));
    let bad = view::view(&w.repo, &auth, &page("2", Some("x"))).await;
    assert_eq!(bad.unwrap_err().status, 400);
}

#[tokio::test]
async fn the_view_reports_fill_and_publish_state() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    w.allocate(256).await;
    let out = view::view(&w.repo, &admin::<act::StatusView>(CFG), &Default::default())
        .await
        .unwrap();
    let v = out.body.unwrap();
    assert_eq!(v["type"], "status-credential");
    assert_eq!(v["config"]["statusSize"], 2);
    let list = &v["lists"][0];
    assert_eq!(
        (list["allocated"].clone(), list["fill"].clone()),
        (json!(256), json!(0.25))
    );
    assert_eq!(list["publishedVersion"], list["statusVersion"]);
    assert_eq!(list["publishError"], Value::Null);
    assert_eq!(
        (list["pendingChanges"].clone(), list["upToDate"].clone()),
        (json!(0), json!(true))
    );
    assert!(v.to_string().find("_statuses").is_none());
}

#[tokio::test]
async fn the_view_never_calls_a_list_up_to_date_while_accepted_changes_wait() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(1).await;
    let (list_id, idx) = index_of(&entries[0]);
    // Changes accepted while a (live) publisher holds the lease wait, unfolded: the list record
    // alone still looks published.
    w.set_lease(
        &list_id,
        chrono::Utc::now().timestamp() + 600,
        Some("someone-else"),
    )
    .await;
    w.update(json!({"list": list_id, "index": idx, "status": "1"}))
        .await;
    let shown = view::view(&w.repo, &admin::<act::StatusView>(CFG), &Default::default())
        .await
        .unwrap()
        .body
        .unwrap();
    let list = &shown["lists"][0];
    assert_eq!(list["publishedVersion"], list["statusVersion"]);
    assert_eq!(
        (list["pendingChanges"].clone(), list["upToDate"].clone()),
        (json!(1), json!(false))
    );
}

/// A self-signed IACA-profile certificate for `signer`'s key, PEM.
async fn certificate_for(signer: &dyn trustfn_signer::Signer) -> String {
    let data: trustfn_x509::IacaData = serde_json::from_value(json!({
        "country": "US", "commonName": "Status list signer", "stateOrProvinceName": "US-CA",
        "issuerAlternativeNameConf": {"uri": "https://issuer.example"}}))
    .unwrap();
    data.issue(signer).await.unwrap().pem
}

#[tokio::test]
async fn an_x5chain_leaf_must_certify_the_kid_key() {
    let w = World::new().await;
    let key = load_as::<KeyDoc>(&w.repo, &t("acme.t1.kms.k"))
        .await
        .unwrap()
        .doc;
    let kid_signer = trustfn_domain::ports::KeyManager::signer(
        &w.kms,
        key.kms_key_arn.as_str(),
        key.public_key.clone(),
    );
    let other = trustfn_testkit::LocalKey::new(Curve::P256);
    let mut spec = tsl(1024);
    spec["x5Chain"] = json!([certificate_for(&other).await]);
    let e = w.configure(spec).await.unwrap_err();
    assert_eq!(e.status, 400);
    assert!(e.message.contains("x5Chain[0]"), "{}", e.message);
    assert!(w.repo.get(&t(CFG)).await.unwrap().is_none());
    let mut spec = tsl(1024);
    spec["x5Chain"] = json!([certificate_for(kid_signer.as_ref()).await]);
    w.configure(spec).await.unwrap();
}

#[tokio::test]
async fn opening_a_list_retries_a_lost_race_and_gives_up_when_the_configuration_keeps_changing() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    // Another request changes the configuration between our read and our commit (as another
    // allocation opening a list would): we read it again and open exactly one list.
    let cfg = load_as::<StatusConfig>(&w.repo, &t(CFG)).await.unwrap();
    let version = cfg.version;
    let race = vec![Op::Replace {
        record: cfg.upcast(),
        expected_version: version,
        children_delta: 0,
    }];
    let raced = trustfn_testkit::Raced::new(&w.repo, race);
    let body = Allocate {
        count: Some(2),
        initial_status: None,
        idempotency_key: None,
    };
    let out = entries::allocate(
        &raced,
        &w.deps(),
        &admin::<act::StatusEntryAllocate>(CFG),
        body,
    )
    .await
    .unwrap();
    assert_eq!(out.body.unwrap()["entries"].as_array().unwrap().len(), 2);
    let cfg = load_as::<StatusConfig>(&w.repo, &t(CFG)).await.unwrap().doc;
    assert_eq!(
        cfg.lists.len(),
        1,
        "the losing attempt's list was not written"
    );
    let list = t(&format!("{CFG}.{}", cfg.lists[0]));
    assert_eq!(w.repo.reserved(&list).await.unwrap(), 2);
    // A configuration that changes under every attempt: a clean 409 after a bounded number of
    // tries, and no list.
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let busy = trustfn_testkit::CommitsConflict(&w.repo);
    let body = Allocate {
        count: Some(1),
        initial_status: None,
        idempotency_key: None,
    };
    let auth = admin::<act::StatusEntryAllocate>(CFG);
    let deps = w.deps();
    let attempt = entries::allocate(&busy, &deps, &auth, body);
    let e = tokio::time::timeout(std::time::Duration::from_secs(20), attempt)
        .await
        .expect("allocation gives up")
        .unwrap_err();
    assert_eq!(e.status, 409);
    let cfg = load_as::<StatusConfig>(&w.repo, &t(CFG)).await.unwrap().doc;
    assert!(cfg.lists.is_empty(), "nothing allocated");
}

#[tokio::test]
async fn allocation_writes_only_its_counter_whatever_the_list_size() {
    let w = World::new().await;
    let mut spec = tsl(1 << 20);
    spec["config"]["statusSize"] = json!(8);
    w.configure(spec).await.unwrap();
    let list_id = index_of(&w.allocate(1).await[0]).0;
    let id = t(&format!("{CFG}.{list_id}"));
    let before = w.repo.get(&id).await.unwrap().unwrap();
    let mut seen = HashSet::new();
    for _ in 0..20 {
        for e in w.allocate(1000).await {
            assert!(seen.insert(index_of(&e).1), "{e} handed out twice");
        }
    }
    let after = w.repo.get(&id).await.unwrap().unwrap();
    assert_eq!(
        after, before,
        "the list record is not written by allocations"
    );
    assert_eq!(w.repo.reserved(&id).await.unwrap(), 20_001);
    assert_eq!(w.repo.chunk_stats().await, (0, 0), "nothing to store yet");
    // Spread: the 20,000 indices fall in every sixteenth of the list.
    let sixteenths: HashSet<usize> = seen.iter().map(|i| i * 16 / (1 << 20)).collect();
    assert_eq!(sixteenths.len(), 16);
}

#[tokio::test]
async fn folding_rewrites_only_the_chunks_it_touches_and_publishes_every_change() {
    let w = World::new().await;
    let mut spec = tsl(1 << 20);
    spec["config"]["statusSize"] = json!(8);
    w.configure(spec).await.unwrap();
    let entries = w.allocate(1000).await;
    let list_id = index_of(&entries[0]).0;
    // One change: one chunk, far below DynamoDB's item limit.
    w.update(json!({"entry": entries[0]["id"], "status": "0x03"}))
        .await;
    let (largest, chunks) = w.repo.chunk_stats().await;
    assert_eq!(chunks, 1);
    assert!(
        largest < 200,
        "a one-change chunk compresses to {largest} bytes"
    );
    // Then every entry, in batches, each a different status.
    let mut expect = std::collections::HashMap::new();
    for (n, batch) in entries.chunks(250).enumerate() {
        let updates: Vec<Value> = batch
            .iter()
            .map(|e| json!({"entry": e["id"], "status": format!("0x{:02x}", 1 + n)}))
            .collect();
        for e in batch {
            expect.insert(index_of(e).1, 1 + n as u8);
        }
        w.update(json!({"updates": updates})).await;
    }
    let statuses = w.published(&list_id);
    assert_eq!(statuses.len(), 1 << 20);
    for (i, s) in statuses.iter().enumerate() {
        assert_eq!(*s, expect.get(&i).copied().unwrap_or(0), "index {i}");
    }
    let (largest, chunks) = w.repo.chunk_stats().await;
    assert!(chunks <= 512, "{chunks} chunks of a 1 MiB list");
    assert!(largest <= 2100, "largest chunk {largest} bytes");
    assert_eq!(w.repo.pending_count().await, 0);
}

#[tokio::test]
async fn a_publisher_that_dies_between_chunks_and_commit_leaves_nothing_wrong() {
    let w = World::new().await;
    // 600 random entries of a 1 MiB list touch more chunks than one commit holds, so the fold
    // writes the chunks first and records the fold in a second commit.
    let mut spec = tsl(1 << 20);
    spec["config"]["statusSize"] = json!(8);
    w.configure(spec).await.unwrap();
    let entries = w.allocate(600).await;
    let list_id = index_of(&entries[0]).0;
    // The fold writes the chunks, then dies before the commit that removes the folded changes.
    let dies = trustfn_testkit::FailOnce::new(&w.repo, |ops| {
        ops.iter().any(|o| matches!(o, Op::RemovePending { .. }))
    });
    let updates: Vec<Value> = entries
        .iter()
        .map(|e| json!({"entry": e["id"], "status": "0x01"}))
        .collect();
    let body: UpdateBody = serde_json::from_value(json!({"updates": updates})).unwrap();
    let out = update::update(&dies, &w.deps(), &admin::<act::StatusUpdate>(CFG), body)
        .await
        .unwrap();
    assert_eq!(out.body.unwrap()["published"], json!(false));
    assert_eq!(
        w.repo.pending_count().await,
        1,
        "the change is still pending"
    );
    // A later change of some of the same entries, then the refresh after the lease expired.
    let later: Vec<Value> = entries[..100]
        .iter()
        .map(|e| json!({"entry": e["id"], "status": "0x02"}))
        .collect();
    w.set_lease(&list_id, 1, None).await;
    w.update(json!({"updates": later})).await;
    let statuses = w.published(&list_id);
    for (k, e) in entries.iter().enumerate() {
        let want = if k < 100 { 2 } else { 1 };
        assert_eq!(statuses[index_of(e).1], want, "entry {k}");
    }
    assert_eq!(statuses.iter().filter(|s| **s != 0).count(), 600);
    assert_eq!(w.repo.pending_count().await, 0);
}

#[tokio::test]
async fn a_list_written_before_chunks_and_counters_keeps_working() {
    use base64::engine::general_purpose::STANDARD as B64;
    use trustfn_statuslist::{codec, BitOrder, StatusArray};
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    // A list as the previous version stored it: statuses and allocation bitmap in the record,
    // entries 5 and 700 handed out, 700 revoked.
    let mut statuses = StatusArray::new(2, 1024, BitOrder::LsbFirst).unwrap();
    statuses.set(700, 1).unwrap();
    let mut bitmap = StatusArray::new(1, 1024, BitOrder::LsbFirst).unwrap();
    bitmap.set(5, 1).unwrap();
    bitmap.set(700, 1).unwrap();
    let pack = |a: &StatusArray| B64.encode(codec::zlib(a.bytes()));
    let legacy: StatusList = serde_json::from_value(json!({
        "listId": "lold", "uri": "https://x/lold", "objectKey": format!("status-lists/{CFG}/lold"),
        "size": 1024, "allocated": 2, "statusVersion": 1, "publishedVersion": 1,
        "_refreshAt": 1_700_000_000, "_statuses": pack(&statuses), "_allocated": pack(&bitmap)
    }))
    .unwrap();
    let mut cfg = load_as::<StatusConfig>(&w.repo, &t(CFG)).await.unwrap();
    let version = cfg.version;
    let lold = trustfn_domain::model::ListId::parse("lold").unwrap();
    cfg.doc.lists = vec![lold.clone()];
    cfg.doc.current_list = Some(lold);
    w.repo
        .commit(vec![
            Op::Create(trustfn_domain::model::Record::new(
                t(&format!("{CFG}.lold")),
                legacy,
            )),
            Op::Replace {
                record: cfg.upcast(),
                expected_version: version,
                children_delta: 1,
            },
        ])
        .await
        .unwrap();
    // Its entries can be updated; others of it do not exist.
    w.update(json!({"entry": "lold:5", "status": "0x02"})).await;
    let body: UpdateBody =
        serde_json::from_value(json!({"entry": "lold:6", "status": "0x02"})).unwrap();
    let e = update::update(&w.repo, &w.deps(), &admin::<act::StatusUpdate>(CFG), body)
        .await
        .unwrap_err();
    assert_eq!(e.status, 404);
    // The published list holds the old revocation and the new change; the record no longer
    // holds statuses.
    let published = w.published("lold");
    assert_eq!((published[5], published[700]), (2, 1));
    let list = w.list("lold").await;
    assert!(list.statuses.is_none() && list.allocation.is_some());
    // New entries go to a new list.
    let fresh = w.allocate(3).await;
    assert!(fresh.iter().all(|e| e["list"] != "lold"));
    let cfg = load_as::<StatusConfig>(&w.repo, &t(CFG)).await.unwrap().doc;
    assert_eq!(cfg.lists.len(), 2);
}

#[tokio::test]
async fn an_allocation_publishes_only_what_changed_the_published_list() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let list_id = index_of(&w.allocate(1).await[0]).0;
    let uploads = w.uploads_of(&list_id);
    // More entries with the default status change nothing a verifier sees: no publish; and
    // no list was added, so the configuration is not rewritten either (one write per call).
    let cfg_version = || async { w.repo.get(&t(CFG)).await.unwrap().unwrap().version };
    let before = cfg_version().await;
    w.allocate(5).await;
    assert_eq!(w.uploads_of(&list_id), uploads);
    assert_eq!(cfg_version().await, before);
    // Entries allocated with an initial status do: published at once.
    let body = Allocate {
        count: Some(2),
        initial_status: Some("0x3".into()),
        idempotency_key: None,
    };
    let out = entries::allocate(
        &w.repo,
        &w.deps(),
        &admin::<act::StatusEntryAllocate>(CFG),
        body,
    )
    .await
    .unwrap();
    assert_eq!(w.uploads_of(&list_id), uploads + 1);
    let statuses = w.published(&list_id);
    for e in out.body.unwrap()["entries"].as_array().unwrap() {
        assert_eq!(statuses[index_of(e).1], 3);
    }
}

#[tokio::test]
async fn w3c_entries_embed_their_list_type_purpose_and_status_messages() {
    let w = World::new().await;
    let statuses: Vec<Value> = (0..4)
        .map(|i| json!({"status": format!("0x{i}"), "message": format!("m{i}")}))
        .collect();
    w.configure(json!({"kid": "acme.t1.kms.k", "did": "did:web:issuer.example",
        "config": {"type": "BitstringStatusList", "purpose": "message", "statusSize": 2, "statuses": statuses}}))
        .await
        .unwrap();
    let e = &w.allocate(1).await[0];
    let status = &e["embed"]["credentialStatus"];
    assert_eq!(status["type"], "BitstringStatusListEntry");
    assert_eq!(status["statusPurpose"], "message");
    assert_eq!(status["statusSize"], 2);
    assert_eq!(status["statusMessage"].as_array().unwrap().len(), 4);
    assert_eq!(
        status["statusListIndex"],
        e["index"].as_u64().unwrap().to_string()
    );
    assert_eq!(
        status["id"],
        format!("{}#{}", e["uri"].as_str().unwrap(), e["index"])
    );
    // A 1-bit StatusList2021 entry carries no status size or messages.
    let cfg = "acme.t1.st.sl2021";
    let body: CreateConfig = serde_json::from_value(json!({"kid": "acme.t1.kms.k",
        "did": "did:web:issuer.example", "config": {"type": "StatusList2021"}}))
    .unwrap();
    config::create_config(&w.repo, &admin::<act::StatusConfigCreate>(cfg), body)
        .await
        .unwrap();
    let body = Allocate {
        count: Some(1),
        initial_status: None,
        idempotency_key: None,
    };
    let out = entries::allocate(
        &w.repo,
        &w.deps(),
        &admin::<act::StatusEntryAllocate>(cfg),
        body,
    )
    .await
    .unwrap();
    let status = out.body.unwrap()["entries"][0]["embed"]["credentialStatus"].clone();
    assert_eq!(status["type"], "StatusList2021Entry");
    assert_eq!(status["statusPurpose"], "revocation");
    assert!(status.get("statusSize").is_none() && status.get("statusMessage").is_none());
}

#[tokio::test]
async fn the_key_and_the_lists_of_a_configuration_stay_while_it_exists() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let (list_id, _) = index_of(&w.allocate(1).await[0]);
    let kms_deletes = || w.kms.scheduled.lock().unwrap().len();
    // The key: not through keys/delete, resources/delete, nor a recursive delete of its service
    // (even by the administrator, who may remove the status service's dependency edge).
    let e = trustfn_keys::delete(&w.repo, &w.kms, &admin::<act::KeyDelete>("acme.t1.kms.k"))
        .await
        .unwrap_err();
    assert_eq!(e.status, 409);
    assert!(e.message.contains(CFG), "{}", e.message);
    for (target, recursive) in [
        ("acme.t1.kms.k", false),
        ("acme.t1.kms.k", true),
        ("acme.t1.kms", true),
    ] {
        let auth = admin::<act::ResourceDelete>(target);
        let e = trustfn_tree::delete::delete(&w.repo, &auth, recursive)
            .await
            .unwrap_err();
        assert_eq!(e.status, 409, "{target}");
        assert!(e.message.contains(CFG), "{target}: {}", e.message);
    }
    assert_eq!(kms_deletes(), 0);
    assert!(w.repo.get(&t("acme.t1.kms.k")).await.unwrap().is_some());
    // A caller that may not list the configuration is not told its name.
    let caller = api_key(&[("acme.t1.kms", "all", Operation::Add)]);
    let auth = caller
        .authorize::<act::KeyDelete>(&t("acme.t1.kms.k"))
        .unwrap();
    let e = trustfn_keys::delete(&w.repo, &w.kms, &auth)
        .await
        .unwrap_err();
    assert_eq!(e.status, 409);
    assert!(
        !e.message.contains(CFG) && e.message.contains("1 other signer"),
        "{}",
        e.message
    );
    // A list goes only with its configuration.
    for recursive in [false, true] {
        let auth = admin::<act::ResourceDelete>(&format!("{CFG}.{list_id}"));
        let e = trustfn_tree::delete::delete(&w.repo, &auth, recursive)
            .await
            .unwrap_err();
        assert_eq!(e.status, 409);
    }
    assert!(w
        .repo
        .get(&t(&format!("{CFG}.{list_id}")))
        .await
        .unwrap()
        .is_some());
    // Once the configuration is gone, so is the reference: the key may go.
    trustfn_tree::delete::delete(&w.repo, &admin::<act::ResourceDelete>(CFG), true)
        .await
        .unwrap();
    assert_eq!(
        w.repo
            .get(&t("acme.t1.kms.k"))
            .await
            .unwrap()
            .unwrap()
            .dependants,
        0
    );
    trustfn_keys::delete(&w.repo, &w.kms, &admin::<act::KeyDelete>("acme.t1.kms.k"))
        .await
        .unwrap();
    assert_eq!(kms_deletes(), 1);
}

#[tokio::test]
async fn a_tenant_deleted_whole_takes_its_configurations_and_their_keys() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    w.allocate(1).await;
    trustfn_tree::delete::delete(&w.repo, &admin::<act::ResourceDelete>("acme.t1"), true)
        .await
        .unwrap();
    assert_eq!(
        w.repo.item_counts().await,
        (1, 0, 0),
        "only the organization is left"
    );
}

#[tokio::test]
async fn a_late_upload_of_a_publisher_that_lost_its_lease_is_published_over() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(2).await;
    let (list_id, a_idx) = index_of(&entries[0]);
    let b_idx = index_of(&entries[1]).1;
    // Publisher A folds its revocation and stalls in the upload ...
    w.registry.hold_next(1);
    let a = w.update(json!({"entry": entries[0]["id"], "status": "1"}));
    let b = async {
        while w.registry.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // ... past its lease, so publisher B takes the list over and publishes both revocations.
        w.set_lease(&list_id, chrono::Utc::now().timestamp() - 1, None)
            .await;
        w.update(json!({"entry": entries[1]["id"], "status": "1"}))
            .await;
        let after_b = w.list(&list_id).await;
        assert_eq!(
            (w.published(&list_id)[a_idx], w.published(&list_id)[b_idx]),
            (1, 1)
        );
        // Now A's stale upload (B's revocation missing) reaches the registry.
        w.registry.release();
        after_b.publish.published_revision
    };
    let (_, published_by_b) = tokio::join!(a, b);
    // A's late upload expected the version B replaced: the registry refused it. A noticed it
    // had lost the lease and left the list to B: the registry's last upload (B's) holds both
    // revocations, and the published version never went down.
    assert_eq!(
        w.registry.refused.load(Ordering::SeqCst),
        1,
        "A's late upload, and nothing of A's after it"
    );
    assert_eq!(
        (w.published(&list_id)[a_idx], w.published(&list_id)[b_idx]),
        (1, 1)
    );
    let list = w.list(&list_id).await;
    assert!(list.publish.published_revision >= published_by_b);
    assert_eq!(list.publish.published_revision, list.publish.revision);
    assert!(list.publish.lease.is_none());
}

#[tokio::test]
async fn an_update_over_more_lists_than_a_transaction_holds_is_a_clear_400() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(1).await;
    let (list_id, idx) = index_of(&entries[0]);
    let before = (w.repo.item_counts().await, w.repo.pending_count().await);
    let mut updates = vec![json!({"list": list_id, "index": idx, "status": "1"})];
    updates.extend((0..100).map(|i| json!({"list": format!("l{i}"), "index": 0, "status": "1"})));
    let body: UpdateBody = serde_json::from_value(json!({ "updates": updates })).unwrap();
    let e = update::update(&w.repo, &w.deps(), &admin::<act::StatusUpdate>(CFG), body)
        .await
        .unwrap_err();
    assert_eq!(e.status, 400);
    assert!(
        e.message.contains("101 lists")
            && e.message
                .contains(&format!("at most {}", trustfn_domain::repo::MAX_TX_ITEMS)),
        "{}",
        e.message
    );
    assert_eq!(
        (w.repo.item_counts().await, w.repo.pending_count().await),
        before
    );
}

#[tokio::test]
async fn a_w3c_issuer_did_that_embeds_a_key_must_embed_the_kid_key() {
    let w = World::new().await;
    let key = load_as::<KeyDoc>(&w.repo, &t("acme.t1.kms.k"))
        .await
        .unwrap()
        .doc
        .public_key;
    let spec = |did: &str| json!({"kid": "acme.t1.kms.k", "did": did, "config": {"type": "BitstringStatusList"}});
    // The Ed25519 did:key of the W3C examples, with the P-256 kid: every verifier would reject.
    let e = w
        .configure(spec(
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.status, 400);
    assert!(
        e.message.contains("did") && e.message.contains("Ed25519"),
        "{}",
        e.message
    );
    // The Ed25519 did:jwk of the walt.id documentation's examples: the message says what the DID
    // holds, names the key it must match, and the DID trustfn would use.
    let okp = B64U.encode(
        json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
            .to_string(),
    );
    let jwk = B64U.encode(key.to_jwk().to_string());
    let e = w
        .configure(spec(&format!("did:jwk:{okp}")))
        .await
        .unwrap_err();
    for part in [
        "Ed25519 OKP key",
        "not the signing key acme.t1.kms.k (P-256)",
        &format!("leave did out to issue as did:jwk:{jwk}"),
    ] {
        assert!(e.message.contains(part), "{part}: {}", e.message);
    }
    // The kid key itself, as did:jwk: accepted.
    w.configure(spec(&format!("did:jwk:{jwk}"))).await.unwrap();
}

#[tokio::test]
async fn a_w3c_configuration_without_a_did_issues_as_the_did_jwk_of_its_key() {
    for kind in [
        "BitstringStatusList",
        "StatusList2021",
        "RevocationList2020",
    ] {
        let w = World::new().await;
        let key = load_as::<KeyDoc>(&w.repo, &t("acme.t1.kms.k"))
            .await
            .unwrap()
            .doc
            .public_key;
        w.configure(json!({"kid": "acme.t1.kms.k", "config": {"type": kind}}))
            .await
            .unwrap();
        let stored = load_as::<trustfn_domain::model::StatusConfig>(&w.repo, &t(CFG))
            .await
            .unwrap()
            .doc;
        let expected = format!("did:jwk:{}", B64U.encode(key.to_jwk().to_string()));
        assert_eq!(stored.did.as_deref(), Some(expected.as_str()), "{kind}");
    }
}

#[tokio::test]
async fn a_revocation_list_2020_publishes_its_credential_lsb_first() {
    let w = World::new().await;
    w.configure(
        json!({"kid": "acme.t1.kms.k", "did": "did:web:issuer.example",
        "config": {"type": "RevocationList2020"}}),
    )
    .await
    .unwrap();
    for bad in [
        json!({"type": "RevocationList2020", "purpose": "suspension"}),
        json!({"type": "RevocationList2020", "statusSize": 2}),
    ] {
        let body: CreateConfig = serde_json::from_value(
            json!({"kid": "acme.t1.kms.k", "did": "did:web:issuer.example", "config": bad}),
        )
        .unwrap();
        let e = config::create_config(
            &w.repo,
            &admin::<act::StatusConfigCreate>("acme.t1.st.bad"),
            body,
        )
        .await
        .unwrap_err();
        assert_eq!(e.status, 400, "{}", e.message);
    }
    let e = &w.allocate(1).await[0];
    let status = &e["embed"]["credentialStatus"];
    assert_eq!(status["type"], "RevocationList2020Status");
    assert_eq!(status["revocationListCredential"], e["uri"]);
    let idx = e["index"].as_u64().unwrap() as usize;
    assert_eq!(status["revocationListIndex"], idx.to_string());
    assert!(status.get("statusPurpose").is_none());
    w.update(json!({"entry": e["id"], "status": "1"})).await;
    let (list_id, _) = index_of(e);
    let bodies = w.registry.bodies(&format!("status-lists/{CFG}/{list_id}"));
    let jwt = String::from_utf8(bodies.last().unwrap().clone()).unwrap();
    let payload: Value =
        serde_json::from_slice(&B64U.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let vc = &payload["vc"];
    assert_eq!(vc["type"][1], "RevocationList2020Credential");
    assert_eq!(vc["credentialSubject"]["type"], "RevocationList2020");
    let encoded = vc["credentialSubject"]["encodedList"].as_str().unwrap();
    let raw = trustfn_statuslist::codec::w3c_decode(1, encoded).unwrap();
    let set: Vec<usize> = (0..raw.capacity())
        .filter(|i| (raw.bytes()[i / 8] >> (i % 8)) & 1 == 1)
        .collect();
    assert_eq!(
        set,
        [idx],
        "entry {idx} revoked, least significant bit first"
    );
}

#[tokio::test]
async fn a_retried_allocation_with_the_same_idempotency_key_gets_the_same_entries() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let auth = admin::<act::StatusEntryAllocate>(CFG);
    let call = |count: u64, key: Option<&str>| {
        let body = Allocate {
            count: Some(count),
            initial_status: Some("0x1".into()),
            idempotency_key: key.map(str::to_owned),
        };
        let deps = w.deps();
        let auth = &auth;
        let repo = &w.repo;
        async move { entries::allocate(repo, &deps, auth, body).await }
    };
    let first = call(700, Some("issue-42")).await.unwrap().body.unwrap();
    // 700 of 1,024 taken; the retry must not take 700 more (that would open a second list).
    let again = call(700, Some("issue-42")).await.unwrap().body.unwrap();
    assert_eq!(again["entries"], first["entries"]);
    let cfg = load_as::<StatusConfig>(&w.repo, &t(CFG)).await.unwrap().doc;
    assert_eq!(cfg.lists.len(), 1);
    let list = t(&format!("{CFG}.{}", cfg.lists[0]));
    assert_eq!(w.repo.reserved(&list).await.unwrap(), 700);
    // The same key for another request is refused; a new key allocates anew; a bad key is a 400.
    assert_eq!(call(5, Some("issue-42")).await.unwrap_err().status, 422);
    let other = call(5, Some("issue-43")).await.unwrap().body.unwrap();
    assert_ne!(other["entries"][0], first["entries"][0]);
    assert_eq!(call(1, Some("")).await.unwrap_err().status, 400);
    assert_eq!(call(1, Some("a b")).await.unwrap_err().status, 400);
    // Without a key every call allocates.
    let a = call(1, None).await.unwrap().body.unwrap();
    let b = call(1, None).await.unwrap().body.unwrap();
    assert_ne!(a["entries"], b["entries"]);
}

#[tokio::test]
async fn a_publisher_killed_after_its_stale_upload_cannot_roll_the_registry_back() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(2).await;
    let (list_id, a_idx) = index_of(&entries[0]);
    let b_idx = index_of(&entries[1]).1;
    let key = format!("status-lists/{CFG}/{list_id}");
    // Publisher A folds its revocation and stalls in the upload; it will die right after the
    // registry takes its upload, before its release.
    w.registry.hold_next(1);
    w.registry.held_uploads_never_answer();
    let a = w.update(json!({"entry": entries[0]["id"], "status": "1"}));
    let b = async {
        while w.registry.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // A's lease runs out; publisher B takes the list over and publishes both revocations.
        w.set_lease(&list_id, chrono::Utc::now().timestamp() - 1, None)
            .await;
        w.update(json!({"entry": entries[1]["id"], "status": "1"}))
            .await;
        let published_by_b = w.list(&list_id).await.publish.published_revision;
        let uploads_by_b = w.registry.bodies(&key).len();
        // Now A's stale upload (B's revocation missing) reaches the registry, and A dies.
        w.registry.release();
        while w.registry.refused.load(Ordering::SeqCst) == 0
            && w.registry.bodies(&key).len() == uploads_by_b
        {
            tokio::task::yield_now().await;
        }
        published_by_b
    };
    let published_by_b = tokio::select! {
        _ = a => panic!("A never gets an answer"),
        p = b => p,
    };
    // A's upload expected the version A had read, which B's upload replaced: it was refused, so
    // the registry still serves B's list with both revocations, though nobody republished.
    assert_eq!(w.registry.refused.load(Ordering::SeqCst), 1);
    assert_eq!(
        (w.published(&list_id)[a_idx], w.published(&list_id)[b_idx]),
        (1, 1)
    );
    assert!(w.list(&list_id).await.publish.published_revision >= published_by_b);
}

/// A signed token of `list_id` issued at `iat` with `revoked` set to 1, as another deployment
/// or a restored backup would have published it with the configuration's key.
async fn token_behind(w: &World, list_id: &str, iat: i64, revoked: &[usize]) -> Vec<u8> {
    let key = load_as::<KeyDoc>(&w.repo, &t("acme.t1.kms.k"))
        .await
        .unwrap()
        .doc;
    let signer =
        trustfn_domain::ports::KeyManager::signer(&w.kms, key.kms_key_arn.as_str(), key.public_key);
    let list = w.list(list_id).await;
    let mut statuses = trustfn_statuslist::StatusArray::new(
        2,
        list.size as usize,
        trustfn_statuslist::BitOrder::LsbFirst,
    )
    .unwrap();
    for i in revoked {
        statuses.set(*i, 1).unwrap();
    }
    let claims = trustfn_statuslist::Claims {
        uri: list.uri.clone(),
        iat,
        exp: iat + 86_400,
        ttl: 43_200,
    };
    trustfn_statuslist::token::tsl_jwt(&statuses, &claims, "acme.t1.kms.k", &[], signer.as_ref())
        .await
        .unwrap()
        .into_bytes()
}

#[tokio::test]
async fn a_registry_copy_ahead_of_the_table_is_merged_never_rolled_back() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(3).await;
    let (list_id, a) = index_of(&entries[0]);
    let (b, c) = (index_of(&entries[1]).1, index_of(&entries[2]).1);
    // A restored table (or a copy put back by hand): the registry serves a newer list in which
    // a and c are revoked; the table knows neither.
    let newer = w.clock.now_ms() / 1000 + 30;
    let key = format!("status-lists/{CFG}/{list_id}");
    w.registry
        .write_behind(&key, token_behind(&w, &list_id, newer, &[a, c]).await);
    // Revoking b reinstates c in the same request: a recorded change.
    let out = w
        .update(
            json!({"updates": [{"entry": entries[1]["id"], "status": "1"},
                                    {"entry": entries[2]["id"], "status": "0"}]}),
        )
        .await;
    assert_eq!(out["published"], true, "{out}");
    let statuses = w.published(&list_id);
    assert_eq!(
        (statuses[a], statuses[b], statuses[c]),
        (1, 1, 0),
        "a kept from the registry's copy, b revoked, c reinstated by the recorded change"
    );
    // The table holds a too: the next publish keeps it without reading anything back.
    let reads = w.registry.reads.load(Ordering::SeqCst);
    w.update(json!({"entry": entries[1]["id"], "status": "2"}))
        .await;
    assert_eq!(w.published(&list_id)[a], 1);
    assert_eq!(w.registry.reads.load(Ordering::SeqCst), reads);
}

#[tokio::test]
async fn a_registry_copy_that_does_not_verify_is_never_overwritten() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(1).await;
    let list_id = index_of(&entries[0]).0;
    let key = format!("status-lists/{CFG}/{list_id}");
    w.registry
        .write_behind(&key, b"eyJhbGciOiJub25lIn0.e30.".to_vec());
    let out = w
        .update(json!({"entry": entries[0]["id"], "status": "1"}))
        .await;
    assert_eq!(out["published"], false, "{out}");
    assert!(
        out["publishError"]
            .as_str()
            .unwrap()
            .contains("left as it is"),
        "{out}"
    );
    assert_eq!(
        w.registry.current(&key).unwrap(),
        b"eyJhbGciOiJub25lIn0.e30."
    );
    let list = w.list(&list_id).await;
    assert!(list.failing() && list.publish.behind());
}

#[tokio::test]
async fn the_view_reads_pending_changes_before_the_lists_so_a_fold_between_never_lies() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(1).await;
    let (list_id, idx) = index_of(&entries[0]);
    let id = t(&format!("{CFG}.{list_id}"));
    // An accepted change whose publisher has not run yet ...
    let seq = "q0000000000000001".to_owned();
    w.repo
        .commit(vec![Op::AddPending(Pending {
            list: id.clone(),
            seq: seq.clone(),
            changes: vec![(idx as u32, 1)],
            due_at: 0,
            by: None,
        })])
        .await
        .unwrap();
    // ... is folded between the view's two reads (the upload has not happened).
    let mut folded = load_as::<StatusList>(&w.repo, &id).await.unwrap();
    let v = folded.version;
    folded.doc.publish.revision += 1;
    let fold = vec![
        Op::Replace {
            record: folded.upcast(),
            expected_version: v,
            children_delta: 0,
        },
        Op::RemovePending { list: id, seq },
    ];
    let raced = trustfn_testkit::RacedRead::new(&w.repo, fold);
    let out = view::view(&raced, &admin::<act::StatusView>(CFG), &Default::default())
        .await
        .unwrap()
        .body
        .unwrap();
    let list = &out["lists"][0];
    assert_eq!(list["upToDate"], false, "{list}");
}

#[tokio::test]
async fn the_later_acknowledged_change_wins_whatever_the_instances_clocks() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(1).await;
    let (list_id, idx) = index_of(&entries[0]);
    // Both changes wait for a publisher holding the lease.
    let now = w.clock.now_ms() / 1000;
    w.set_lease(&list_id, now + 3600, Some("holder")).await;
    // Instance A, whose clock runs a minute ahead, revokes; then instance B reinstates.
    let ahead = FakeClock::at(now + 60);
    let mut deps = w.deps();
    deps.clock = &ahead;
    deps.deadline_ms = ahead.now_ms() + 3_000;
    let body: UpdateBody =
        serde_json::from_value(json!({"entry": entries[0]["id"], "status": "1"})).unwrap();
    update::update(&w.repo, &deps, &admin::<act::StatusUpdate>(CFG), body)
        .await
        .unwrap();
    let out = w
        .update(json!({"entry": entries[0]["id"], "status": "0"}))
        .await;
    assert_eq!(out["published"], false);
    // The holder died; the refresh folds both, in the order they were acknowledged.
    w.set_lease(&list_id, now - 1, None).await;
    w.refresh(3600).await.unwrap();
    assert_eq!(w.published(&list_id)[idx], 0, "the reinstatement came last");
}

#[tokio::test]
async fn of_concurrent_allocations_under_one_idempotency_key_only_one_takes_entries() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let first = w.allocate(1).await;
    let list_id = index_of(&first[0]).0;
    let id = t(&format!("{CFG}.{list_id}"));
    // Another request with the same key finishes while this one runs (before its first write).
    let created = load_as::<StatusConfig>(&w.repo, &t(CFG))
        .await
        .unwrap()
        .created_at;
    let other = trustfn_domain::repo::Remembered {
        scope: t(CFG),
        key: entries::remembered_key(&trustfn_domain::auth::Principal::Admin, &created, "k1"),
        request: "count=1;initialStatus=1".into(),
        outcome: json!([[list_id, 0, 1]]).to_string(),
        expires_at: chrono::Utc::now().timestamp() + 3600,
    };
    let raced = trustfn_testkit::Raced::new(&w.repo, vec![Op::Remember(other)]);
    let body = Allocate {
        count: Some(1),
        initial_status: Some("1".into()),
        idempotency_key: Some("k1".into()),
    };
    let out = entries::allocate(
        &raced,
        &w.deps(),
        &admin::<act::StatusEntryAllocate>(CFG),
        body,
    )
    .await
    .unwrap()
    .body
    .unwrap();
    assert_eq!(
        out["entries"][0]["id"], first[0]["id"],
        "the other request's answer"
    );
    assert_eq!(w.repo.reserved(&id).await.unwrap(), 1, "no index burnt");
    assert_eq!(
        w.repo.pending_count().await,
        0,
        "no index stamped with a status"
    );
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_its_caller_and_to_one_configuration() {
    // It was scoped to the configuration alone: a second API key sending the same value got
    // the first key's entries.
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let caller = |id: &str| trustfn_domain::auth::Principal::ApiKey {
        key_id: t(id),
        permissions: vec![trustfn_domain::auth::Permission {
            target: CFG.into(),
            action: "all".into(),
            operation: Operation::Add,
        }],
        delegation: Default::default(),
    };
    let (a, b) = (caller("acme.ka"), caller("acme.kb"));
    let allocate = |p: &trustfn_domain::auth::Principal| {
        let p = p.clone();
        let (repo, deps) = (&w.repo, w.deps());
        async move {
            let auth = p.authorize::<act::StatusEntryAllocate>(&t(CFG)).unwrap();
            let body = Allocate {
                count: Some(1),
                initial_status: None,
                idempotency_key: Some("same".into()),
            };
            let out = entries::allocate(repo, &deps, &auth, body).await.unwrap();
            out.body.unwrap()["entries"][0]["id"].clone()
        }
    };
    let first = allocate(&a).await;
    assert_eq!(
        allocate(&a).await,
        first,
        "the same caller's retry is replayed"
    );
    assert_ne!(
        allocate(&b).await,
        first,
        "another caller's request is its own"
    );
    // A configuration created again at the same path is another incarnation.
    let admin = trustfn_domain::auth::Principal::Admin;
    assert_ne!(
        entries::remembered_key(&admin, "2026-12-04T10:00:00Z", "k"),
        entries::remembered_key(&admin, "2026-12-04T10:00:01Z", "k")
    );
}

#[tokio::test]
async fn the_aggregation_document_lists_a_list_opened_during_the_publish() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    let entries = w.allocate(1).await;
    w.registry.hold_next(1);
    let update = w.update(json!({"entry": entries[0]["id"], "status": "1"}));
    let open = async {
        while w.registry.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // A list opened meanwhile (another allocation rolled over).
        let mut cfg = load_as::<StatusConfig>(&w.repo, &t(CFG)).await.unwrap();
        let v = cfg.version;
        cfg.doc
            .lists
            .push(trustfn_domain::model::ListId::parse("lnew").unwrap());
        w.repo
            .commit(vec![Op::Replace {
                record: cfg.upcast(),
                expected_version: v,
                children_delta: 0,
            }])
            .await
            .unwrap();
        w.registry.release();
    };
    tokio::join!(update, open);
    let agg = w
        .registry
        .current(&format!("status-lists/{CFG}/aggregation"))
        .unwrap();
    let agg: Value = serde_json::from_slice(&agg).unwrap();
    let uris = agg["status_lists"].as_array().unwrap();
    assert!(
        uris.iter().any(|u| u.as_str().unwrap().ends_with("/lnew")),
        "{agg}"
    );
}

#[tokio::test]
async fn the_kms_dependency_and_the_registry_of_lists_in_use_stay() {
    let w = World::new().await;
    w.configure(tsl(1024)).await.unwrap();
    w.allocate(1).await;
    // Removing the kms service whose key signs the lists: every later update would be accepted
    // and never published.
    let auth = admin::<act::DependencyRemove>("acme.t1.st");
    let api = "credential-status-service-api";
    let e = trustfn_tree::dependencies::dependency_remove(&w.repo, &auth, api, "acme.t1.kms")
        .await
        .unwrap_err();
    assert_eq!(e.status, 409, "{}", e.message);
    assert!(e.message.contains(CFG), "{}", e.message);
    assert_eq!(
        w.repo.dependencies(&t("acme.t1.st")).await.unwrap(),
        vec![t("acme.t1.kms")]
    );
    // Moving the registry elsewhere while lists exist: credentials point at the old URIs.
    let auth = admin::<act::ConfigurationUpdate>("acme.t1.st");
    let moved = json!({"config": {"registry": {"type": "aws", "bucketName": "elsewhere",
        "region": "us-east-1", "accessKeyId": "AKIAEXAMPLE", "secretKey": "secret"}}});
    let e = trustfn_tree::configuration::configuration_update(
        &w.repo,
        &auth,
        api,
        moved,
        Some(&FakeSecrets),
        &Default::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 409, "{}", e.message);
    assert!(e.message.contains("registry"), "{}", e.message);
}

/// A fake clock the test keeps a handle on while the world reads it.
struct Shared(&'static FakeClock);

#[async_trait::async_trait]
impl Clock for Shared {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
    async fn sleep(&self, ms: u64) {
        self.0.sleep(ms).await
    }
}

/// The `iat` and statuses of a Token Status List JWT.
fn token_iat_and_statuses(body: &[u8]) -> (i64, Vec<u8>) {
    let jwt = std::str::from_utf8(body).unwrap();
    let payload: Value =
        serde_json::from_slice(&B64U.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let bits = payload["status_list"]["bits"].as_u64().unwrap() as u8;
    let lst = payload["status_list"]["lst"].as_str().unwrap();
    (
        payload["iat"].as_i64().unwrap(),
        trustfn_statuslist::codec::tsl_decode(bits, lst)
            .unwrap()
            .values(),
    )
}

fn header<'a>(r: &'a trustfn_domain::Reply, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn every_published_version_answers_for_its_own_window_of_time() {
    use trustfn_status::serve::{serve, Fetch};
    let t0 = 1_800_000_000;
    let clock: &'static FakeClock = Box::leak(Box::new(FakeClock::at(t0)));
    let w = World::with_clock(Box::new(Shared(clock))).await;
    w.configure(
        json!({"kid": "acme.t1.kms.k", "config": {"type": "TokenStatusList",
        "statusSize": 2, "size": 1024, "ttl": 600, "validity": 3600}}),
    )
    .await
    .unwrap();
    // Three publishes: the new list (all 0), then status 1 and status 2 of one entry.
    let entries = w.allocate(1).await;
    let (list_id, idx) = index_of(&entries[0]);
    clock.advance(1000);
    w.update(json!({"entry": entries[0]["id"], "status": "0x1"}))
        .await;
    clock.advance(1000);
    w.update(json!({"entry": entries[0]["id"], "status": "0x2"}))
        .await;
    let (t1, t2) = (t0 + 1000, t0 + 2000);
    let cfg = t(CFG);
    let now = t2 + 10;
    let at = |time: &'static str| Fetch {
        time: Some(time),
        ..Fetch::default()
    };
    let get = |f: Fetch<'static>, now: i64| {
        let (repo, cfg, list_id) = (&w.repo, cfg.clone(), list_id.clone());
        async move { serve(repo, &cfg, &list_id, f, now).await }
    };
    // Each window boundary answers the version issued at or before it.
    let owned = |n: i64| -> &'static str { Box::leak(n.to_string().into_boxed_str()) };
    for (time, iat, status) in [
        (t0, t0, 0),
        (t1 - 1, t0, 0),
        (t1, t1, 1),
        (t2 - 1, t1, 1),
        (t2, t2, 2),
        (now, t2, 2),
    ] {
        let r = get(at(owned(time)), now).await.unwrap();
        assert_eq!(r.status, 200, "time {time}");
        let (ct, body) = r.binary.clone().unwrap();
        assert_eq!(ct, "application/statuslist+jwt");
        let (got_iat, statuses) = token_iat_and_statuses(&body);
        assert_eq!((got_iat, statuses[idx]), (iat, status), "time {time}");
    }
    // Before the first version: 404; not an integer, or in the future: 400.
    assert_eq!(get(at(owned(t0 - 1)), now).await.unwrap_err().status, 404);
    for bad in ["abc", "-5", "1.5", ""] {
        assert_eq!(get(at(bad), now).await.unwrap_err().status, 400, "{bad:?}");
    }
    assert_eq!(get(at(owned(now + 1)), now).await.unwrap_err().status, 400);
    // The newest version before a moment had expired by then (nobody republished): 404.
    let late = t2 + 5000;
    assert_eq!(
        get(at(owned(t2 + 4000)), late).await.unwrap_err().status,
        404
    );
    assert_eq!(get(at(owned(t2 + 3599)), late).await.unwrap().status, 200);
    // Retention: 90 days after a version expired it is no longer answered.
    let kept = t0 + 3600 + 89 * 86_400;
    assert_eq!(get(at(owned(t0)), kept).await.unwrap().status, 200);
    let gone = t0 + 3600 + 91 * 86_400;
    assert_eq!(get(at(owned(t0)), gone).await.unwrap_err().status, 404);

    // Without time: the newest; a strong ETag; 304 while it is valid, never once it expired;
    // Cache-Control never past ttl or exp.
    let r = get(Fetch::default(), now).await.unwrap();
    assert_eq!(token_iat_and_statuses(&r.binary.clone().unwrap().1).0, t2);
    let etag = header(&r, "etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 66, "{etag}");
    assert_eq!(header(&r, "cache-control"), Some("public, max-age=600"));
    let near_exp = t2 + 3600 - 100;
    let r = get(Fetch::default(), near_exp).await.unwrap();
    assert_eq!(header(&r, "cache-control"), Some("public, max-age=100"));
    let inm: &'static str = Box::leak(etag.clone().into_boxed_str());
    let cond = Fetch {
        if_none_match: Some(inm),
        ..Fetch::default()
    };
    let r = get(cond, now).await.unwrap();
    assert_eq!((r.status, r.binary.is_none()), (304, true));
    assert_eq!(header(&r, "etag"), Some(etag.as_str()));
    let expired = t2 + 3600;
    let r = get(cond, expired).await.unwrap();
    assert_eq!(r.status, 200, "an expired token is never revalidated");
    assert_eq!(header(&r, "cache-control"), Some("no-store"));

    // Content negotiation: the list is a JWT.
    let accept = |a: &'static str| Fetch {
        accept: Some(a),
        ..Fetch::default()
    };
    assert_eq!(
        get(accept("application/statuslist+cwt"), now)
            .await
            .unwrap_err()
            .status,
        406
    );
    assert_eq!(
        get(accept("application/statuslist+jwt"), now)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(get(accept("*/*;q=0.1"), now).await.unwrap().status, 200);
    // An unknown list: 404.
    assert_eq!(
        serve(&w.repo, &cfg, "l0000000000000000", Fetch::default(), now)
            .await
            .unwrap_err()
            .status,
        404
    );
}

#[tokio::test]
async fn a_token_too_large_for_its_item_is_kept_in_the_registry_and_redirected_to() {
    use trustfn_domain::repo::{VersionBody, INLINE_VERSION_BYTES};
    use trustfn_status::serve::{serve, Fetch};
    let w = World::new().await;
    // 2^16 entries of 8 bits, all set to arbitrary values: a token of about 87 KB.
    w.configure(
        json!({"kid": "acme.t1.kms.k", "config": {"type": "TokenStatusList",
        "statusSize": 8, "size": 65_536, "ttl": 600, "validity": 3600}}),
    )
    .await
    .unwrap();
    let mut entries = Vec::new();
    while entries.len() < 65_536 {
        entries.extend(w.allocate(1000.min(65_536 - entries.len() as u64)).await);
    }
    let list_id = index_of(&entries[0]).0;
    let mut x: u32 = 0x9e37_79b9;
    for batch in entries.chunks(1000) {
        let updates: Vec<Value> = batch
            .iter()
            .map(|e| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                json!({"entry": e["id"], "status": format!("0x{:x}", 1 + x % 255)})
            })
            .collect();
        w.update(json!({"updates": updates})).await;
    }
    let published = w
        .registry
        .bodies(&format!("status-lists/{CFG}/{list_id}"))
        .last()
        .unwrap()
        .clone();
    assert!(
        published.len() > INLINE_VERSION_BYTES,
        "{}",
        published.len()
    );
    let list = t(&format!("{CFG}.{list_id}"));
    let kept = w.repo.list_version(&list, None).await.unwrap().unwrap();
    let VersionBody::Object { url, sha256 } = &kept.body else {
        panic!("kept inline: {:?}", kept.content_type)
    };
    let key = format!("status-list-versions/{CFG}/{list_id}/{}", kept.issued_at);
    assert!(url.ends_with(&key), "{url}");
    // The registry holds exactly the published bytes under the version key.
    assert_eq!(w.registry.bodies(&key).last(), Some(&published));
    assert_eq!(sha256, &hex_sha256(&published));
    let now = kept.issued_at + 1;
    let r = serve(&w.repo, &t(CFG), &list_id, Fetch::default(), now)
        .await
        .unwrap();
    assert_eq!(r.status, 302);
    assert_eq!(header(&r, "location"), Some(url.as_str()));
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}
