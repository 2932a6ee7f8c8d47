//! The certificate lifecycle against the in-memory repository, a local-key KMS and a recording
//! registry: what is recorded at issuance, revocation, and the CRL each IACA signs (numbers,
//! entries, coalescing, fencing, the refresh).

use std::sync::atomic::Ordering;

use serde_json::{json, Value};
use trustfn_certs::crl_publication::{crl_object_key, publish_crl};
use trustfn_certs::issuance::{self, IssueDs, IssueIaca};
use trustfn_certs::revocation::{self, RevokeRequest};
use trustfn_domain::auth::act;
use trustfn_domain::model::{
    CrlState, CrlTarget, IssuedCertificate, KeyDoc, Record, SerialNumber, Service,
    X509ServiceConfig,
};
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::resource::load_as;
use trustfn_publish::Outcome;
use trustfn_publish::{Clock, PublishDeps, SystemClock};
use trustfn_signer::Curve;
use trustfn_testkit::MemoryRepo;
use trustfn_testkit::{
    admin, attach, registry_config, seed, seed_tenant, t, FakeKms, FakeSecrets, RecordingRegistry,
};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

const X509: &str = "acme.t1.x509";

struct World {
    repo: MemoryRepo,
    kms: FakeKms,
    registry: RecordingRegistry,
}

impl World {
    /// An x509-service publishing CRLs (7 days) to a recording registry, with kms `acme.t1.kms`
    /// (keys `iaca`, `ds`) attached.
    async fn new(with_target: bool) -> World {
        let w = World {
            repo: MemoryRepo::new(),
            kms: FakeKms::default(),
            registry: RecordingRegistry::default(),
        };
        seed_tenant(&w.repo, "acme.t1").await;
        seed(&w.repo, "acme.t1.kms", Service::Kms(Default::default())).await;
        let crl = with_target.then(|| CrlTarget {
            registry: registry_config(),
            validity_days: 7,
        });
        let config = X509ServiceConfig {
            crl,
            extra: Default::default(),
        };
        seed(&w.repo, X509, Service::X509Service(config)).await;
        attach(&w.repo, X509, "acme.t1.kms").await;
        for k in ["acme.t1.kms.iaca", "acme.t1.kms.ds"] {
            let (arn, public) = w.kms.add_key(Curve::P256);
            let doc = KeyDoc {
                key_type: Curve::P256,
                public_key: public,
                kms_key_arn: trustfn_domain::model::KeyArn::parse(&arn).unwrap(),
                imported: false,
            };
            seed(&w.repo, k, doc).await;
        }
        w
    }

    /// Removes a record without its use cases, as if it had never been written (a certificate
    /// issued before records existed, or a service deleted and created again).
    async fn forget(&self, id: &trustfn_domain::Target, parent: &trustfn_domain::Target) {
        let mut ops = Vec::new();
        for to in self.repo.dependencies(id).await.unwrap() {
            ops.push(Op::RemoveEdge {
                from: id.clone(),
                to: to.clone(),
            });
            ops.push(Op::Count {
                id: to,
                children: 0,
                dependants: -1,
            });
        }
        ops.extend([
            Op::Delete {
                id: id.clone(),
                children: 0,
                dependants: 0,
                version: None,
            },
            Op::Count {
                id: parent.clone(),
                children: -1,
                dependants: 0,
            },
        ]);
        self.repo.commit(ops).await.unwrap();
    }

    /// Once a held upload waits, changes the CRL state of the IACA recorded at `id` behind its
    /// publisher's back (another publisher, a revocation), then lets the upload go on.
    async fn behind_the_upload(
        &self,
        id: &trustfn_domain::Target,
        change: impl FnOnce(&mut CrlState),
    ) {
        while self.registry.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let mut rec = load_as::<IssuedCertificate>(&self.repo, id).await.unwrap();
        let v = rec.version;
        change(rec.doc.crl.as_mut().unwrap());
        let op = Op::Replace {
            record: rec.upcast(),
            expected_version: v,
            children_delta: 0,
        };
        self.repo.commit(vec![op]).await.unwrap();
        self.registry.release();
    }

    /// The CRL state of the IACA recorded at `id`.
    async fn crl_state(&self, id: &trustfn_domain::Target) -> CrlState {
        load_as::<IssuedCertificate>(&self.repo, id)
            .await
            .unwrap()
            .doc
            .crl
            .unwrap()
    }

    fn deps(&self) -> PublishDeps<'_> {
        PublishDeps {
            kms: &self.kms,
            secrets: &FakeSecrets,
            registries: &self.registry,
            clock: &SystemClock,
            deadline_ms: SystemClock.now_ms() + 25_000,
        }
    }

    async fn iaca(&self) -> Value {
        let body: IssueIaca = serde_json::from_value(json!({
            "certificateData": {"country": "US", "commonName": "IACA", "issuerAlternativeNameConf": {"uri": "https://x.example"}},
            "iacaKeyDesc": {"type": "kms-hosted-key-descriptor", "keyIdPath": "acme.t1.kms.iaca"}}))
        .unwrap();
        issuance::issue_iaca(
            &self.repo,
            &self.deps(),
            &admin::<act::IacaIssue>(X509),
            body,
        )
        .await
        .unwrap()
        .body
        .unwrap()
    }

    async fn ds(&self, iaca_pem: &str) -> Result<Value, trustfn_domain::ApiError> {
        let body: IssueDs = serde_json::from_value(json!({
            "iacaSigner": {"type": "iaca-pem-cert-descriptor", "iacaPemEncodedCertificate": iaca_pem,
                           "iacaKeyDesc": {"type": "kms-hosted-key-descriptor", "keyIdPath": "acme.t1.kms.iaca"}},
            "certificateData": {"country": "US", "commonName": "DS"},
            "dsKeyDescriptor": {"type": "kms-hosted-key-descriptor", "keyIdPath": "acme.t1.kms.ds"}}))
        .unwrap();
        let auth = admin::<act::DocumentSignerIssue>(X509);
        issuance::issue_document_signer(&self.repo, &self.deps(), &auth, body)
            .await
            .map(|r| r.body.unwrap())
    }

    async fn revoke(&self, serial: &str) -> Result<Value, trustfn_domain::ApiError> {
        let body: RevokeRequest =
            serde_json::from_value(json!({"serialNumber": serial, "reason": "keyCompromise"}))
                .unwrap();
        let auth = admin::<act::CertificateRevoke>(X509);
        revocation::revoke(&self.repo, &self.deps(), &auth, body)
            .await
            .map(|r| r.body.unwrap())
    }

    /// The IACA's recorded CRLs, oldest first, as (number, revoked serials).
    fn crls(&self, iaca_serial: &str) -> Vec<(u64, Vec<String>)> {
        let key = crl_object_key(&t(X509), &SerialNumber::parse(iaca_serial).unwrap());
        self.registry
            .bodies(&key)
            .iter()
            .map(|der| {
                let (_, crl) = CertificateRevocationList::from_der(der).unwrap();
                let number = crl.crl_number().unwrap().to_u64_digits()[0];
                let serials = crl
                    .iter_revoked_certificates()
                    .map(|r| r.raw_serial().iter().map(|b| format!("{b:02x}")).collect())
                    .collect();
                (number, serials)
            })
            .collect()
    }
}

fn serial_of(pem: &str) -> String {
    let der = trustfn_x509::pem::decode_one_certificate(pem).unwrap();
    SerialNumber::from_bytes(&trustfn_x509::parse::facts(&der).unwrap().serial).to_string()
}

#[tokio::test]
async fn each_revocation_publishes_a_crl_with_a_new_number_and_repeats_change_nothing() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let iaca_serial = serial_of(iaca["certificatePEM"].as_str().unwrap());
    assert_eq!(iaca["crlPublished"], json!(true));
    // Day one: an empty CRL.
    let crls = w.crls(&iaca_serial);
    assert_eq!(crls.len(), 1);
    assert!(crls[0].1.is_empty());
    let first = crls[0].0;
    let a = w
        .ds(iaca["certificatePEM"].as_str().unwrap())
        .await
        .unwrap();
    let b = w
        .ds(iaca["certificatePEM"].as_str().unwrap())
        .await
        .unwrap();
    let (a, b) = (
        serial_of(a["certificatePEM"].as_str().unwrap()),
        serial_of(b["certificatePEM"].as_str().unwrap()),
    );
    let out = w.revoke(&a).await.unwrap();
    assert_eq!(out["crlPublished"], json!(true));
    assert_eq!(out["state"], json!("revoked"));
    let second = w.crls(&iaca_serial)[1].clone();
    assert!(second.0 > first);
    assert_eq!(second.1, vec![a.clone()]);
    // The same revocation again (serial in upper case with colons): nothing new is signed.
    let signs = w.kms.signs.load(Ordering::SeqCst);
    let colons: String = a
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let again = w.revoke(&colons).await.unwrap();
    assert_eq!(again["revocation"], out["revocation"]);
    assert_eq!(w.kms.signs.load(Ordering::SeqCst), signs);
    assert_eq!(w.crls(&iaca_serial).len(), 2);
    // B: both serials, number 3.
    w.revoke(&b).await.unwrap();
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    let (n, mut got) = w.crls(&iaca_serial)[2].clone();
    got.sort();
    assert!(n > second.0);
    assert_eq!(got, both);
    // The IACA itself is refused; an unknown serial is 404.
    assert_eq!(w.revoke(&iaca_serial).await.unwrap_err().status, 400);
    assert_eq!(w.revoke(&"4a".repeat(20)).await.unwrap_err().status, 404);
}

#[tokio::test]
async fn a_failed_publish_keeps_the_revocation_and_never_reuses_a_number() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let pem = iaca["certificatePEM"].as_str().unwrap();
    let iaca_serial = serial_of(pem);
    let ds = serial_of(w.ds(pem).await.unwrap()["certificatePEM"].as_str().unwrap());
    let published = w.crls(&iaca_serial).last().unwrap().0;
    w.registry.fail.store(true, Ordering::SeqCst);
    let out = w.revoke(&ds).await.unwrap();
    assert_eq!(out["crlPublished"], json!(false), "{out}");
    assert!(out["crlPublishError"].is_string());
    let id = t(&format!("{X509}.{iaca_serial}"));
    let rec = load_as::<IssuedCertificate>(&w.repo, &id).await.unwrap();
    let crl = rec.doc.crl.clone().unwrap().publish;
    assert!(crl.last_error.is_some() && crl.lease.is_none());
    let failed = crl.number.unwrap();
    assert!(failed > published, "the failed attempt took a number");
    assert!(
        w.repo
            .due(crl.refresh_at.unwrap(), 10)
            .await
            .unwrap()
            .contains(&id),
        "the refresh retries it"
    );
    // The registry is back: the refresh publishes with a number above the failed attempt's.
    w.registry.fail.store(false, Ordering::SeqCst);
    let deps = w.deps();
    publish_crl(&w.repo, &deps, &rec.id, true).await.unwrap();
    let last = w.crls(&iaca_serial).last().unwrap().clone();
    assert!(last.0 > failed, "never reused");
    assert_eq!(last.1, vec![ds]);
    let crl = w.crl_state(&id).await.publish;
    assert!(crl.last_error.is_none());
    // Next due at half its validity (7 days).
    let half = crl.refresh_at.unwrap() - chrono::Utc::now().timestamp();
    assert!(
        (3 * 86_400..=(3 * 86_400 + 43_200 + 5)).contains(&half),
        "{half}"
    );
}

#[tokio::test]
async fn a_publisher_holding_the_lease_publishes_what_others_revoke_meanwhile() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let pem = iaca["certificatePEM"].as_str().unwrap().to_owned();
    let iaca_serial = serial_of(&pem);
    let ds = serial_of(
        w.ds(&pem).await.unwrap()["certificatePEM"]
            .as_str()
            .unwrap(),
    );
    let id = t(&format!("{X509}.{iaca_serial}"));
    // A publisher takes the lease and stalls in its upload.
    w.registry.hold_next(1);
    let deps = w.deps();
    let stalled = publish_crl(&w.repo, &deps, &id, true);
    // The revocation finds the lease held: it is coalesced into the holder's next round, and
    // answers once the holder has published it.
    let revoke = async {
        while w.registry.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        w.revoke(&ds).await.unwrap()
    };
    let ds_id = t(&format!("{X509}.{iaca_serial}.{ds}"));
    let release = async {
        loop {
            let rec = load_as::<IssuedCertificate>(&w.repo, &ds_id).await.unwrap();
            if rec.doc.revocation.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        w.registry.release();
    };
    let (published, out, ()) = tokio::join!(stalled, revoke, release);
    assert_eq!(published.unwrap(), Outcome::Published);
    assert_eq!(out["state"], json!("revoked"));
    assert_eq!(out["crlPublished"], json!(true), "{out}");
    let last = w.crls(&iaca_serial).last().unwrap().clone();
    assert_eq!(last.1, vec![ds], "the holder published the revocation");
    let crl = w.crl_state(&id).await.publish;
    assert!(crl.published_revision >= crl.revision);
    // Numbers only ever grew.
    let numbers: Vec<u64> = w.crls(&iaca_serial).iter().map(|c| c.0).collect();
    assert!(numbers.windows(2).all(|p| p[0] < p[1]), "{numbers:?}");
}

#[tokio::test]
async fn a_publisher_that_lost_its_lease_records_nothing_and_forces_a_republish() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let iaca_serial = serial_of(iaca["certificatePEM"].as_str().unwrap());
    let id = t(&format!("{X509}.{iaca_serial}"));
    // A's upload stalls; meanwhile its lease is taken over by B (as after it expired).
    w.registry.hold_next(1);
    let deps = w.deps();
    let a = publish_crl(&w.repo, &deps, &id, true);
    let takeover = w.behind_the_upload(&id, |crl| {
        crl.publish.lease.as_mut().unwrap().owner = "B".into()
    });
    let (a, ()) = tokio::join!(a, takeover);
    // A found itself fenced and went on while B's (fake) lease holds: B publishes.
    assert_eq!(a.unwrap(), Outcome::Coalesced);
    let crl = w.crl_state(&id).await.publish;
    assert_eq!(crl.lease.unwrap().owner, "B", "B's lease stays B's");
    let first = w.crls(&iaca_serial)[0].0;
    assert_eq!(
        crl.published_number,
        Some(first),
        "A's outcome is not recorded"
    );
    assert!(
        crl.published_revision < crl.revision,
        "whoever publishes next publishes again"
    );
}

#[tokio::test]
async fn without_a_target_revocations_are_recorded_and_nothing_is_published() {
    let w = World::new(false).await;
    let iaca = w.iaca().await;
    assert!(iaca.get("crlPublished").is_none());
    let pem = iaca["certificatePEM"].as_str().unwrap();
    // No target: the distribution point is required.
    assert_eq!(w.ds(pem).await.unwrap_err().status, 400);
    let iaca_serial = serial_of(pem);
    let id = t(&format!("{X509}.{iaca_serial}"));
    let rec = load_as::<IssuedCertificate>(&w.repo, &id).await.unwrap();
    assert!(Record::refresh_at(&rec.clone().upcast()).is_none());
    assert_eq!(
        publish_crl(&w.repo, &w.deps(), &id, true).await.unwrap(),
        Outcome::Inactive
    );
    assert!(w.registry.uploads.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_document_signer_under_an_iaca_issued_elsewhere_records_it_in_the_same_commit() {
    let w = World::new(true).await;
    let mine = w.iaca().await;
    let pem = mine["certificatePEM"].as_str().unwrap();
    let iaca_id = t(&format!("{X509}.{}", serial_of(pem)));
    // Forget the record, as for an IACA issued before issuance was recorded.
    let rec = w.repo.get(&iaca_id).await.unwrap().unwrap();
    w.forget(&iaca_id, &t(X509)).await;
    // KMS down: the Document Signer fails and records nothing (not even the IACA).
    let before = w.repo.item_counts().await;
    w.kms.down.store(true, Ordering::SeqCst);
    assert!(w.ds(pem).await.unwrap_err().status >= 500);
    assert_eq!(w.repo.item_counts().await, before);
    // KMS back: the IACA is recorded (adopted) with the Document Signer as its one child.
    w.kms.down.store(false, Ordering::SeqCst);
    w.ds(pem).await.unwrap();
    let adopted = w.repo.get(&iaca_id).await.unwrap().unwrap();
    assert_eq!(adopted.children, 1);
    assert!(adopted.get::<IssuedCertificate>().unwrap().adopted);
    assert_eq!(rec.id, adopted.id);
    assert_eq!(w.repo.get(&t(X509)).await.unwrap().unwrap().children, 1);
}

#[tokio::test]
async fn numbers_stay_above_those_of_a_record_that_was_lost() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let pem = iaca["certificatePEM"].as_str().unwrap().to_owned();
    let iaca_serial = serial_of(&pem);
    let id = t(&format!("{X509}.{iaca_serial}"));
    let before = w.crls(&iaca_serial)[0].0;
    // The service is deleted and created again under the same path: the IACA's record is gone,
    // and the next Document Signer records it afresh, publishing to the same URL.
    w.forget(&id, &t(X509)).await;
    w.ds(&pem).await.unwrap();
    let after = w.crls(&iaca_serial).last().unwrap().0;
    assert!(after > before, "{after} after {before}");
}

#[tokio::test]
async fn another_certificate_under_a_recorded_iacas_serial_is_refused() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let pem = iaca["certificatePEM"].as_str().unwrap();
    let bytes = SerialNumber::parse(&serial_of(pem)).unwrap().to_bytes();
    // The same key and serial, another subject: another certificate.
    let key = load_as::<KeyDoc>(&w.repo, &t("acme.t1.kms.iaca"))
        .await
        .unwrap()
        .doc;
    let signer =
        trustfn_domain::ports::KeyManager::signer(&w.kms, key.kms_key_arn.as_str(), key.public_key);
    let data: trustfn_x509::IacaData = serde_json::from_value(json!({
        "country": "US", "commonName": "Impostor", "issuerAlternativeNameConf": {"uri": "https://y.example"}}))
    .unwrap();
    let twin = data
        .issue_with_serial(&bytes, signer.as_ref())
        .await
        .unwrap();
    let before = w.repo.item_counts().await;
    let e = w.ds(&twin.pem).await.unwrap_err();
    assert_eq!(e.status, 409, "{}", e.message);
    assert_eq!(w.repo.item_counts().await, before);
}

#[tokio::test]
async fn a_stored_certificate_issued_before_records_existed_can_be_revoked() {
    let w = World::new(true).await;
    seed(
        &w.repo,
        "acme.t1.store",
        Service::X509Store(Default::default()),
    )
    .await;
    attach(&w.repo, X509, "acme.t1.store").await;
    let iaca = w.iaca().await;
    let pem = iaca["certificatePEM"].as_str().unwrap().to_owned();
    let iaca_serial = serial_of(&pem);
    let out = w.ds(&pem).await.unwrap();
    let stored = out["storedCertificateIds"][0].as_str().unwrap().to_owned();
    let ds = serial_of(out["certificatePEM"].as_str().unwrap());
    // Forget the Document Signer's record, as for one issued before records existed.
    let ds_id = t(&format!("{X509}.{iaca_serial}.{ds}"));
    let iaca_id = t(&format!("{X509}.{iaca_serial}"));
    w.forget(&ds_id, &iaca_id).await;
    // By serial it is unknown; by its stored copy it verifies under the IACA and is revoked.
    assert_eq!(w.revoke(&ds).await.unwrap_err().status, 404);
    let body: RevokeRequest =
        serde_json::from_value(json!({"storedCertificatePath": stored})).unwrap();
    let auth = admin::<act::CertificateRevoke>(X509);
    let out = revocation::revoke(&w.repo, &w.deps(), &auth, body)
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!(out["state"], json!("revoked"));
    assert_eq!(out["adopted"], json!(true));
    assert_eq!(out["profile"], json!("document-signer"));
    assert_eq!(w.crls(&iaca_serial).last().unwrap().1, vec![ds]);
    assert_eq!(w.repo.get(&iaca_id).await.unwrap().unwrap().children, 1);
}

#[tokio::test]
async fn issued_records_are_removed_only_with_their_service() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let pem = iaca["certificatePEM"].as_str().unwrap();
    let iaca_serial = serial_of(pem);
    let ds = serial_of(w.ds(pem).await.unwrap()["certificatePEM"].as_str().unwrap());
    w.revoke(&ds).await.unwrap();
    for (path, recursive) in [
        (format!("{X509}.{iaca_serial}.{ds}"), false),
        (format!("{X509}.{iaca_serial}"), true),
    ] {
        let auth = admin::<act::ResourceDelete>(&path);
        let e = trustfn_tree::delete::delete(&w.repo, &auth, recursive)
            .await
            .unwrap_err();
        assert_eq!(e.status, 409, "{path}: {}", e.message);
        assert!(e.message.contains("certificates/revoke"), "{}", e.message);
    }
    // With the service, everything goes.
    let auth = admin::<act::ResourceDelete>(X509);
    trustfn_tree::delete::delete(&w.repo, &auth, true)
        .await
        .unwrap();
    assert!(w.repo.get(&t(X509)).await.unwrap().is_none());
}

#[tokio::test]
async fn a_revocation_recorded_during_a_publish_stays_due_if_the_publisher_dies() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let iaca_serial = serial_of(iaca["certificatePEM"].as_str().unwrap());
    let id = t(&format!("{X509}.{iaca_serial}"));
    // The publisher dies taking the lease for its second round (after publishing the first).
    let dies = trustfn_testkit::FailOnce::new(&w.repo, |ops| {
        matches!(ops, [Op::Replace { record, .. }] if record
            .get::<IssuedCertificate>()
            .and_then(|c| c.crl.as_ref())
            .is_some_and(|c| c.publish.revision == 1 && c.publish.lease.is_some()))
    });
    w.registry.hold_next(1);
    let deps = w.deps();
    let publisher = publish_crl(&dies, &deps, &id, true);
    // A revocation recorded while the upload runs (its own publish is left to the holder).
    let revocation = w.behind_the_upload(&id, |crl| crl.publish.revision += 1);
    let (died, ()) = tokio::join!(publisher, revocation);
    assert!(died.is_err(), "the second round died");
    let crl = w.crl_state(&id).await.publish;
    assert!(crl.published_revision < crl.revision);
    let due_in = crl.refresh_at.unwrap() - chrono::Utc::now().timestamp();
    assert!(
        due_in <= trustfn_publish::grace_secs(),
        "the unpublished revocation is due within the grace period, not at half the CRL's validity ({due_in} s)"
    );
}

#[tokio::test]
async fn a_service_deleted_and_created_again_keeps_every_published_revocation() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let pem = iaca["certificatePEM"].as_str().unwrap().to_owned();
    let iaca_serial = serial_of(&pem);
    let mut revoked = Vec::new();
    for _ in 0..5 {
        let ds = serial_of(
            w.ds(&pem).await.unwrap()["certificatePEM"]
                .as_str()
                .unwrap(),
        );
        w.revoke(&ds).await.unwrap();
        revoked.push(ds);
    }
    revoked.sort();
    let before = w.crls(&iaca_serial).last().unwrap().clone();
    assert_eq!(before.1, revoked);
    // delete-recursive the x509-service, then create it again at the same path with the same
    // CRL target: every issued-certificate record is gone.
    let auth = admin::<act::ResourceDelete>(X509);
    trustfn_tree::delete::delete(&w.repo, &auth, true)
        .await
        .unwrap();
    let config = X509ServiceConfig {
        crl: Some(CrlTarget {
            registry: registry_config(),
            validity_days: 7,
        }),
        extra: Default::default(),
    };
    seed(&w.repo, X509, Service::X509Service(config)).await;
    attach(&w.repo, X509, "acme.t1.kms").await;
    // One Document Signer under the stored IACA records the IACA afresh; its CRL, published to
    // the same URL, still lists every revocation, with a number above the last one.
    let fresh = serial_of(
        w.ds(&pem).await.unwrap()["certificatePEM"]
            .as_str()
            .unwrap(),
    );
    let after = w.crls(&iaca_serial).last().unwrap().clone();
    assert_eq!(after.1, revoked, "no revocation was rolled back");
    assert!(after.0 > before.0, "{} after {}", after.0, before.0);
    // The table knows them again: by serial they are revoked (idempotently), listed as revoked,
    // and the next CRL (revoking the fresh one) keeps them.
    let again = w.revoke(&revoked[0]).await.unwrap();
    assert_eq!(again["state"], json!("revoked"));
    assert_eq!(again["profile"], json!("unknown"));
    w.revoke(&fresh).await.unwrap();
    let mut all = revoked.clone();
    all.push(fresh);
    all.sort();
    assert_eq!(w.crls(&iaca_serial).last().unwrap().1, all);
}

#[tokio::test]
async fn a_crl_in_the_registry_that_does_not_verify_is_never_overwritten() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let pem = iaca["certificatePEM"].as_str().unwrap().to_owned();
    let iaca_serial = serial_of(&pem);
    let ds = serial_of(
        w.ds(&pem).await.unwrap()["certificatePEM"]
            .as_str()
            .unwrap(),
    );
    // Something else is written at the CRL's URL behind the table's back.
    let key = crl_object_key(&t(X509), &SerialNumber::parse(&iaca_serial).unwrap());
    w.registry.write_behind(&key, b"not a CRL".to_vec());
    let out = w.revoke(&ds).await.unwrap();
    assert_eq!(out["crlPublished"], json!(false), "{out}");
    assert!(
        out["crlPublishError"]
            .as_str()
            .unwrap()
            .contains("left as it is"),
        "{out}"
    );
    assert_eq!(w.registry.current(&key).unwrap(), b"not a CRL");
    let id = t(&format!("{X509}.{iaca_serial}"));
    let st = w.crl_state(&id).await.publish;
    assert_eq!(st.failures, 1);
    assert!(st.behind(), "the revocation stays due");
}

#[tokio::test]
async fn the_key_of_a_recorded_iaca_cannot_be_deleted() {
    let w = World::new(true).await;
    w.iaca().await;
    for recursive in [false, true] {
        let auth = admin::<act::ResourceDelete>("acme.t1.kms.iaca");
        let e = trustfn_tree::delete::delete(&w.repo, &auth, recursive)
            .await
            .unwrap_err();
        assert_eq!(e.status, 409, "{}", e.message);
        assert!(e.message.contains("IACA"), "{}", e.message);
    }
    // Deleting the whole kms service is refused too (an IACA outside it signs with its key).
    let auth = admin::<act::ResourceDelete>("acme.t1.kms");
    assert_eq!(
        trustfn_tree::delete::delete(&w.repo, &auth, true)
            .await
            .unwrap_err()
            .status,
        409
    );
    assert!(w.repo.get(&t("acme.t1.kms.iaca")).await.unwrap().is_some());
    // With the x509-service, its IACA records and their edges go; then the key may go.
    trustfn_tree::delete::delete(&w.repo, &admin::<act::ResourceDelete>(X509), true)
        .await
        .unwrap();
    trustfn_tree::delete::delete(
        &w.repo,
        &admin::<act::ResourceDelete>("acme.t1.kms.iaca"),
        false,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_kms_dependency_of_a_recorded_iaca_stays() {
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let iaca_id = format!(
        "{X509}.{}",
        serial_of(iaca["certificatePEM"].as_str().unwrap())
    );
    let auth = admin::<act::DependencyRemove>(X509);
    let e = trustfn_tree::dependencies::dependency_remove(
        &w.repo,
        &auth,
        "x509-service-api",
        "acme.t1.kms",
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 409, "{}", e.message);
    assert!(e.message.contains(&iaca_id), "{}", e.message);
    assert_eq!(
        w.repo.dependencies(&t(X509)).await.unwrap(),
        vec![t("acme.t1.kms")]
    );
}

#[tokio::test]
async fn a_crl_is_built_from_the_revoked_set_not_from_every_certificate_issued() {
    // Each publish read every issued record of the IACA (PEMs included): O(issued) per CRL.
    let w = World::new(true).await;
    let iaca = w.iaca().await;
    let pem = iaca["certificatePEM"].as_str().unwrap();
    let iaca_serial = serial_of(pem);
    let iaca_id = t(&format!("{X509}.{iaca_serial}"));
    let mut serials = Vec::new();
    for _ in 0..12 {
        serials.push(serial_of(
            w.ds(pem).await.unwrap()["certificatePEM"].as_str().unwrap(),
        ));
    }
    w.revoke(&serials[3]).await.unwrap();
    let before = w.repo.children_reads(&iaca_id).await;
    w.revoke(&serials[7]).await.unwrap();
    let outcome = publish_crl(&w.repo, &w.deps(), &iaca_id, true)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Published), "{outcome:?}");
    assert_eq!(
        w.repo.children_reads(&iaca_id).await,
        before,
        "a CRL build read the IACA's issued records"
    );
    let mut want = vec![serials[3].clone(), serials[7].clone()];
    want.sort();
    let (_, mut got) = w.crls(&iaca_serial).last().unwrap().clone();
    got.sort();
    assert_eq!(got, want);
    let set: Vec<String> = w
        .repo
        .revoked(&iaca_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.serial)
        .collect();
    assert_eq!(set, want);

    // An IACA that recorded revocations before the set existed: read from its records.
    let mut rec = load_as::<IssuedCertificate>(&w.repo, &iaca_id)
        .await
        .unwrap();
    let v = rec.version;
    rec.doc.crl.as_mut().unwrap().revoked_set = false;
    let ops = vec![
        Op::Replace {
            record: rec.upcast(),
            expected_version: v,
            children_delta: 0,
        },
        Op::DropRevoked {
            iaca: iaca_id.clone(),
            serial: serials[3].clone(),
        },
    ];
    w.repo.commit(ops).await.unwrap();
    publish_crl(&w.repo, &w.deps(), &iaca_id, true)
        .await
        .unwrap();
    let (_, mut got) = w.crls(&iaca_serial).last().unwrap().clone();
    got.sort();
    assert_eq!(got, want, "a revocation without a set entry was left out");

    // The set goes with the service.
    trustfn_tree::delete::delete(&w.repo, &admin::<act::ResourceDelete>(X509), true)
        .await
        .unwrap();
    assert!(w.repo.revoked(&iaca_id).await.unwrap().is_empty());
}
