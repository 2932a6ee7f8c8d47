//! The three forms of a registry secret (an S3 secret key, an Azure account key, SAS token or
//! connection string, a GCS service-account key):
//!
//! - [`Secret`]: plaintext, as a request sends it or as it is opened for a registry writer. It
//!   has no `Serialize` and its `Debug` prints `***`, so it cannot reach an answer or a log line.
//! - [`Sealed`]: encrypted with KMS (`kms:<base64>`), bound to its service; what is stored.
//! - [`Redacted`]: what an answer shows in place of either: `***`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The placeholder shown in place of a secret.
pub const REDACTED: &str = "***";

/// Prefix of a stored (encrypted) secret value.
pub const SEALED_PREFIX: &str = "kms:";

/// A plaintext secret. Not serializable; `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(plaintext: impl Into<String>) -> Secret {
        Secret(plaintext.into())
    }
    /// The plaintext, for the one adapter call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A secret sealed with KMS: `kms:<base64 ciphertext>`, stored as that string.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl Sealed {
    /// Wraps a ciphertext the secret box produced (`kms:<base64>`).
    pub fn new(ciphertext: impl Into<String>) -> Sealed {
        Sealed(ciphertext.into())
    }
    pub fn ciphertext(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({REDACTED})")
    }
}

/// A secret as an answer shows it: `***`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redacted;

impl Serialize for Redacted {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// A secret field of a request: plaintext to seal, `***` to keep the stored value, or a value
/// that is already sealed (`kms:...`, bound to the service by its encryption context).
#[derive(Debug, Clone, PartialEq)]
pub enum SecretInput {
    Plain(Secret),
    Keep,
    Sealed(Sealed),
}

impl<'de> Deserialize<'de> for SecretInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SecretInput, D::Error> {
        // A service-account key may come as a JSON object: it is kept as its JSON text.
        let v = serde_json::Value::deserialize(d)?;
        let text = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Object(_) => v.to_string(),
            _ => return Err(serde::de::Error::custom("must be a string")),
        };
        Ok(if text == REDACTED {
            SecretInput::Keep
        } else if text.starts_with(SEALED_PREFIX) {
            SecretInput::Sealed(Sealed(text))
        } else {
            SecretInput::Plain(Secret(text))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
        let sealed = Sealed::new("kms:AAAA");
        assert!(!format!("{sealed:?}").contains("AAAA"));
        assert_eq!(serde_json::to_string(&sealed).unwrap(), "\"kms:AAAA\"");
        assert_eq!(serde_json::to_string(&Redacted).unwrap(), "\"***\"");
    }

    #[test]
    fn inputs_are_told_apart() {
        let p = |j: &str| serde_json::from_str::<SecretInput>(j).unwrap();
        assert_eq!(p("\"***\""), SecretInput::Keep);
        assert_eq!(p("\"kms:x\""), SecretInput::Sealed(Sealed::new("kms:x")));
        assert_eq!(p("\"s3cr3t\""), SecretInput::Plain(Secret::new("s3cr3t")));
        assert_eq!(
            p(r#"{"type": "service_account"}"#),
            SecretInput::Plain(Secret::new(r#"{"type":"service_account"}"#))
        );
        assert!(serde_json::from_str::<SecretInput>("5").is_err());
    }
}
