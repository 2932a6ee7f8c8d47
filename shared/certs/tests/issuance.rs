//! IACA and Document Signer issuance against the in-memory repository and a local-key KMS:
//! which keys may sign, one Sign per certificate, and write-through to every attached store in
//! one transaction or not at all.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};
use trustfn_certs::issuance::{self, IssueDs, IssueIaca};
use trustfn_domain::auth::{act, Operation, Principal};
use trustfn_domain::model::{Certificate, KeyDoc, Record, Service};
use trustfn_domain::repo::Op;
use trustfn_domain::repo::Repository;
use trustfn_domain::resource::load_as;
use trustfn_publish::{Clock, PublishDeps, SystemClock};
use trustfn_signer::Curve;
use trustfn_testkit::MemoryRepo;
use trustfn_testkit::{
    admin, api_key, attach, seed, seed_tenant, t, FakeKms, FakeSecrets, Raced, RecordingRegistry,
};

const X509: &str = "acme.t1.x509";

/// KMS as given; sealed secrets and registries that record uploads (no CRL target here).
fn deps(kms: &FakeKms) -> PublishDeps<'_> {
    PublishDeps {
        kms,
        secrets: &FakeSecrets,
        registries: Box::leak(Box::new(RecordingRegistry::default())),
        clock: &SystemClock,
        deadline_ms: SystemClock.now_ms() + 25_000,
    }
}

async fn key(repo: &MemoryRepo, kms: &FakeKms, id: &str) {
    let (arn, public) = kms.add_key(Curve::P256);
    let doc = KeyDoc {
        key_type: Curve::P256,
        public_key: public,
        kms_key_arn: trustfn_domain::model::KeyArn::parse(&arn).unwrap(),
        imported: false,
    };
    seed(repo, id, doc).await;
}

/// An x509-service with kms `acme.t1.kms` and two stores attached; `acme.t1.other` is a kms
/// service with a key that is not attached.
async fn world() -> (MemoryRepo, FakeKms) {
    let repo = MemoryRepo::new();
    let kms = FakeKms::default();
    seed_tenant(&repo, "acme.t1").await;
    for id in ["acme.t1.kms", "acme.t1.other"] {
        seed(&repo, id, Service::Kms(Default::default())).await;
    }
    for id in ["acme.t1.store1", "acme.t1.store2"] {
        seed(&repo, id, Service::X509Store(Default::default())).await;
    }
    seed(&repo, X509, Service::X509Service(Default::default())).await;
    for dep in ["acme.t1.kms", "acme.t1.store1", "acme.t1.store2"] {
        attach(&repo, X509, dep).await;
    }
    for k in ["acme.t1.kms.iaca", "acme.t1.kms.ds", "acme.t1.other.k"] {
        key(&repo, &kms, k).await;
    }
    (repo, kms)
}

fn iaca_body(key: &str, stored: &str) -> IssueIaca {
    serde_json::from_value(json!({
        "storedCertificateId": stored,
        "certificateData": {"country": "US", "commonName": "Example IACA", "stateOrProvinceName": "US-CA",
                            "issuerAlternativeNameConf": {"uri": "https://dmv.example.gov"}},
        "iacaKeyDesc": {"type": "kms-hosted-key-descriptor", "keyIdPath": key}}))
    .unwrap()
}

fn ds_body(iaca_key: &str, ds_key: &str) -> IssueDs {
    serde_json::from_value(json!({
        "storedCertificateId": "ds",
        "iacaSigner": {"type": "stored-certificate-descriptor", "storedCertificatePath": "acme.t1.store1.iaca",
                       "iacaKeyDesc": {"type": "kms-hosted-key-descriptor", "keyIdPath": iaca_key}},
        "certificateData": {"country": "US", "commonName": "Example DS", "stateOrProvinceName": "US-CA",
                            "crlDistributionPointUri": "https://dmv.example.gov/crl"},
        "dsKeyDescriptor": {"type": "kms-hosted-key-descriptor", "keyIdPath": ds_key}}))
    .unwrap()
}

async fn iaca(repo: &MemoryRepo, kms: &FakeKms, key: &str, stored: &str) -> Result<Value, u16> {
    issuance::issue_iaca(
        repo,
        &deps(kms),
        &admin::<act::IacaIssue>(X509),
        iaca_body(key, stored),
    )
    .await
    .map(|r| r.body.unwrap())
    .map_err(|e| e.status)
}

#[tokio::test]
async fn an_iaca_is_signed_once_and_written_to_every_attached_store() {
    let (repo, kms) = world().await;
    let out = iaca(&repo, &kms, "acme.t1.kms.iaca", "iaca").await.unwrap();
    assert_eq!(
        kms.signs.load(Ordering::SeqCst),
        1,
        "one KMS Sign per certificate"
    );
    assert_eq!(
        out["storedCertificateIds"],
        json!(["acme.t1.store1.iaca", "acme.t1.store2.iaca"])
    );
    let one = load_as::<Certificate>(&repo, &t("acme.t1.store1.iaca"))
        .await
        .unwrap();
    let two = load_as::<Certificate>(&repo, &t("acme.t1.store2.iaca"))
        .await
        .unwrap();
    assert_eq!(one.doc, two.doc);
    assert_eq!(one.doc.data.pem, out["certificatePEM"].as_str().unwrap());
}

#[tokio::test]
async fn an_id_taken_in_one_store_writes_nothing_to_any_store() {
    let (repo, kms) = world().await;
    iaca(&repo, &kms, "acme.t1.kms.iaca", "iaca").await.unwrap();
    // Remove it from store1 only: the id is still taken in store2.
    let rec = repo.get(&t("acme.t1.store1.iaca")).await.unwrap().unwrap();
    repo.commit(vec![
        trustfn_domain::repo::Op::Delete {
            id: rec.id.clone(),
            children: 0,
            dependants: 0,
            version: Some(rec.version),
        },
        trustfn_domain::repo::Op::Count {
            id: t("acme.t1.store1"),
            children: -1,
            dependants: 0,
        },
    ])
    .await
    .unwrap();
    let before = repo.item_counts().await;
    let auth = admin::<act::IacaIssue>(X509);
    let e = issuance::issue_iaca(
        &repo,
        &deps(&kms),
        &auth,
        iaca_body("acme.t1.kms.iaca", "iaca"),
    )
    .await
    .unwrap_err();
    assert_eq!((e.status, e.id), (409, "DuplicateTarget"));
    assert_eq!(repo.item_counts().await, before, "nothing written");
    assert!(repo.get(&t("acme.t1.store1.iaca")).await.unwrap().is_none());
}

#[tokio::test]
async fn a_store_removed_during_issuance_writes_nothing_to_the_others() {
    let (repo, kms) = world().await;
    // store2 (empty) is deleted by someone else after the issuance read its dependencies.
    let gone = vec![
        Op::Delete {
            id: t("acme.t1.store2"),
            children: 0,
            dependants: 1,
            version: Some(1),
        },
        Op::Count {
            id: t("acme.t1"),
            children: -1,
            dependants: 0,
        },
    ];
    let raced = Raced::new(&repo, gone);
    let auth = admin::<act::IacaIssue>(X509);
    let e = issuance::issue_iaca(
        &raced,
        &deps(&kms),
        &auth,
        iaca_body("acme.t1.kms.iaca", "iaca"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 409);
    assert!(e.message.contains("removed concurrently"), "{}", e.message);
    assert!(repo.get(&t("acme.t1.store1.iaca")).await.unwrap().is_none());
}

#[tokio::test]
async fn the_signing_key_must_live_in_an_attached_kms_service() {
    let (repo, kms) = world().await;
    // acme.t1.kms is attached, acme.t1.other is not: its key may not sign.
    assert_eq!(iaca(&repo, &kms, "acme.t1.other.k", "x").await, Err(400));
    assert_eq!(iaca(&repo, &kms, "acme.t1.kms.nokey", "x").await, Err(400));
    assert_eq!(kms.signs.load(Ordering::SeqCst), 0, "nothing was signed");
    iaca(&repo, &kms, "acme.t1.kms.iaca", "iaca").await.unwrap();
    // The Document Signer's key too, even with another kms service attached.
    let auth = admin::<act::DocumentSignerIssue>(X509);
    let d = deps(&kms);
    let ds = |iaca_key: &'static str, ds_key: &'static str| {
        issuance::issue_document_signer(&repo, &d, &auth, ds_body(iaca_key, ds_key))
    };
    assert_eq!(
        ds("acme.t1.kms.iaca", "acme.t1.other.k")
            .await
            .unwrap_err()
            .status,
        400
    );
    // The IACA key must be the IACA certificate's key.
    let e = ds("acme.t1.kms.ds", "acme.t1.kms.ds").await.unwrap_err();
    assert!(
        e.message.contains("not the IACA certificate's key"),
        "{}",
        e.message
    );
    let out = ds("acme.t1.kms.iaca", "acme.t1.kms.ds")
        .await
        .unwrap()
        .body
        .unwrap();
    let ds_pem = out["certificatePEM"].as_str().unwrap();
    let ds_der = trustfn_x509::pem::decode_one_certificate(ds_pem).unwrap();
    let iaca_key = load_as::<KeyDoc>(&repo, &t("acme.t1.kms.iaca"))
        .await
        .unwrap();
    trustfn_x509::parse::verify_signed_by(&ds_der, &iaca_key.doc.public_key)
        .expect("the DS is signed by the IACA key");
    let ds_rec: Record = repo.get(&t("acme.t1.store2.ds")).await.unwrap().unwrap();
    assert!(ds_rec.get::<Certificate>().is_some());
}

#[tokio::test]
async fn a_kms_outage_is_a_clean_5xx_and_writes_nothing() {
    let (repo, kms) = world().await;
    kms.down.store(true, Ordering::SeqCst);
    let before = repo.item_counts().await;
    let status = iaca(&repo, &kms, "acme.t1.kms.iaca", "iaca")
        .await
        .unwrap_err();
    assert!(status >= 500, "{status}");
    assert_eq!(repo.item_counts().await, before);
}

#[tokio::test]
async fn keys_and_stores_named_in_the_request_need_their_own_rights() {
    let (repo, kms) = world().await;
    let issue = |p: Principal| {
        let (repo, kms) = (&repo, &kms);
        async move {
            let auth = p.authorize::<act::IacaIssue>(&t(X509))?;
            issuance::issue_iaca(
                repo,
                &deps(kms),
                &auth,
                iaca_body("acme.t1.kms.iaca", "iaca"),
            )
            .await
        }
    };
    let before = repo.item_counts().await;
    // Everything in the organization but the use of the kms service's keys.
    let no_key_use = api_key(&[
        ("acme", "all", Operation::Add),
        ("acme.t1.kms", "kms-key-use", Operation::Remove),
    ]);
    let e = issue(no_key_use).await.unwrap_err();
    assert_eq!(e.status, 403);
    assert!(e.message.contains("kms-key-use"), "{}", e.message);
    // Everything but writing into one of the attached stores.
    let no_store2 = api_key(&[
        ("acme", "all", Operation::Add),
        (
            "acme.t1.store2",
            "x509-store-certificate-add",
            Operation::Remove,
        ),
    ]);
    let e = issue(no_store2).await.unwrap_err();
    assert_eq!(e.status, 403);
    assert!(e.message.contains("acme.t1.store2"), "{}", e.message);
    assert_eq!(kms.signs.load(Ordering::SeqCst), 0, "nothing was signed");
    assert_eq!(repo.item_counts().await, before, "nothing was written");
    // Exactly the rights needed: issue on the service, use of the key, add to both stores.
    let least = api_key(&[
        (X509, "x509-iaca-issue", Operation::Add),
        ("acme.t1.kms.iaca", "kms-key-use", Operation::Add),
        (
            "acme.t1.store1",
            "x509-store-certificate-add",
            Operation::Add,
        ),
        (
            "acme.t1.store2",
            "x509-store-certificate-add",
            Operation::Add,
        ),
    ]);
    issue(least).await.unwrap();
    // A Document Signer also needs the right to read the stored IACA and to use the DS key.
    let no_ds_key = api_key(&[
        ("acme", "all", Operation::Add),
        ("acme.t1.kms.ds", "kms-key-use", Operation::Remove),
    ]);
    let auth = no_ds_key
        .authorize::<act::DocumentSignerIssue>(&t(X509))
        .unwrap();
    let e = issuance::issue_document_signer(
        &repo,
        &deps(&kms),
        &auth,
        ds_body("acme.t1.kms.iaca", "acme.t1.kms.ds"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 403);
    let no_read = api_key(&[
        ("acme", "all", Operation::Add),
        (
            "acme.t1.store1",
            "x509-store-certificate-view",
            Operation::Remove,
        ),
    ]);
    let auth = no_read
        .authorize::<act::DocumentSignerIssue>(&t(X509))
        .unwrap();
    let e = issuance::issue_document_signer(
        &repo,
        &deps(&kms),
        &auth,
        ds_body("acme.t1.kms.iaca", "acme.t1.kms.ds"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 403);
    assert_eq!(
        kms.signs.load(Ordering::SeqCst),
        1,
        "only the permitted IACA was signed"
    );
}

#[tokio::test]
async fn a_service_too_deep_for_its_records_is_refused_before_anything_is_signed() {
    // An x509-service 16 segments deep cannot hold an IACA's record (17 segments): the path is
    // checked before the KMS Sign, not after it.
    let (repo, kms) = world().await;
    let mut path = "acme.t1".to_owned();
    for i in 0..13 {
        path = format!("{path}.n{i}");
        let tenant = trustfn_domain::model::Tenant {
            name: format!("n{i}"),
            configuration: None,
        };
        seed(&repo, &path, tenant).await;
    }
    let deep = format!("{path}.x509");
    assert_eq!(deep.split('.').count(), 16);
    seed(&repo, &deep, Service::X509Service(Default::default())).await;
    attach(&repo, &deep, "acme.t1.kms").await;
    let e = issuance::issue_iaca(
        &repo,
        &deps(&kms),
        &admin::<act::IacaIssue>(&deep),
        iaca_body("acme.t1.kms.iaca", "deep"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 400, "{}", e.message);
    assert_eq!(kms.signs.load(Ordering::SeqCst), 0, "nothing was signed");
}
