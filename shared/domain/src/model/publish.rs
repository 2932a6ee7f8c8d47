//! What the publishing engine (`trustfn-publish`) keeps of one signed artefact published to a
//! registry (a status list, an IACA's CRL): one state, stored inside the artefact's own record.
//! Each record keeps the field names it always had (see the stored forms in `status.rs` and
//! `issued.rs`); in memory both are this one type.

/// A publisher's hold on an artefact. Publishes of one artefact are serialized by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// A random id per publish call.
    pub owner: String,
    /// When it was taken (Unix seconds): the issue time (`iat`, `thisUpdate`) of what its holder
    /// publishes.
    pub since: i64,
    /// When it ends (Unix seconds): another publisher may take it from then on.
    pub until: i64,
}

/// The publish state of one artefact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishState {
    /// Bumped by every change accepted into the record (status lists: changes folded; CRLs:
    /// revocations).
    pub revision: i64,
    /// The revision last published; -1 before the first publish.
    pub published_revision: i64,
    /// Artefacts that carry a number (a CRL's cRLNumber): the last one allocated. Each lease
    /// takes the next, so a number is never used twice.
    pub number: Option<u64>,
    /// The number of what was last published.
    pub published_number: Option<u64>,
    pub lease: Option<Lease>,
    /// When what was last published was issued and until when it is valid (Unix seconds).
    pub issued_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// When the scheduled refresh takes the artefact up (Unix seconds; the refresh index's sort
    /// key). `None`: never (a CRL without a target).
    pub refresh_at: Option<i64>,
    /// The registry's version (ETag or generation) of the object as its last publisher stored
    /// it: the next upload expects it.
    pub object_version: Option<String>,
    /// Publishes that failed in a row since the last success.
    pub failures: u32,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// Successful publishes.
    pub publishes: u64,
    /// The newest issue time of anything this table's publishers may have put in the registry
    /// (a lease whose upload was tried, or that was taken over unreleased). A registry object
    /// issued at or before it is one of ours; one issued later was written behind this table's
    /// back (a restore, a copy) and holds what the table may lack.
    pub known_through: Option<i64>,
}

impl Default for PublishState {
    fn default() -> Self {
        PublishState::unpublished()
    }
}

impl PublishState {
    /// The state of an artefact never published.
    pub fn unpublished() -> PublishState {
        PublishState {
            revision: 0,
            published_revision: -1,
            number: None,
            published_number: None,
            lease: None,
            issued_at: None,
            expires_at: None,
            refresh_at: None,
            object_version: None,
            failures: 0,
            last_error: None,
            last_error_at: None,
            publishes: 0,
            known_through: None,
        }
    }

    /// Whether changes were accepted that are not published.
    pub fn behind(&self) -> bool {
        self.published_revision < self.revision
    }

    /// Whether the last publish failed.
    pub fn failing(&self) -> bool {
        self.last_error.is_some()
    }

    /// The lease, when one is held at `now` (Unix seconds).
    pub fn live_lease(&self, now: i64) -> Option<&Lease> {
        self.lease.as_ref().filter(|l| l.until > now)
    }

    /// Whether `owner` holds the lease at `now`.
    pub fn held_by(&self, owner: &str, now: i64) -> bool {
        self.live_lease(now).is_some_and(|l| l.owner == owner)
    }
}

/// Unix seconds as RFC 3339 (UTC, whole seconds), as stored records show times.
pub(crate) fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An RFC 3339 time of a stored record as Unix seconds; a value that does not parse fails the
/// record (never a default).
pub(crate) fn unix(field: &str, t: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp())
        .map_err(|e| format!("{field} {t:?} is not an RFC 3339 time: {e}"))
}

/// [`unix`] of an optional field.
pub(crate) fn unix_opt(field: &str, t: Option<&str>) -> Result<Option<i64>, String> {
    t.map(|t| unix(field, t)).transpose()
}

/// The stored lease fields (`_leaseOwner`, `_leaseUntil`, `_leasedAt`) as a lease. Records
/// written before `_leasedAt` existed count the lease from its end.
pub(crate) fn lease_of(
    owner: Option<String>,
    until: Option<i64>,
    since: Option<i64>,
) -> Option<Lease> {
    match (owner, until) {
        (Some(owner), Some(until)) => Some(Lease {
            owner,
            since: since.unwrap_or(until),
            until,
        }),
        _ => None,
    }
}
