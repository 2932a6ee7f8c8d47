//! Resource identifiers: dotted paths `org.tenant[.sub...].service[.child]`.
//!
//! A [`Target`] is parsed once at the edge; everything past the HTTP layer works with the parsed
//! value and never re-validates strings.

use std::fmt;

use crate::error::ApiError;

/// Longest allowed segment, in bytes (all allowed characters are ASCII).
pub const MAX_SEGMENT_LEN: usize = 64;
/// Most segments a path may have.
pub const MAX_SEGMENTS: usize = 16;

/// A validated, dotted resource path.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target(String);

impl Target {
    /// Parses a dotted path. Segments are 1-64 characters of ASCII letters, digits, `-` and `_`;
    /// a path has 1 to 16 segments.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        if raw.is_empty() {
            return Err(ApiError::bad_request("InvalidTarget", "target is empty"));
        }
        let mut count = 0;
        for (i, segment) in raw.split('.').enumerate() {
            count += 1;
            if count > MAX_SEGMENTS {
                return Err(ApiError::bad_request(
                    "InvalidTarget",
                    format!("target has more than {MAX_SEGMENTS} segments"),
                ));
            }
            if segment.is_empty() {
                return Err(ApiError::bad_request(
                    "InvalidTarget",
                    format!("target segment {} is empty", i + 1),
                ));
            }
            if segment.len() > MAX_SEGMENT_LEN {
                return Err(ApiError::bad_request(
                    "InvalidTarget",
                    format!(
                        "target segment {} is longer than {MAX_SEGMENT_LEN} characters",
                        i + 1
                    ),
                ));
            }
            if let Some(bad) = segment
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(ApiError::bad_request(
                    "InvalidTarget",
                    format!(
                        "target segment {} contains {:?}; allowed are ASCII letters, digits, '-' and '_'",
                        i + 1,
                        bad
                    ),
                ));
            }
        }
        Ok(Target(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Number of segments (1 for an organization).
    pub fn depth(&self) -> usize {
        self.0.split('.').count()
    }

    /// The organization: the first segment.
    pub fn org(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }

    /// The last segment: the resource's own id within its parent.
    pub fn leaf(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or(&self.0)
    }

    /// The parent path, `None` for an organization.
    pub fn parent(&self) -> Option<Target> {
        self.0.rfind('.').map(|i| Target(self.0[..i].to_owned()))
    }

    /// A child of this path. `id` must be a valid segment.
    pub fn child(&self, id: &str) -> Result<Target, ApiError> {
        Target::parse(&format!("{}.{}", self.0, id))
    }

    /// True when `self` equals `other` or lies below it in the tree.
    pub fn is_within(&self, other: &Target) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.starts_with(&other.0)
                && self.0.as_bytes()[other.0.len()] == b'.')
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", self.0)
    }
}

impl AsRef<str> for Target {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Stored as its text; a stored path that is not a target does not parse (the record is an
/// error, never a default).
impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Target::parse(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_paths() {
        let t = Target::parse("waltid.tenant_1.kms-eu.key1").unwrap();
        assert_eq!(t.org(), "waltid");
        assert_eq!(t.leaf(), "key1");
        assert_eq!(t.depth(), 4);
        assert_eq!(t.parent().unwrap().as_str(), "waltid.tenant_1.kms-eu");
        assert!(Target::parse("org").unwrap().parent().is_none());
    }

    #[test]
    fn rejects_bad_segments() {
        for bad in [
            "", ".", "a..b", "a.", ".a", "a b", "a/b", "ä", "a.b$", "a%2e", "a\u{0}",
        ] {
            let err = Target::parse(bad).unwrap_err();
            assert_eq!(err.status, 400, "{bad:?}");
            assert_eq!(err.id, "InvalidTarget");
        }
    }

    #[test]
    fn enforces_lengths() {
        let ok = "a".repeat(MAX_SEGMENT_LEN);
        assert!(Target::parse(&ok).is_ok());
        assert!(Target::parse(&format!("{ok}b")).is_err());
        let sixteen = vec!["s"; MAX_SEGMENTS].join(".");
        assert!(Target::parse(&sixteen).is_ok());
        assert!(Target::parse(&format!("{sixteen}.s")).is_err());
    }

    #[test]
    fn within_respects_segment_boundaries() {
        let org = Target::parse("acme").unwrap();
        let t = Target::parse("acme.t1.svc").unwrap();
        assert!(t.is_within(&org));
        assert!(t.is_within(&t));
        assert!(!Target::parse("acme2.t1").unwrap().is_within(&org));
        assert!(!org.is_within(&t));
    }
}
