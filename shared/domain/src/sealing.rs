//! Sealing a request's registry secrets with KMS before they are stored, and opening them for
//! the registry writer (through the [`SecretBox`] port, bound to the service's path).

use std::collections::HashMap;

use crate::error::ApiError;
use crate::ports::SecretBox;
use crate::registry_config::RegistryConfig;
use crate::secret::{Sealed, Secret, SecretInput};
use crate::target::Target;

impl RegistryConfig<SecretInput> {
    /// Seals the plaintext secrets with `secrets` (bound to `service`); `***` keeps the value of
    /// the same field in `stored`.
    pub async fn seal(
        self,
        secrets: Option<&dyn SecretBox>,
        service: &Target,
        stored: Option<&RegistryConfig<Sealed>>,
    ) -> Result<RegistryConfig<Sealed>, ApiError> {
        let kept: HashMap<&str, &Sealed> = stored
            .map(|s| s.secrets())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut sealed: HashMap<&'static str, Sealed> = HashMap::new();
        for (name, input) in self.secrets() {
            let value = match input {
                // A stored ciphertext sent back would be kept without the destination check
                // a `***` gets (and could be another service's, which only fails later).
                SecretInput::Sealed(_) => {
                    return Err(ApiError::validation(format!(
                        "config.registry.{name}: give the secret itself, or *** to keep the                          stored one; a sealed value is not accepted"
                    )))
                }
                SecretInput::Keep => {
                    // A kept secret stays bound to the destination it was given for: sending
                    // it elsewhere needs the secret itself again.
                    if let Some(stored) = stored {
                        let was = stored.destination();
                        if let Some((field, _)) = self
                            .destination()
                            .into_iter()
                            .find(|(f, v)| !was.iter().any(|(g, w)| g == f && w == v))
                        {
                            return Err(ApiError::validation(format!(
                                "config.registry.{name}: the registry's {field} changed; give \
                                 {name} again (a kept secret only goes where it was given for)"
                            )));
                        }
                    }
                    (*kept.get(name).ok_or_else(|| {
                        ApiError::validation(format!(
                            "config.registry.{name}: no stored secret to keep"
                        ))
                    })?)
                    .clone()
                }
                SecretInput::Plain(p) => {
                    let b = secrets.ok_or_else(|| {
                        ApiError::internal_msg(
                            "a registry secret arrived but no secrets key is configured (TRUSTFN_SECRETS_KEY_ID)",
                        )
                    })?;
                    b.seal(p, service.as_str()).await?
                }
            };
            sealed.insert(name, value);
        }
        self.try_map(|name, _| {
            sealed
                .remove(name)
                .ok_or_else(|| ApiError::internal_msg(format!("registry secret {name} vanished")))
        })
    }
}

impl RegistryConfig<Sealed> {
    /// A copy with the secrets opened, for the registry writer only.
    pub async fn open(
        &self,
        secrets: &dyn SecretBox,
        service: &Target,
    ) -> Result<RegistryConfig<Secret>, ApiError> {
        let mut opened: HashMap<&'static str, Secret> = HashMap::new();
        for (name, sealed) in self.secrets() {
            opened.insert(name, secrets.open(sealed, service.as_str()).await?);
        }
        self.try_map(|name, _| {
            opened
                .remove(name)
                .ok_or_else(|| ApiError::internal_msg(format!("registry secret {name} vanished")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A secret box that "seals" by prefixing, binding the context.
    struct Prefix;
    #[async_trait::async_trait]
    impl SecretBox for Prefix {
        async fn seal(&self, p: &Secret, ctx: &str) -> Result<Sealed, crate::ports::KmsError> {
            Ok(Sealed::new(format!("kms:{ctx}:{}", p.expose())))
        }
        async fn open(&self, s: &Sealed, ctx: &str) -> Result<Secret, crate::ports::KmsError> {
            let want = format!("kms:{ctx}:");
            s.ciphertext()
                .strip_prefix(&want)
                .map(Secret::new)
                .ok_or(crate::ports::KmsError::NotFound)
        }
    }

    #[tokio::test]
    async fn seals_keeps_and_opens() {
        let svc = Target::parse("acme.t.st").unwrap();
        let input = RegistryConfig::from_request(Some(&json!({"type": "azure", "accountName": "acct", "containerName": "cc1", "sasToken": "sv=1&sig=x"})), &Default::default()).unwrap();
        let stored = input.seal(Some(&Prefix), &svc, None).await.unwrap();
        let RegistryConfig::Azure(a) = &stored else {
            panic!()
        };
        assert_eq!(
            a.sas_token.as_ref().unwrap().ciphertext(),
            "kms:acme.t.st:sv=1&sig=x"
        );
        // `***` keeps the stored value; without one it is refused.
        let again = RegistryConfig::from_request(Some(&json!({"type": "azure", "accountName": "acct", "containerName": "cc1", "sasToken": "***"})), &Default::default()).unwrap();
        assert_eq!(
            again.clone().seal(None, &svc, Some(&stored)).await.unwrap(),
            stored
        );
        assert!(again
            .seal(None, &svc, None)
            .await
            .unwrap_err()
            .message
            .contains("sasToken"));
        let opened = stored.open(&Prefix, &svc).await.unwrap();
        let RegistryConfig::Azure(o) = &opened else {
            panic!()
        };
        assert_eq!(o.sas_token.as_ref().unwrap().expose(), "sv=1&sig=x");
        assert!(!format!("{opened:?}").contains("sig=x"));
        // Bound to the service: another service cannot open it.
        let other = Target::parse("evil.t.st").unwrap();
        assert!(stored.open(&Prefix, &other).await.is_err());
    }

    #[tokio::test]
    async fn a_stored_ciphertext_sent_back_is_refused() {
        // Sent instead of `***`, it skipped the check that binds a kept secret to its
        // destination: only the secret itself or `***` is accepted.
        let svc = Target::parse("acme.t.st").unwrap();
        let policy =
            crate::registry_config::RegistryPolicy::from_settings("http://127.0.0.1:10000", "")
                .unwrap();
        let input = RegistryConfig::from_request(
            Some(
                &json!({"type": "azure", "accountName": "acct", "containerName": "cc1",
                         "sasToken": "kms:c2VhbGVk", "endpointUrl": "http://127.0.0.1:10000/b"}),
            ),
            &policy,
        )
        .unwrap();
        let e = input.seal(Some(&Prefix), &svc, None).await.unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.starts_with("config.registry.sasToken"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn a_kept_secret_is_bound_to_its_destination() {
        let svc = Target::parse("acme.t.st").unwrap();
        let policy =
            crate::registry_config::RegistryPolicy::from_settings("http://127.0.0.1:10000", "")
                .unwrap();
        let req = |v: serde_json::Value| RegistryConfig::from_request(Some(&v), &policy).unwrap();
        let stored = req(json!({"type": "azure", "accountName": "acct", "containerName": "cc1",
                                "sasToken": "sv=1&sig=x", "endpointUrl": "http://127.0.0.1:10000/a"}))
        .seal(Some(&Prefix), &svc, None)
        .await
        .unwrap();
        for (field, changed) in [
            (
                "endpointUrl",
                json!({"type": "azure", "accountName": "acct", "containerName": "cc1", "sasToken": "***",
                                   "endpointUrl": "http://127.0.0.1:10000/b"}),
            ),
            (
                "endpointUrl",
                json!({"type": "azure", "accountName": "acct", "containerName": "cc1", "sasToken": "***"}),
            ),
            (
                "accountName",
                json!({"type": "azure", "accountName": "acct2", "containerName": "cc1", "sasToken": "***",
                                   "endpointUrl": "http://127.0.0.1:10000/a"}),
            ),
            (
                "containerName",
                json!({"type": "azure", "accountName": "acct", "containerName": "cc2", "sasToken": "***",
                                     "endpointUrl": "http://127.0.0.1:10000/a"}),
            ),
        ] {
            let e = req(changed.clone())
                .seal(Some(&Prefix), &svc, Some(&stored))
                .await
                .unwrap_err();
            assert!(
                e.message.contains("sasToken") && e.message.contains(field),
                "{changed}: {}",
                e.message
            );
            // With the secret given again, the change is accepted.
            let mut again = changed.clone();
            again["sasToken"] = json!("sv=2&sig=y");
            req(again)
                .seal(Some(&Prefix), &svc, Some(&stored))
                .await
                .unwrap();
        }
        // Another type cannot keep a secret it never had.
        let e = req(
            json!({"type": "aws", "bucketName": "status-lists", "region": "r", "accessKeyId": "A",
                           "secretKey": "***"}),
        )
        .seal(Some(&Prefix), &svc, Some(&stored))
        .await
        .unwrap_err();
        assert!(e.message.contains("secretKey"), "{}", e.message);
    }
}
