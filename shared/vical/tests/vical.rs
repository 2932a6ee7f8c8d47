//! The VICAL service against the in-memory repository and a local-key KMS: what a published
//! VICAL holds and how it is signed, read back with the CBOR reader and checked with the
//! signer's public key; issue ids; the refusals that leave nothing behind.

use serde_json::{json, Value};
use trustfn_certs::issuance::{self, IssueIaca, IssueVicalSigner};
use trustfn_domain::auth::act;
use trustfn_domain::model::{KeyDoc, Service, VicalServiceConfig};
use trustfn_domain::repo::{Op, Repository};
use trustfn_publish::{Clock, FakeClock, PublishDeps, SystemClock};
use trustfn_signer::{Curve, PublicKey};
use trustfn_statuslist::cbor::Value as Cbor;
use trustfn_testkit::{
    admin, attach, seed, seed_tenant, t, FakeKms, FakeSecrets, MemoryRepo, RecordingRegistry,
};
use trustfn_vical::publish::publish;

const X509: &str = "acme.t1.x509";
const VICAL: &str = "acme.t1.vical";

fn deps(kms: &FakeKms) -> PublishDeps<'_> {
    PublishDeps {
        kms,
        secrets: &FakeSecrets,
        registries: Box::leak(Box::new(RecordingRegistry::default())),
        clock: &SystemClock,
        deadline_ms: SystemClock.now_ms() + 25_000,
    }
}

async fn key(repo: &MemoryRepo, kms: &FakeKms, id: &str) -> PublicKey {
    let (arn, public) = kms.add_key(Curve::P256);
    let doc = KeyDoc {
        key_type: Curve::P256,
        public_key: public.clone(),
        kms_key_arn: trustfn_domain::model::KeyArn::parse(&arn).unwrap(),
        imported: false,
    };
    seed(repo, id, doc).await;
    public
}

fn body<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// A kms service, a store, an x509-service issuing into it: two IACAs with VICAL metadata, a
/// VICAL signer under the first, and a vical-service signing with the signer's key, its chain
/// the first IACA.
async fn world() -> (MemoryRepo, FakeKms, PublicKey) {
    let repo = MemoryRepo::new();
    let kms = FakeKms::default();
    seed_tenant(&repo, "acme.t1").await;
    seed(&repo, "acme.t1.kms", Service::Kms(Default::default())).await;
    seed(
        &repo,
        "acme.t1.store",
        Service::X509Store(Default::default()),
    )
    .await;
    seed(&repo, X509, Service::X509Service(Default::default())).await;
    attach(&repo, X509, "acme.t1.kms").await;
    attach(&repo, X509, "acme.t1.store").await;
    for k in ["iaca1", "iaca2"] {
        key(&repo, &kms, &format!("acme.t1.kms.{k}")).await;
    }
    let signer_key = key(&repo, &kms, "acme.t1.kms.vs").await;
    for (k, state) in [("iaca1", "US-CA"), ("iaca2", "US-NY")] {
        let b: IssueIaca = body(json!({
            "storedCertificateId": k,
            "certificateData": {"country": "US", "commonName": format!("IACA {k}"), "stateOrProvinceName": state,
                                "issuerAlternativeNameConf": {"uri": "https://dmv.example.gov"}},
            "iacaKeyDesc": {"type": "kms-hosted-key-descriptor", "keyIdPath": format!("acme.t1.kms.{k}")},
            "vicalEntryComplementaryMetadata": {"docType": ["org.iso.18013.5.1.mDL"],
                                                "certificateProfile": ["org.iso.18013.5.1.iaca"]}}));
        issuance::issue_iaca(&repo, &deps(&kms), &admin::<act::IacaIssue>(X509), b)
            .await
            .unwrap();
    }
    let b: IssueVicalSigner = body(json!({
        "storedCertificateId": "vs",
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": "acme.t1.store.iaca1",
                       "iacaKeyDesc": {"type": "kms-hosted-key-descriptor", "keyIdPath": "acme.t1.kms.iaca1"}},
        "certificateData": {"country": "US", "commonName": "VICAL signer"},
        "signerKeyDescriptor": {"type": "kms-hosted-key-descriptor", "keyIdPath": "acme.t1.kms.vs"}}));
    issuance::issue_vical_signer(&repo, &deps(&kms), &admin::<act::VicalSignerIssue>(X509), b)
        .await
        .unwrap();
    create_vical(&repo).await;
    (repo, kms, signer_key)
}

/// The world's vical-service configuration: the signer's key and certificate, the IACA above it.
fn signer_config() -> VicalServiceConfig {
    VicalServiceConfig {
        signing_key_id: "acme.t1.kms.vs".into(),
        signer_certificate_id: "acme.t1.store.vs".into(),
        signer_certificate_chain_ids: vec!["acme.t1.store.iaca1".into()],
        publish_defaults: None,
        latest: None,
        refresh_at: None,
        failures: 0,
        registry: None,
        registry_publish: None,
        registry_backlog: Vec::new(),
        extra: Default::default(),
    }
}

async fn create_vical(repo: &MemoryRepo) {
    let cfg = signer_config();
    seed(repo, VICAL, Service::Vical(cfg)).await;
    attach(repo, VICAL, "acme.t1.kms").await;
    attach(repo, VICAL, "acme.t1.store").await;
}

async fn publish_with(repo: &MemoryRepo, kms: &FakeKms, b: Value) -> Result<Value, (u16, String)> {
    publish(repo, &deps(kms), &admin::<act::VicalPublish>(VICAL), b)
        .await
        .map(|r| r.body.unwrap())
        .map_err(|e| (e.status, e.message))
}

fn text(v: &Cbor) -> &str {
    match v {
        Cbor::Text(s) => s,
        other => panic!("not text: {other:?}"),
    }
}

fn get<'a>(m: &'a Cbor, k: &str) -> &'a Cbor {
    m.get(&Cbor::text(k)).unwrap_or_else(|| panic!("no {k}"))
}

/// The signed bytes of a published version, from its record.
async fn signed(repo: &MemoryRepo, version: &str) -> Vec<u8> {
    use base64::Engine;
    let rec = repo
        .get(&t(&format!("{VICAL}.{version}")))
        .await
        .unwrap()
        .unwrap();
    let v = rec.get::<trustfn_domain::model::VicalVersion>().unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(&v.cbor)
        .unwrap()
}

#[tokio::test]
async fn a_vical_lists_the_stores_iacas_and_verifies_with_the_signer_certificate() {
    let (repo, kms, signer_key) = world().await;
    let out = publish_with(
        &repo,
        &kms,
        json!({
        "vicalProvider": "Example mDL Trust Provider", "versionId": "v1",
        "issuanceDate": "2026-03-23T10:15:30Z", "nextUpdate": "2099-04-23T10:15:30Z"}),
    )
    .await
    .unwrap();
    assert_eq!(out["versionIdPath"], "acme.t1.vical.versions.v1");
    assert_eq!(
        out["entryCount"], 2,
        "the two IACAs; the signer certificate is a base entry"
    );
    assert_eq!(out["date"], "2026-03-23T10:15:30Z");
    let bytes = signed(&repo, "v1").await;
    let Cbor::Array(sign1) = Cbor::decode(&bytes).unwrap() else {
        panic!("not a COSE_Sign1 array")
    };
    let [Cbor::Bytes(protected), unprotected, Cbor::Bytes(payload), Cbor::Bytes(sig)] = &sign1[..]
    else {
        panic!("COSE_Sign1 has four parts")
    };
    assert_eq!(
        Cbor::decode(protected).unwrap(),
        Cbor::Map(vec![(Cbor::Uint(1), Cbor::Nint(-7))])
    );
    let Cbor::Array(chain) = unprotected.get(&Cbor::Uint(33)).unwrap() else {
        panic!("x5chain of two")
    };
    assert_eq!(
        chain.len(),
        2,
        "the signer certificate, then the IACA above it"
    );
    let to_be_signed = Cbor::Array(vec![
        Cbor::text("Signature1"),
        Cbor::Bytes(protected.clone()),
        Cbor::Bytes(vec![]),
        Cbor::Bytes(payload.clone()),
    ])
    .encode();
    assert!(
        signer_key.verifies(&to_be_signed, sig),
        "signed by the signer's key"
    );
    let vical = Cbor::decode(payload).unwrap();
    assert_eq!(text(get(&vical, "version")), "1.0");
    assert_eq!(
        text(get(&vical, "vicalProvider")),
        "Example mDL Trust Provider"
    );
    assert_eq!(
        get(&vical, "date"),
        &Cbor::Tag(0, Box::new(Cbor::text("2026-03-23T10:15:30Z")))
    );
    assert_eq!(get(&vical, "vicalIssueID"), &Cbor::Uint(1));
    let Cbor::Array(infos) = get(&vical, "certificateInfos") else {
        panic!()
    };
    let mut states: Vec<&str> = infos
        .iter()
        .map(|i| text(get(i, "stateOrProvinceName")))
        .collect();
    states.sort();
    assert_eq!(states, ["US-CA", "US-NY"]);
    for info in infos {
        let Cbor::Bytes(der) = get(info, "certificate") else {
            panic!()
        };
        let d = trustfn_x509::describe::describe(der).unwrap();
        assert_eq!(
            get(info, "ski"),
            &Cbor::Bytes(d.subject_key_identifier.clone().unwrap())
        );
        let Cbor::Tag(2, serial) = get(info, "serialNumber") else {
            panic!("serialNumber is a biguint")
        };
        let magnitude: Vec<u8> = d.serial.iter().copied().skip_while(|b| *b == 0).collect();
        assert_eq!(**serial, Cbor::Bytes(magnitude));
        assert_eq!(
            get(info, "docType"),
            &Cbor::Array(vec![Cbor::text("org.iso.18013.5.1.mDL")])
        );
        assert_eq!(text(get(info, "issuingCountry")), "US");
        assert!(matches!(get(info, "notAfter"), Cbor::Tag(0, _)));
    }
}

#[tokio::test]
async fn issue_ids_grow_and_survive_the_service_being_created_again() {
    let (repo, kms, _) = world().await;
    let provider = json!({"vicalProvider": "P"});
    let a = publish_with(&repo, &kms, provider.clone()).await.unwrap();
    let b = publish_with(&repo, &kms, provider.clone()).await.unwrap();
    assert_eq!(
        (a["vicalIssueId"].as_u64(), b["vicalIssueId"].as_u64()),
        (Some(1), Some(2))
    );
    // Delete the service with its versions, as the recursive delete does, and create it again.
    let service = repo.get(&t(VICAL)).await.unwrap().unwrap();
    let mut ops = Vec::new();
    for child in repo
        .children(Some(&t(VICAL)), 100, None)
        .await
        .unwrap()
        .items
    {
        ops.push(Op::Delete {
            id: child.id,
            children: 0,
            dependants: 0,
            version: None,
        });
    }
    for dep in ["acme.t1.kms", "acme.t1.store"] {
        ops.push(Op::RemoveEdge {
            from: t(VICAL),
            to: t(dep),
        });
        ops.push(Op::Count {
            id: t(dep),
            children: 0,
            dependants: -1,
        });
    }
    ops.push(Op::Delete {
        id: t(VICAL),
        children: service.children,
        dependants: 0,
        version: None,
    });
    ops.push(Op::Count {
        id: t("acme.t1"),
        children: -1,
        dependants: 0,
    });
    repo.commit(ops).await.unwrap();
    create_vical(&repo).await;
    let c = publish_with(&repo, &kms, provider).await.unwrap();
    assert_eq!(
        c["vicalIssueId"], 3,
        "never 1 again: verifiers already hold 1 and 2"
    );
}

#[tokio::test]
async fn refused_publishes_leave_nothing_and_name_what_is_wrong() {
    let (repo, kms, _) = world().await;
    let before = (repo.item_counts().await, repo.get(&t(VICAL)).await.unwrap());
    let (code, msg) = publish_with(&repo, &kms, json!({})).await.unwrap_err();
    assert_eq!((code, msg.contains("vicalProvider")), (400, true), "{msg}");
    let (code, msg) = publish_with(
        &repo,
        &kms,
        json!({"vicalProvider": "P",
        "issuanceDate": "2026-03-23T10:15:30Z", "nextUpdate": "2026-03-23T10:15:30Z"}),
    )
    .await
    .unwrap_err();
    assert_eq!((code, msg.contains("nextUpdate")), (400, true), "{msg}");
    let (code, _) = publish_with(
        &repo,
        &kms,
        json!({"vicalProvider": "P", "versionId": "a.b"}),
    )
    .await
    .unwrap_err();
    assert_eq!(code, 400);
    let (code, _) = publish_with(&repo, &kms, json!({"vicalProvider": "P", "surprise": 1}))
        .await
        .unwrap_err();
    assert_eq!(code, 400);
    let after = (repo.item_counts().await, repo.get(&t(VICAL)).await.unwrap());
    assert_eq!(after, before, "refused publishes wrote nothing");
    assert_eq!(
        kms.signs.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "and signed nothing (3 = the certificates)"
    );

    publish_with(
        &repo,
        &kms,
        json!({"vicalProvider": "P", "versionId": "v1"}),
    )
    .await
    .unwrap();
    let (code, msg) = publish_with(
        &repo,
        &kms,
        json!({"vicalProvider": "P", "versionId": "v1"}),
    )
    .await
    .unwrap_err();
    assert_eq!((code, msg.contains("never replaced")), (409, true), "{msg}");

    // A vical-entry that is not an IACA: refused by name, or left out when asked.
    let signer = repo.get(&t("acme.t1.store.vs")).await.unwrap().unwrap();
    let mut cert = signer
        .get::<trustfn_domain::model::Certificate>()
        .unwrap()
        .clone();
    cert.data.kind = trustfn_domain::model::CertificateType::VicalEntry;
    cert.data.complementary_metadata =
        Some(serde_json::from_value(json!({"docType": ["org.iso.18013.5.1.mDL"]})).unwrap());
    seed(&repo, "acme.t1.store.leaf", cert).await;
    let (code, msg) = publish_with(&repo, &kms, json!({"vicalProvider": "P"}))
        .await
        .unwrap_err();
    assert_eq!(code, 400);
    assert!(msg.contains("acme.t1.store.leaf (not an IACA"), "{msg}");
    let out = publish_with(
        &repo,
        &kms,
        json!({"vicalProvider": "P", "skipInvalid": true}),
    )
    .await
    .unwrap();
    assert_eq!(
        (out["entryCount"].as_u64(), &out["skipped"]),
        (Some(2), &json!(["acme.t1.store.leaf"]))
    );
}

#[tokio::test]
async fn a_signer_certificate_that_does_not_fit_is_refused_by_field() {
    let (repo, _, _) = world().await;
    let deps_of = repo
        .get_many(&repo.dependencies(&t(VICAL)).await.unwrap())
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let base = signer_config();
    let check = |c: VicalServiceConfig| {
        let repo = &repo;
        let deps_of = &deps_of;
        async move {
            trustfn_vical::service::check(
                repo,
                &trustfn_domain::auth::Principal::Admin,
                &t(VICAL),
                deps_of,
                &c,
                now,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.message)
        }
    };
    check(base.clone()).await.unwrap();
    let wrong_key = VicalServiceConfig {
        signing_key_id: "acme.t1.kms.iaca2".into(),
        ..base.clone()
    };
    assert!(check(wrong_key)
        .await
        .unwrap_err()
        .contains("does not certify the signing key"));
    let not_a_signer = VicalServiceConfig {
        signing_key_id: "acme.t1.kms.iaca1".into(),
        signer_certificate_id: "acme.t1.store.iaca1".into(),
        signer_certificate_chain_ids: vec![],
        ..base.clone()
    };
    assert!(check(not_a_signer)
        .await
        .unwrap_err()
        .contains("1.0.18013.5.1.8"));
    let no_chain = VicalServiceConfig {
        signer_certificate_chain_ids: vec![],
        ..base.clone()
    };
    assert!(check(no_chain)
        .await
        .unwrap_err()
        .starts_with("signerCertificateChainIds: the signer certificate is not self-signed"));
    let wrong_chain = VicalServiceConfig {
        signer_certificate_chain_ids: vec!["acme.t1.store.iaca2".into()],
        ..base.clone()
    };
    assert!(check(wrong_chain)
        .await
        .unwrap_err()
        .starts_with("signerCertificateChainIds[0]: signerCertificateId is not signed"));
    let missing = VicalServiceConfig {
        signer_certificate_id: "acme.t1.store.nothing".into(),
        ..base
    };
    assert!(check(missing)
        .await
        .unwrap_err()
        .starts_with("signerCertificateId: no stored certificate"));
}

async fn versions(repo: &MemoryRepo) -> usize {
    repo.children(Some(&t(VICAL)), 100, None)
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test]
async fn the_refresh_publishes_a_new_version_three_quarters_in_and_backs_off_on_failure() {
    use std::sync::atomic::Ordering;
    use trustfn_publish::{Cx, Republisher};
    let (repo, kms, signer_key) = world().await;
    let now = chrono::Utc::now().timestamp();
    let iso = |t: i64| trustfn_domain::model::time::from_unix(t).to_rfc3339();
    // Valid 32 days, 30 of them gone: a quarter of the validity is left, it is due.
    let first = publish_with(
        &repo,
        &kms,
        json!({"vicalProvider": "P", "versionId": "v1",
        "issuanceDate": iso(now - 30 * 86_400), "nextUpdate": iso(now + 2 * 86_400)}),
    )
    .await
    .unwrap();
    let clock = trustfn_publish::FakeClock::at(now);
    let deps = PublishDeps {
        clock: &clock,
        ..deps(&kms)
    };
    let cx = Cx {
        repo: &repo,
        deps: &deps,
    };
    let due = repo.due(now, 10).await.unwrap();
    assert_eq!(due, vec![t(VICAL)], "in the refresh index");

    // KMS down: nothing published, due again in a minute, the failure counted.
    kms.down.store(true, Ordering::SeqCst);
    assert!(trustfn_vical::refresh::Vicals
        .republish(&cx, &t(VICAL), i64::MAX)
        .await
        .is_err());
    kms.down.store(false, Ordering::SeqCst);
    assert!(repo.due(now, 10).await.unwrap().is_empty(), "backing off");
    assert_eq!(repo.due(now + 61, 10).await.unwrap(), vec![t(VICAL)]);
    assert_eq!(versions(&repo).await, 1);
    assert_eq!(
        trustfn_vical::refresh::Vicals
            .republish(&cx, &t(VICAL), i64::MAX)
            .await
            .unwrap(),
        trustfn_publish::Outcome::UpToDate,
        "not before the wait is over"
    );
    clock.advance(61);

    let out = trustfn_vical::refresh::Vicals
        .republish(&cx, &t(VICAL), i64::MAX)
        .await
        .unwrap();
    assert_eq!(out, trustfn_publish::Outcome::Published);
    assert_eq!(versions(&repo).await, 2, "a new version; the old one stays");
    let svc = repo.get(&t(VICAL)).await.unwrap().unwrap();
    let Some(trustfn_domain::model::Doc::Service(Service::Vical(cfg))) = Some(svc.doc) else {
        panic!()
    };
    let latest = cfg.latest.clone().unwrap();
    assert_ne!(latest, "v1");
    assert_eq!(cfg.failures, 0);
    let bytes = signed(&repo, &latest).await;
    let Cbor::Array(sign1) = Cbor::decode(&bytes).unwrap() else {
        panic!()
    };
    let Cbor::Bytes(payload) = &sign1[2] else {
        panic!()
    };
    let vical = Cbor::decode(payload).unwrap();
    assert_eq!(text(get(&vical, "vicalProvider")), "P");
    // The attempt KMS failed took an id too: ids grow, with a gap, and never repeat.
    assert_eq!(
        get(&vical, "vicalIssueID"),
        &Cbor::Uint(first["vicalIssueId"].as_u64().unwrap() + 2)
    );
    let Cbor::Tag(0, next) = get(&vical, "nextUpdate") else {
        panic!()
    };
    let next = chrono::DateTime::parse_from_rfc3339(text(next))
        .unwrap()
        .timestamp();
    assert_eq!(next, now + 61 + 32 * 86_400, "the same validity, from now");
    let Cbor::Bytes(sig) = &sign1[3] else {
        panic!()
    };
    let Cbor::Bytes(protected) = &sign1[0] else {
        panic!()
    };
    let tbs = Cbor::Array(vec![
        Cbor::text("Signature1"),
        Cbor::Bytes(protected.clone()),
        Cbor::Bytes(vec![]),
        Cbor::Bytes(payload.clone()),
    ])
    .encode();
    assert!(signer_key.verifies(&tbs, sig));
    assert!(
        repo.due(now + 86_400, 10).await.unwrap().is_empty(),
        "not due again for weeks"
    );
    assert_eq!(
        trustfn_vical::refresh::Vicals
            .republish(&cx, &t(VICAL), i64::MAX)
            .await
            .unwrap(),
        trustfn_publish::Outcome::UpToDate
    );
}

/// The publish deps over `registry`, at `clock`.
fn deps_at<'a>(
    kms: &'a FakeKms,
    registry: &'a RecordingRegistry,
    clock: &'a FakeClock,
) -> PublishDeps<'a> {
    PublishDeps {
        kms,
        secrets: &FakeSecrets,
        registries: registry,
        clock,
        deadline_ms: clock.now_ms() + 25_000,
    }
}

const LATEST: &str = "vicals/acme.t1.vical/latest.cbor";

fn version_object(id: &str) -> String {
    format!("vicals/acme.t1.vical/versions/{id}.cbor")
}

#[tokio::test]
async fn with_a_registry_every_version_is_uploaded_and_a_copy_ahead_is_never_overwritten() {
    let (repo, kms, _) = world().await;
    set_registry(&repo, trustfn_testkit::registry_config()).await;
    let registry = RecordingRegistry::default();
    let clock = FakeClock::now();
    let go = |b: Value| {
        let (repo, kms, registry, clock) = (&repo, &kms, &registry, &clock);
        async move {
            publish(
                repo,
                &deps_at(kms, registry, clock),
                &admin::<act::VicalPublish>(VICAL),
                b,
            )
            .await
            .map(|r| r.body.unwrap())
            .map_err(|e| (e.status, e.message))
        }
    };
    let p = |v: &str| json!({"vicalProvider": "P", "versionId": v, "nextUpdate": "2099-01-01T00:00:00Z"});

    // 1. Published: the latest and the version's own object hold the version's bytes.
    let out = go(p("v1")).await.unwrap();
    assert_eq!(
        out["registry"],
        json!({"object": LATEST, "published": true})
    );
    assert_eq!(registry.current(LATEST), Some(signed(&repo, "v1").await));
    assert_eq!(
        registry.current(&version_object("v1")),
        Some(signed(&repo, "v1").await)
    );

    // 2. The registry fails: the version is kept and answered, the copy is due for the refresh.
    registry
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let out = go(p("v2")).await.unwrap();
    assert_eq!(out["vicalIssueId"], 2);
    assert_eq!(out["registry"]["published"], false, "{out}");
    let rec = repo.get(&t(VICAL)).await.unwrap().unwrap();
    assert!(
        rec.refresh_at()
            .is_some_and(|at| at <= clock.now_ms() / 1000 + 3600),
        "due for the refresh"
    );
    // The stored form of the copy's state reads back as it was written.
    let doc = rec.doc.to_stored();
    assert!(
        doc["config"]["_registryPublish"]["lastError"].is_string(),
        "{doc}"
    );
    assert_eq!(
        doc["config"]["_registryBacklog"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        trustfn_domain::model::Doc::from_stored(trustfn_domain::model::Kind::Service, doc).unwrap(),
        rec.doc
    );

    // 3. Back again: the refresh uploads v2, its object included, once its retry time comes.
    registry
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    clock.advance(3600);
    let report = refresh(&repo, &kms, &registry, &clock).await;
    assert_eq!((report.republished, report.failed), (1, 0), "{report:?}");
    assert_eq!(registry.current(LATEST), Some(signed(&repo, "v2").await));
    assert_eq!(
        registry.current(&version_object("v2")),
        Some(signed(&repo, "v2").await)
    );

    // 4. A copy ahead of the table (issue 10, by the service's own key: a restored table) is
    //    left as it is; the ids continue above it and the next version replaces it.
    let key = repo.get(&t("acme.t1.kms.vs")).await.unwrap().unwrap();
    let key = key.get::<KeyDoc>().unwrap().clone();
    let signer = trustfn_domain::ports::KeyManager::signer(
        &kms,
        key.kms_key_arn.as_str(),
        key.public_key.clone(),
    );
    let chain = trustfn_statuslist::cbor::Value::decode(&signed(&repo, "v2").await).unwrap();
    let Cbor::Array(parts) = chain else { panic!() };
    let x5chain: Vec<Vec<u8>> = match parts[1].get(&Cbor::Uint(33)).unwrap() {
        Cbor::Array(a) => a.iter().map(|c| c.as_bytes().unwrap().to_vec()).collect(),
        other => vec![other.as_bytes().unwrap().to_vec()],
    };
    let ahead = trustfn_vical::payload::Vical {
        provider: "P".into(),
        date: chrono::Utc::now(),
        issue_id: 10,
        next_update: None,
        infos: vec![],
    }
    .sign(signer.as_ref(), &x5chain)
    .await
    .unwrap();
    registry.write_behind(LATEST, ahead.clone());
    let out = go(p("v3")).await.unwrap();
    assert_eq!(out["vicalIssueId"], 3);
    assert_eq!(out["registry"]["published"], false);
    let msg = out["registry"]["message"].as_str().unwrap();
    assert!(
        msg.contains("issue 10") && msg.contains("left as it is"),
        "{msg}"
    );
    assert_eq!(
        registry.current(LATEST),
        Some(ahead.clone()),
        "never overwritten by an older VICAL"
    );
    let out = go(p("v4")).await.unwrap();
    assert_eq!(out["vicalIssueId"], 11, "above the registry's copy");
    assert_eq!(out["registry"]["published"], true, "{out}");
    assert_eq!(registry.current(LATEST), Some(signed(&repo, "v4").await));
    assert_eq!(
        registry.current(&version_object("v3")),
        Some(signed(&repo, "v3").await)
    );

    // 5. A copy that does not verify with the service's key is never overwritten.
    registry.write_behind(LATEST, b"not a VICAL".to_vec());
    let out = go(p("v5")).await.unwrap();
    let msg = out["registry"]["message"].as_str().unwrap();
    assert!(msg.contains("cannot be verified"), "{msg}");
    assert_eq!(registry.current(LATEST), Some(b"not a VICAL".to_vec()));
}

/// Sets the vical-service's registry, as a configuration update does.
async fn set_registry(
    repo: &MemoryRepo,
    registry: trustfn_domain::registry_config::RegistryConfig<
        trustfn_domain::registry_config::Sealed,
    >,
) {
    let rec = repo.get(&t(VICAL)).await.unwrap().unwrap();
    let Service::Vical(stored) = rec.get::<Service>().cloned().unwrap() else {
        panic!()
    };
    let mut config = serde_json::to_value(&stored)
        .unwrap()
        .as_object()
        .unwrap()
        .clone();
    config.retain(|k, _| !k.starts_with('_') && k != "registry");
    let cfg =
        trustfn_vical::service::config_from_request(config, Some(registry), Some(&stored)).unwrap();
    repo.commit(vec![Op::Replace {
        record: trustfn_domain::model::Record {
            doc: Service::Vical(cfg).into(),
            ..rec.clone()
        },
        expected_version: rec.version,
        children_delta: 0,
    }])
    .await
    .unwrap();
}

/// The vical-service's configuration as stored now.
async fn vical_config(repo: &MemoryRepo) -> VicalServiceConfig {
    match repo
        .get(&t(VICAL))
        .await
        .unwrap()
        .unwrap()
        .get::<Service>()
        .unwrap()
    {
        Service::Vical(c) => c.clone(),
        _ => panic!("not a vical-service"),
    }
}

/// One run of the scheduled refresh with the VICAL publisher, at `clock`.
async fn refresh(
    repo: &MemoryRepo,
    kms: &FakeKms,
    registry: &RecordingRegistry,
    clock: &FakeClock,
) -> trustfn_publish::RefreshReport {
    let deps = deps_at(kms, registry, clock);
    let cx = trustfn_publish::Cx { repo, deps: &deps };
    trustfn_publish::refresh(
        &cx,
        &[&trustfn_vical::refresh::Vicals],
        0,
        10,
        deps.deadline_ms,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_failing_registry_never_holds_back_the_vical_and_a_long_backlog_drains() {
    let (repo, kms, _) = world().await;
    let with_secret = |secret: &str| {
        let mut r = serde_json::to_value(trustfn_testkit::registry_config()).unwrap();
        r["accessKeyId"] = json!("AKIAEXAMPLE");
        r["secretKey"] = json!(format!("kms:{VICAL}:{secret}"));
        serde_json::from_value(r).unwrap()
    };
    set_registry(&repo, with_secret("old")).await;
    let registry = RecordingRegistry::default();
    let clock = FakeClock::now();
    registry
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // 20 versions while the registry is down (more than one round puts).
    for i in 0..20 {
        let next = chrono::DateTime::from_timestamp(clock.now_ms() / 1000 + 400, 0).unwrap();
        publish(
            &repo,
            &deps_at(&kms, &registry, &clock),
            &admin::<act::VicalPublish>(VICAL),
            json!({"vicalProvider": "P", "versionId": format!("b{i}"), "nextUpdate": next.to_rfc3339()}),
        )
        .await
        .unwrap();
    }
    let cfg = vical_config(&repo).await;
    assert_eq!(cfg.registry_backlog.len(), 20);
    // Three quarters into the latest's validity, with the registry still down: the refresh
    // publishes the next version anyway.
    clock.advance(320);
    refresh(&repo, &kms, &registry, &clock).await;
    let cfg = vical_config(&repo).await;
    assert_eq!(
        cfg.registry_backlog.len(),
        21,
        "a new version was published: {:?}",
        cfg.latest
    );
    // New credentials for the same bucket (the usual repair): the backlog and state stay.
    set_registry(&repo, with_secret("new")).await;
    let cfg = vical_config(&repo).await;
    assert_eq!(
        cfg.registry_backlog.len(),
        21,
        "nothing dropped with a re-sent secret"
    );
    // Back: one refresh drains the whole backlog over several rounds.
    registry
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    clock.advance(3600);
    refresh(&repo, &kms, &registry, &clock).await;
    let cfg = vical_config(&repo).await;
    assert!(
        cfg.registry_backlog.is_empty(),
        "{:?}",
        cfg.registry_backlog
    );
    for i in 0..20 {
        let id = format!("b{i}");
        assert_eq!(
            registry.current(&version_object(&id)),
            Some(signed(&repo, &id).await),
            "{id}"
        );
    }
    let latest = cfg.latest.unwrap();
    assert_eq!(registry.current(LATEST), Some(signed(&repo, &latest).await));
}
