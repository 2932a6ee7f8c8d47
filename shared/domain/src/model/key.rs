//! KMS key records and stored certificates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use trustfn_signer::{Curve, PublicKey};

use super::SerialNumber;

/// The ARN of a KMS key, `arn:<partition>:kms:<region>:<account>:key/<id>`: checked where an
/// ARN arrives (the KMS adapter's answers, stored records, a request's `keyArn`), held as this
/// type after.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyArn(String);

impl KeyArn {
    pub fn parse(text: &str) -> Result<KeyArn, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && !parts[1].is_empty()
            && parts[2] == "kms"
            && !parts[3].is_empty()
            && !parts[4].is_empty()
            && parts[5]
                .strip_prefix("key/")
                .is_some_and(|id| !id.is_empty());
        match ok {
            true => Ok(KeyArn(text.to_owned())),
            false => Err(format!("{text:?} is not a KMS key ARN")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyArn {
    type Error = String;
    fn try_from(s: String) -> Result<KeyArn, String> {
        KeyArn::parse(&s)
    }
}

impl From<KeyArn> for String {
    fn from(a: KeyArn) -> String {
        a.0
    }
}

impl std::fmt::Display for KeyArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key of a `kms` service: the KMS key's ARN and its public key. The private key stays in KMS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyDoc {
    #[serde(with = "key_type")]
    pub key_type: Curve,
    #[serde(with = "jwk")]
    pub public_key: PublicKey,
    pub kms_key_arn: KeyArn,
    /// Adopted with `keys/import/aws`: never scheduled for deletion by trustfn.
    #[serde(default)]
    pub imported: bool,
}

impl KeyDoc {
    /// The key as walt.id's key records show it: `{"type": "jwk", "jwk": <public JWK>}` (the
    /// private key never leaves KMS, so the JWK is the public one).
    pub fn walt_key(&self) -> serde_json::Value {
        serde_json::json!({"type": "jwk", "jwk": self.public_key.to_jwk()})
    }

    /// The unique name an adopted key's record holds while it exists, so one KMS key is adopted
    /// by at most one path (see `Op::Claim`). Generated keys hold none.
    pub fn arn_claim(&self) -> Option<String> {
        self.imported
            .then(|| format!("kms-key:{}", self.kms_key_arn))
    }
}

mod key_type {
    use super::*;
    pub fn serialize<S: Serializer>(c: &Curve, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.key_type())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Curve, D::Error> {
        let s = String::deserialize(d)?;
        Curve::from_key_type(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown keyType {s:?}")))
    }
}

mod jwk {
    use super::*;
    pub fn serialize<S: Serializer>(k: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
        k.to_jwk().serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        PublicKey::from_jwk(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What kind of entry a stored certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateType {
    Base,
    VicalEntry,
}

/// A certificate in an `x509-store`, with the facts read from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Certificate {
    pub data: CertificateData,
    pub subject: String,
    pub issuer: String,
    pub serial_number: SerialNumber,
    #[serde(with = "super::time::secs")]
    pub not_before: DateTime<Utc>,
    #[serde(with = "super::time::secs")]
    pub not_after: DateTime<Utc>,
    pub sha256_fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateData {
    #[serde(rename = "type")]
    pub kind: CertificateType,
    pub pem: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complementary_metadata: Option<Map<String, Value>>,
}
