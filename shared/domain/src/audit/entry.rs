//! An audit entry and its hash: what an auditor recomputes, in any language.
//!
//! `entryHash` = lower-case hex SHA-256 of the entry's canonical JSON (RFC 8785, JCS) without
//! its `entryHash` member. Entries hold only strings, integers (below 2^53), booleans, arrays
//! and objects, so JCS reduces to: object members sorted by name (names are ASCII), no
//! insignificant whitespace, strings escaped only where JSON requires it (`"` `\` and the
//! control characters, as `\b \t \n \f \r` or `\u00xx` in lower-case hex), integers in
//! decimal. `prevEntryHash` is the previous entry's `entryHash` (`GENESIS` for the first),
//! so changing, removing or reordering any entry changes every later hash.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// `prevEntryHash` of a chain's first entry.
pub const GENESIS: &str = "GENESIS";

/// Who acted: the administrator token, an API key (never its token), or trustfn itself
/// (scheduled publishes and refreshes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Actor {
    Admin,
    #[serde(rename_all = "camelCase")]
    ApiKey {
        key_id: String,
        /// The key's role bindings in force (`<role>#<uid>`), as authentication applied them.
        roles: Vec<String>,
    },
    /// A person signed in with the configured OpenID Connect issuer.
    #[serde(rename_all = "camelCase")]
    User {
        issuer: String,
        subject: String,
        /// The roles the organization's mapping gave the user's token (`<role>#<uid>`).
        roles: Vec<String>,
    },
    System,
}

/// What became of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Success,
    /// Refused (403): nothing changed.
    Denied,
}

/// One entry of an organization's chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entry {
    /// The chain: an organization id, or `admin` for the administrator's refusals.
    pub organization: String,
    pub sequence_number: u64,
    /// Unix milliseconds.
    pub timestamp: i64,
    pub actor: Actor,
    /// trustfn's action name (`kms-key-generate`, ...), or what trustfn did on its own
    /// (`publish`, `status-changes`).
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What changed: one object per change, naming the resource and what identifies the
    /// artefact (serials, fingerprints, hashes; never a secret or a credential's content).
    pub changes: Vec<Map<String, Value>>,
    pub prev_entry_hash: String,
    pub entry_hash: String,
}

/// An entry's canonical JSON could not be made (a float, or an integer JCS cannot carry).
#[derive(Debug, thiserror::Error)]
#[error("audit entry is not canonical JSON: {0}")]
pub struct NotCanonical(pub String);

impl Entry {
    /// Sets `entry_hash` from the other fields.
    pub fn seal(mut self) -> Result<Entry, NotCanonical> {
        self.entry_hash = self.computed_hash()?;
        Ok(self)
    }

    /// The hash the entry should carry.
    pub fn computed_hash(&self) -> Result<String, NotCanonical> {
        let mut v = serde_json::to_value(self).map_err(|e| NotCanonical(e.to_string()))?;
        if let Value::Object(m) = &mut v {
            m.remove("entryHash");
        }
        Ok(hash_hex(canonical(&v)?.as_bytes()))
    }

    /// The entry as stored and answered: its canonical JSON, `entryHash` included.
    pub fn to_canonical(&self) -> Result<String, NotCanonical> {
        canonical(&serde_json::to_value(self).map_err(|e| NotCanonical(e.to_string()))?)
    }
}

pub fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// RFC 8785 canonical JSON of `v` (integers, strings, booleans, null, arrays, objects).
pub fn canonical(v: &Value) -> Result<String, NotCanonical> {
    let mut out = String::new();
    write(v, &mut out)?;
    Ok(out)
}

fn write(v: &Value, out: &mut String) -> Result<(), NotCanonical> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            // Integers up to 2^53 print the same in every JSON implementation (and in JCS).
            let ok = n
                .as_i64()
                .filter(|i| i.unsigned_abs() <= 1 << 53)
                .map(|i| i.to_string())
                .or_else(|| n.as_u64().filter(|u| *u <= 1 << 53).map(|u| u.to_string()));
            match ok {
                Some(s) => out.push_str(&s),
                None => return Err(NotCanonical(format!("number {n}"))),
            }
        }
        Value::String(s) => write_str(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(x, out)?;
            }
            out.push(']');
        }
        Value::Object(m) => {
            // JCS sorts by UTF-16 code units; for the names used here (ASCII) that is byte order.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write(&m[k], out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_follows_rfc_8785_for_the_values_entries_hold() {
        let v = json!({"b": [1, "x", true, null], "a": {"z": -5, "é": "\u{1}\n\"\\/€"}, "A": 9007199254740992_i64});
        assert_eq!(
            canonical(&v).unwrap(),
            r#"{"A":9007199254740992,"a":{"z":-5,"é":"\u0001\n\"\\/€"},"b":[1,"x",true,null]}"#
        );
        assert!(canonical(&json!({"x": 1.5})).is_err());
        assert!(canonical(&json!({"x": 9007199254740993_i64})).is_err());
    }

    fn entry(prev: &str) -> Entry {
        Entry {
            organization: "acme".into(),
            sequence_number: 1,
            timestamp: 1_796_083_200_000,
            actor: Actor::ApiKey {
                key_id: "acme.ci".into(),
                roles: vec!["acme.admin#0a1b".into()],
            },
            action: "kms-key-generate".into(),
            target: "acme.t1.kms.k1".into(),
            outcome: Outcome::Success,
            request_id: Some("r-1".into()),
            changes: vec![
                json!({"op": "create", "id": "acme.t1.kms.k1", "kind": "key"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ],
            prev_entry_hash: prev.into(),
            entry_hash: String::new(),
        }
    }

    #[test]
    fn the_hash_of_a_fixed_entry_is_the_sha256_of_its_canonical_text() {
        // The vector an auditor's tool must reproduce (README, "Audit").
        let e = entry(GENESIS).seal().unwrap();
        let text = r#"{"action":"kms-key-generate","actor":{"keyId":"acme.ci","roles":["acme.admin#0a1b"],"type":"api-key"},"changes":[{"id":"acme.t1.kms.k1","kind":"key","op":"create"}],"organization":"acme","outcome":"success","prevEntryHash":"GENESIS","requestId":"r-1","sequenceNumber":1,"target":"acme.t1.kms.k1","timestamp":1796083200000}"#;
        assert_eq!(e.entry_hash, hash_hex(text.as_bytes()));
        assert_eq!(
            e.entry_hash,
            "976548825f97b2f236ef587983ada44925f21c6fe6c2d21b2b090f2130c79f38"
        );
        // Every field is covered: changing any one changes the hash.
        let mut other = e.clone();
        other.prev_entry_hash = "0".repeat(64);
        assert_ne!(other.computed_hash().unwrap(), e.entry_hash);
        let mut other = e.clone();
        other.changes[0].insert("id".into(), json!("acme.t1.kms.k2"));
        assert_ne!(other.computed_hash().unwrap(), e.entry_hash);
        // The stored text parses back to the same entry.
        let back: Entry = serde_json::from_str(&e.to_canonical().unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
