//! Key use cases against the in-memory repository and a local-key KMS: where keys may be made,
//! what import checks, and which KMS keys a delete retires.

use trustfn_domain::auth::act;
use trustfn_domain::model::{KeyDoc, Service};
use trustfn_domain::repo::Repository;
use trustfn_domain::resource::load_as;
use trustfn_keys::{delete, generate, import_aws, list, retire, view, ImportAwsKey};
use trustfn_signer::Curve;
use trustfn_testkit::MemoryRepo;
use trustfn_testkit::{admin, seed, seed_tenant, t, CommitsFail, FakeKms};

async fn world() -> (MemoryRepo, FakeKms) {
    let repo = MemoryRepo::new();
    seed_tenant(&repo, "acme.t1").await;
    seed(&repo, "acme.t1.kms", Service::Kms(Default::default())).await;
    seed(
        &repo,
        "acme.t1.store",
        Service::X509Store(Default::default()),
    )
    .await;
    (repo, FakeKms::default())
}

fn gen(key_type: &str) -> serde_json::Value {
    serde_json::json!({"keyType": key_type})
}

#[tokio::test]
async fn generated_keys_are_retired_on_delete_and_adopted_ones_never() {
    let (repo, kms) = world().await;
    generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("acme.t1.kms.gen"),
        gen("secp256r1"),
    )
    .await
    .unwrap();
    let (arn, _) = kms.add_adoptable_key(Curve::P384, "acme.t1");
    let body = ImportAwsKey {
        key_arn: arn.clone(),
    };
    import_aws(
        &repo,
        &kms,
        &admin::<act::KeyImport>("acme.t1.kms.adopted"),
        body,
    )
    .await
    .unwrap();
    let adopted = load_as::<KeyDoc>(&repo, &t("acme.t1.kms.adopted"))
        .await
        .unwrap();
    assert!(adopted.doc.imported);
    assert_eq!(adopted.doc.key_type, Curve::P384);
    let generated = load_as::<KeyDoc>(&repo, &t("acme.t1.kms.gen"))
        .await
        .unwrap();
    delete(&repo, &kms, &admin::<act::KeyDelete>("acme.t1.kms.adopted"))
        .await
        .unwrap();
    assert!(
        kms.scheduled.lock().unwrap().is_empty(),
        "an adopted key is never deleted"
    );
    delete(&repo, &kms, &admin::<act::KeyDelete>("acme.t1.kms.gen"))
        .await
        .unwrap();
    assert_eq!(
        *kms.scheduled.lock().unwrap(),
        vec![generated.doc.kms_key_arn.to_string()]
    );
    assert!(repo.get(&t("acme.t1.kms.gen")).await.unwrap().is_none());
    assert_eq!(
        repo.get(&t("acme.t1.kms")).await.unwrap().unwrap().children,
        0
    );
    // After a resource delete, only generated keys are retired.
    let removed = vec![generated.clone().upcast(), adopted.clone().upcast()];
    kms.scheduled.lock().unwrap().clear();
    retire(&kms, &removed).await;
    assert_eq!(
        *kms.scheduled.lock().unwrap(),
        vec![generated.doc.kms_key_arn.to_string()]
    );
}

#[tokio::test]
async fn keys_live_only_in_kms_services_and_bad_requests_create_nothing() {
    let (repo, kms) = world().await;
    let before = repo.item_counts().await;
    let e = generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("acme.t1.store.k"),
        gen("secp256r1"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 400);
    let e = generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("acme.t1.kms.k"),
        gen("rsa2048"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 400);
    let e = import_aws(
        &repo,
        &kms,
        &admin::<act::KeyImport>("acme.t1.kms.k"),
        ImportAwsKey {
            key_arn: "not-an-arn".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 400);
    let e = import_aws(
        &repo,
        &kms,
        &admin::<act::KeyImport>("acme.t1.kms.k"),
        ImportAwsKey {
            key_arn: "arn:aws:kms:us-east-1:111122223333:key/missing".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 400);
    assert_eq!(repo.item_counts().await, before);
    assert!(kms.scheduled.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_key_whose_record_cannot_be_written_is_retired_in_kms() {
    let (repo, kms) = world().await;
    let auth = admin::<act::KeyGenerate>("acme.t1.kms.k");
    let e = generate(&CommitsFail(&repo), &kms, &auth, gen("secp256r1"))
        .await
        .unwrap_err();
    assert_eq!(e.status, 503);
    assert_eq!(
        kms.scheduled.lock().unwrap().len(),
        1,
        "the new KMS key is retired"
    );
    assert!(repo.get(&t("acme.t1.kms.k")).await.unwrap().is_none());
    // The same id twice: the second is refused before KMS is asked for a key.
    generate(&repo, &kms, &auth, gen("secp256r1"))
        .await
        .unwrap();
    let retired_before = kms.scheduled.lock().unwrap().len();
    assert_eq!(
        generate(&repo, &kms, &auth, gen("secp256r1"))
            .await
            .unwrap_err()
            .status,
        409
    );
    assert_eq!(kms.scheduled.lock().unwrap().len(), retired_before);
}

fn import(arn: &str) -> ImportAwsKey {
    ImportAwsKey {
        key_arn: arn.to_owned(),
    }
}

/// The one refusal every non-adoptable key gets.
const REFUSED: &str = "keyArn: this key cannot be adopted here";

async fn refusal(repo: &MemoryRepo, kms: &FakeKms, target: &str, arn: &str) -> String {
    let e = import_aws(repo, kms, &admin::<act::KeyImport>(target), import(arn))
        .await
        .unwrap_err();
    assert_eq!((e.status, e.id), (400, "IllegalArgumentException"));
    e.message
}

#[tokio::test]
async fn import_adopts_only_enabled_signing_keys_named_by_a_kms_arn() {
    let (repo, kms) = world().await;
    let auth = admin::<act::KeyImport>("acme.t1.kms.k");
    let (arn, _) = kms.add_adoptable_key(Curve::P256, "acme.t1.kms.k");
    for bad in [
        "arn:aws:s3:::bucket/key/x",
        "arn:aws:kms:us-east-1:111122223333:alias/x",
        "kms:us-east-1:key/x",
        &format!("{arn}{}", "0".repeat(2048)),
    ] {
        let e = import_aws(&repo, &kms, &auth, import(bad))
            .await
            .unwrap_err();
        assert!(e.message.contains("KMS key ARN"), "{bad}: {}", e.message);
    }
    // Missing, not for signing, disabled: one answer, which tells none of these apart.
    let longest = format!("{arn}{}", "0".repeat(2048 - arn.len()));
    let missing = refusal(&repo, &kms, "acme.t1.kms.k", &longest).await;
    assert!(missing.starts_with(REFUSED), "{missing}");
    kms.not_signing.lock().unwrap().push(arn.clone());
    assert_eq!(refusal(&repo, &kms, "acme.t1.kms.k", &arn).await, missing);
    kms.not_signing.lock().unwrap().clear();
    kms.disabled.lock().unwrap().push(arn.clone());
    assert_eq!(refusal(&repo, &kms, "acme.t1.kms.k", &arn).await, missing);
    kms.disabled.lock().unwrap().clear();
    let out = import_aws(&repo, &kms, &auth, import(&format!(" {arn} ")))
        .await
        .unwrap();
    let v = out.body.unwrap();
    assert_eq!(
        (
            v["type"].as_str(),
            v["kmsKeyArn"].as_str(),
            v["imported"].as_bool()
        ),
        (Some("key"), Some(arn.as_str()), Some(true))
    );
}

#[tokio::test]
async fn a_key_is_adopted_only_where_its_administrator_granted_it_and_only_once() {
    let (repo, kms) = world().await;
    seed_tenant(&repo, "other.t1").await;
    seed(&repo, "other.t1.kms", Service::Kms(Default::default())).await;
    let t2 = trustfn_domain::model::Tenant {
        name: "acme.t2".into(),
        configuration: None,
    };
    seed(&repo, "acme.t2", t2).await;
    seed(&repo, "acme.t2.kms", Service::Kms(Default::default())).await;
    let missing = refusal(
        &repo,
        &kms,
        "acme.t1.kms.k",
        "arn:aws:kms:us-east-1:111122223333:key/none",
    )
    .await;
    // A key of the account nobody granted, a key granted to another organization or to a
    // sibling tenant, a grant that is a prefix of the path but not an ancestor, and a key
    // trustfn manages (another path's generated key): all the same refusal.
    let (untagged, _) = kms.add_key(Curve::P256);
    let (for_other, _) = kms.add_adoptable_key(Curve::P256, "other");
    let (for_sibling, _) = kms.add_adoptable_key(Curve::P256, "acme.t2");
    let (for_prefix, _) = kms.add_adoptable_key(Curve::P256, "acme.t");
    generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("other.t1.kms.iaca"),
        gen("secp256r1"),
    )
    .await
    .unwrap();
    let managed = load_as::<KeyDoc>(&repo, &t("other.t1.kms.iaca"))
        .await
        .unwrap()
        .doc
        .kms_key_arn
        .to_string();
    kms.tag(&managed, "trustfn:adopt-by", "acme");
    for arn in [&untagged, &for_other, &for_sibling, &for_prefix, &managed] {
        assert_eq!(
            refusal(&repo, &kms, "acme.t1.kms.k", arn).await,
            missing,
            "{arn}"
        );
    }
    assert!(repo.get(&t("acme.t1.kms.k")).await.unwrap().is_none());
    // Granted to an ancestor of the path: adopted, once.
    let (granted, _) = kms.add_adoptable_key(Curve::P256, "acme");
    import_aws(
        &repo,
        &kms,
        &admin::<act::KeyImport>("acme.t1.kms.k"),
        import(&granted),
    )
    .await
    .unwrap();
    assert_eq!(
        refusal(&repo, &kms, "acme.t2.kms.k", &granted).await,
        missing,
        "a key is adopted by one path at a time"
    );
    // Deleting the record gives the key back; it can then be adopted again.
    delete(&repo, &kms, &admin::<act::KeyDelete>("acme.t1.kms.k"))
        .await
        .unwrap();
    import_aws(
        &repo,
        &kms,
        &admin::<act::KeyImport>("acme.t2.kms.k"),
        import(&granted),
    )
    .await
    .unwrap();
    assert_eq!(
        repo.claim(&format!("kms-key:{granted}")).await,
        Some(t("acme.t2.kms.k"))
    );
    // A recursive delete of the service gives it back too.
    trustfn_tree::delete::delete(&repo, &admin::<act::ResourceDelete>("acme.t2.kms"), true)
        .await
        .unwrap();
    assert_eq!(repo.claim(&format!("kms-key:{granted}")).await, None);
}

#[tokio::test]
async fn generate_answers_the_key_and_takes_only_the_aws_backend() {
    let (repo, kms) = world().await;
    for backend in ["aws", "kms"] {
        let body = serde_json::json!({"keyType": "secp384r1", "backend": backend});
        let id = format!("acme.t1.kms.{backend}");
        let out = generate(&repo, &kms, &admin::<act::KeyGenerate>(&id), body)
            .await
            .unwrap();
        let v = out.body.unwrap();
        assert_eq!(v["_id"], id.as_str());
        assert_eq!(v["type"], "key");
        assert_eq!(v["keyType"], "secp384r1");
        assert_eq!(v["publicKey"]["crv"], "P-384");
        // walt.id's form of the key, beside ours: the public JWK.
        assert_eq!(
            v["key"],
            serde_json::json!({"type": "jwk", "jwk": v["publicKey"].clone()})
        );
    }
    let body = serde_json::json!({"keyType": "secp256r1", "backend": "jwk"});
    let e = generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("acme.t1.kms.j"),
        body,
    )
    .await
    .unwrap_err();
    assert!(
        e.message.contains("backend") && e.message.contains("keys/import/aws"),
        "{}",
        e.message
    );
    let e = generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("acme.t1.kms.ed"),
        gen("Ed25519"),
    )
    .await
    .unwrap_err();
    assert!(
        e.message.contains("secp256r1") && e.message.contains("Ed25519"),
        "{}",
        e.message
    );
    // A key is '<kms service>.<keyId>': the service itself is not a key id.
    let e = generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("acme.t1.kms"),
        gen("secp256r1"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.id, "InvalidTarget");
    let listed = list(
        &repo,
        &admin::<act::KeyList>("acme.t1.kms"),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(listed.body.unwrap().as_array().unwrap().len(), 2);
    let e = list(
        &repo,
        &admin::<act::KeyList>("acme.t1.store"),
        &Default::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status, 400);
    let shown = view(&repo, &admin::<act::KeyView>("acme.t1.kms.aws"))
        .await
        .unwrap();
    assert_eq!(
        shown.body.unwrap()["kmsKeyArn"]
            .as_str()
            .map(|a| a.starts_with("arn:")),
        Some(true)
    );
    assert_eq!(
        view(&repo, &admin::<act::KeyView>("acme.t1.store"))
            .await
            .unwrap_err()
            .status,
        400
    );
}

#[tokio::test]
async fn a_delete_whose_record_stays_cancels_the_kms_deletion() {
    let (repo, kms) = world().await;
    generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("acme.t1.kms.gen"),
        gen("secp256r1"),
    )
    .await
    .unwrap();
    let (arn, _) = kms.add_adoptable_key(Curve::P256, "acme.t1.kms.adopted");
    import_aws(
        &repo,
        &kms,
        &admin::<act::KeyImport>("acme.t1.kms.adopted"),
        import(&arn),
    )
    .await
    .unwrap();
    let down = CommitsFail(&repo);
    let e = delete(&down, &kms, &admin::<act::KeyDelete>("acme.t1.kms.gen"))
        .await
        .unwrap_err();
    assert_eq!(e.status, 503);
    let scheduled = kms.scheduled.lock().unwrap().clone();
    assert_eq!(scheduled.len(), 1);
    assert_eq!(
        *kms.cancelled.lock().unwrap(),
        scheduled,
        "the deletion is undone"
    );
    let e = delete(&down, &kms, &admin::<act::KeyDelete>("acme.t1.kms.adopted"))
        .await
        .unwrap_err();
    assert_eq!(e.status, 503);
    assert_eq!(
        kms.cancelled.lock().unwrap().len(),
        1,
        "an adopted key was never scheduled"
    );
    assert!(repo.get(&t("acme.t1.kms.gen")).await.unwrap().is_some());
}

#[tokio::test]
async fn a_stored_key_generation_default_lies_under_each_call() {
    let (repo, kms) = world().await;
    let mut cfg = serde_json::Map::new();
    cfg.insert(
        trustfn_domain::defaults::KEY_GENERATION_DEFAULTS.into(),
        serde_json::json!({"keyType": "secp384r1"}),
    );
    seed(&repo, "acme.t1.kms2", Service::Kms(cfg)).await;
    let out = generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("acme.t1.kms2.a"),
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(
        out.body.unwrap()["keyType"],
        "secp384r1",
        "the default's keyType"
    );
    let out = generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("acme.t1.kms2.b"),
        gen("secp256r1"),
    )
    .await
    .unwrap();
    assert_eq!(
        out.body.unwrap()["keyType"],
        "secp256r1",
        "the call's value wins"
    );
    // Without a default, keyType is required.
    let e = generate(
        &repo,
        &kms,
        &admin::<act::KeyGenerate>("acme.t1.kms.c"),
        serde_json::json!({}),
    )
    .await
    .unwrap_err();
    assert!(
        e.status == 400 && e.message.contains("keyType"),
        "{}",
        e.message
    );
}
