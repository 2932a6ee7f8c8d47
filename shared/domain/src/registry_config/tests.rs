//! The registry configuration's checks, one attack or rule at a time.

use super::*;
use serde_json::json;

fn local() -> RegistryPolicy {
    RegistryPolicy::from_settings("http://127.0.0.1:4566", "status-lists").unwrap()
}

#[test]
fn accepts_each_registry() {
    validate(
        Some(&json!({"type": "aws", "bucketName": "status-lists", "region": "eu-central-1"})),
        &local(),
    )
    .unwrap();
    validate(Some(&json!({"type": "aws", "bucketName": "status-lists", "region": "eu-central-1",
        "accessKeyId": "AKIA", "secretKey": "s", "endpointUrl": "http://127.0.0.1:4566", "bucketUrl": "https://cdn.example.com"})), &local()).unwrap();
    validate(Some(&json!({"type": "azure", "accountName": "acct", "containerName": "lists", "sasToken": "sv=x"})), &local()).unwrap();
    validate(Some(&json!({"type": "gcs", "bucketName": "lists", "serviceAccountKeyJson": {"type": "service_account",
        "token_uri": GOOGLE_TOKEN_URI}})), &local()).unwrap();
}

#[test]
fn names_that_would_steer_a_request_elsewhere_are_refused() {
    let base = |kind: &str| match kind {
        "aws" => json!({"type": "aws", "bucketName": "status-lists", "region": "eu-central-1",
                        "accessKeyId": "AKIA", "secretKey": "s"}),
        "azure" => json!({"type": "azure", "accountName": "acct", "containerName": "lists",
                          "sasToken": "sv=x"}),
        _ => json!({"type": "gcs", "bucketName": "lists"}),
    };
    let hostile = [
        ("azure", "accountName", "127.0.0.1:18443/x#"),
        ("azure", "accountName", "[::1]:18443/x#"),
        ("azure", "accountName", "evil.example.com?"),
        ("azure", "accountName", "Acct"),
        ("azure", "containerName", "lists/../../x"),
        ("azure", "containerName", "lists#x"),
        ("aws", "region", "x.127.0.0.1:9#"),
        ("aws", "region", "eu-central-1/x"),
        ("aws", "bucketName", "-lists"),
        ("gcs", "bucketName", "127.0.0.1:9/x#"),
        ("gcs", "bucketName", "lists?x"),
    ];
    for (kind, field, value) in hostile {
        let mut reg = base(kind);
        reg[field] = json!(value);
        let e = validate(Some(&reg), &local()).unwrap_err();
        assert!(
            e.message.starts_with(&format!("config.registry.{field}")),
            "{value}: {}",
            e.message
        );
        // A configuration stored before the rule is refused before any upload too.
        let parsed: RegistryConfig<String> = serde_json::from_value(reg.clone()).unwrap();
        assert_eq!(check_names(&parsed).unwrap_err().0, field, "{value}");
    }
}

#[test]
fn names_the_failing_field() {
    let cases = [
        (json!({"type": "aws", "region": "x"}), "bucketName"),
        (json!({"type": "aws", "bucketName": "ok-bucket"}), "region"),
        (
            json!({"type": "aws", "bucketName": "B", "region": "x"}),
            "bucketName",
        ),
        (
            json!({"type": "aws", "bucketName": "ok-bucket", "region": "x", "secretKey": "s"}),
            "accessKeyId",
        ),
        (
            json!({"type": "aws", "bucketName": "ok-bucket", "region": 5}),
            "region",
        ),
        (
            json!({"type": "aws", "bucketName": "ok-bucket", "region": "x", "bogus": "1"}),
            "bogus",
        ),
        (json!({"type": "ftp"}), "type"),
        (json!({"type": "in-memory"}), "emulators"),
        (
            json!({"type": "azure", "accountName": "acct", "containerName": "lists", "sasToken": "a", "accountKey": "b"}),
            "sasToken",
        ),
        (
            json!({"type": "gcs", "bucketName": "bkt", "endpointUrl": "ftp://x"}),
            "endpointUrl",
        ),
    ];
    for (reg, field) in cases {
        let e = validate(Some(&reg), &local()).unwrap_err();
        assert!(e.message.contains(field), "{reg} -> {}", e.message);
    }
    assert!(validate(None, &local()).is_err());
}

#[test]
fn endpoints_credentials_and_token_uris_are_the_deployments_choice() {
    let p = local();
    let refused = |reg: Value, field: &str| {
        let e = validate(Some(&reg), &p).unwrap_err();
        assert!(e.message.contains(field), "{reg} -> {}", e.message);
    };
    for ty in ["aws", "azure", "gcs"] {
        let base = match ty {
            "aws" => {
                json!({"type": "aws", "bucketName": "b-1", "region": "r", "accessKeyId": "A", "secretKey": "s"})
            }
            "azure" => {
                json!({"type": "azure", "accountName": "acct", "containerName": "c-1", "sasToken": "sv=1"})
            }
            _ => json!({"type": "gcs", "bucketName": "b-1"}),
        };
        for url in [
            "http://127.0.0.1:9",
            "https://169.254.169.254",
            "https://localhost",
            "http://127.0.0.1:4566/status-lists/x#",
            "https://2130706433",
            "https://[::1]",
        ] {
            let mut reg = base.clone();
            reg["endpointUrl"] = json!(url);
            refused(reg, "endpointUrl");
        }
        let mut reg = base.clone();
        reg["endpointUrl"] = json!("http://127.0.0.1:4566");
        validate(Some(&reg), &p).unwrap();
        let mut reg = base.clone();
        reg["bucketUrl"] = json!("https://cdn.example.com/x?sig=1");
        refused(reg, "bucketUrl");
    }
    // The functions' own credentials: only for the deployment's buckets, never elsewhere.
    refused(
        json!({"type": "aws", "bucketName": "someone-elses", "region": "r"}),
        "accessKeyId",
    );
    refused(
        json!({"type": "aws", "bucketName": "status-lists", "region": "r",
                   "endpointUrl": "http://127.0.0.1:4566"}),
        "accessKeyId",
    );
    refused(
        json!({"type": "gcs", "bucketName": "b-1", "serviceAccountKeyJson":
                   {"type": "service_account", "token_uri": "http://127.0.0.1:9/token"}}),
        "token_uri",
    );
    refused(
        json!({"type": "gcs", "bucketName": "b-1", "serviceAccountKeyJson":
                   "{\"token_uri\": \"https://evil.example/token\"}"}),
        "token_uri",
    );
    // An empty bucketUrl, as the Enterprise API examples send it, means none.
    let r = RegistryConfig::from_request(
        Some(&json!({"type": "aws", "bucketName": "status-lists", "region": "r", "bucketUrl": ""})),
        &p,
    )
    .unwrap();
    assert_eq!(r.urls(), (None, None));
}

fn sealed(reg: Value) -> RegistryConfig<Sealed> {
    serde_json::from_value(reg).unwrap()
}

#[test]
fn every_secret_field_of_every_registry_is_redacted() {
    let regs = [
        json!({"type": "aws", "bucketName": "b", "region": "r", "accessKeyId": "AKIA", "secretKey": "kms:S1"}),
        json!({"type": "azure", "accountName": "acct", "containerName": "c", "accountKey": "kms:S2"}),
        json!({"type": "azure", "accountName": "acct", "containerName": "c", "sasToken": "kms:S3"}),
        json!({"type": "azure", "accountName": "acct", "containerName": "c", "connectionString": "kms:S4"}),
        json!({"type": "gcs", "bucketName": "b", "serviceAccountKeyJson": "kms:S5"}),
    ];
    let mut names = Vec::new();
    for reg in regs {
        let r = sealed(reg.clone());
        let shown = serde_json::to_value(r.redacted()).unwrap();
        assert!(!shown.to_string().contains("kms:"), "{shown}");
        for (name, _) in r.secrets() {
            assert_eq!(shown[name], REDACTED, "{name}");
            names.push(name);
        }
        // Everything else is shown as stored.
        let mut back = shown.clone();
        for (name, s) in r.secrets() {
            back[name] = json!(s.ciphertext());
        }
        assert_eq!(back, reg);
    }
    names.sort();
    let mut all = SECRET_FIELDS.to_vec();
    all.sort();
    assert_eq!(names, all);
}

#[test]
fn derives_public_urls() {
    let base = |v: Value| sealed(v).public_base();
    assert_eq!(
        base(json!({"type": "aws", "bucketName": "b", "region": "eu-central-1"})),
        "https://b.s3.eu-central-1.amazonaws.com"
    );
    assert_eq!(
        base(
            json!({"type": "aws", "bucketName": "b", "region": "r", "endpointUrl": "http://127.0.0.1:4566/"})
        ),
        "http://127.0.0.1:4566/b"
    );
    assert_eq!(
        base(json!({"type": "gcs", "bucketName": "b", "bucketUrl": "https://cdn.example.com/"})),
        "https://cdn.example.com"
    );
    assert_eq!(
        base(json!({"type": "azure", "accountName": "acct", "containerName": "c"})),
        "https://acct.blob.core.windows.net/c"
    );
}
