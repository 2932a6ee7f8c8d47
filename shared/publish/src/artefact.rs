//! What the engine publishes: the [`Artefact`] trait each kind implements (a status list, an
//! IACA's CRL; next, a VICAL) and the values its steps pass around. The lease, the upload and
//! the loop build on this module; it builds on none of them.

use async_trait::async_trait;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{DocKind, PublishState, Record};
use trustfn_domain::ports::Publisher;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::target::Target;

use crate::PublishDeps;

/// What every step of a publish works with.
pub struct Cx<'a> {
    pub repo: &'a dyn Repository,
    pub deps: &'a PublishDeps<'a>,
}

/// What a round issues: at the lease's start, with the number the lease allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issue {
    /// Unix seconds: the artefact's `iat` / `thisUpdate`.
    pub at: i64,
    pub number: Option<u64>,
}

/// A signed artefact, ready to upload.
#[derive(Debug, Clone)]
pub struct Built {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub cache_control: String,
    /// The revision of the record it was built from: everything accepted up to it is in it.
    pub revision: i64,
    pub number: Option<u64>,
    pub issued_at: i64,
    pub expires_at: i64,
    /// When the refresh should publish it again if nothing else does.
    pub refresh_at: i64,
    /// Entries it holds (a CRL's revoked certificates), kept by [`Artefact::published`].
    pub entries: u64,
    /// What the release of this upload commits with the success it records (a status list's
    /// token kept for its history): written together or not at all.
    pub keep: Vec<Op>,
}

/// What the registry's copy held, once read back and verified.
pub enum Absorbed<D> {
    /// Nothing the table lacks: it may be replaced as it is.
    Superseded,
    /// What it held and the table lacked is now in the table: build again from this record.
    Merged(Record<D>),
    /// The lease was lost while merging.
    Lost,
}

/// A signed artefact published to a registry under the engine's rules. Its record holds its
/// [`PublishState`]; the artefact says how to bring the record up to date, build and sign it, and
/// merge a registry copy that is ahead of the table.
#[async_trait]
pub trait Artefact: Send + Sync {
    /// The document of the record holding the publish state.
    type Doc: DocKind + Clone + Send + Sync + 'static;
    /// What one round loads once and builds with (keys, configuration, the registry writer).
    type Work: Send + Sync;

    /// What it is, in logs and messages ("status list", "CRL").
    fn name(&self) -> &'static str;
    fn state(doc: &Self::Doc) -> PublishState;
    fn state_mut(doc: &mut Self::Doc) -> &mut PublishState;

    /// Whether it is published at all now (a CRL needs a target and an unexpired IACA). An
    /// inactive artefact leaves the refresh index.
    async fn active(&self, _cx: &Cx<'_>, _rec: &Record<Self::Doc>) -> Result<bool, ApiError> {
        Ok(true)
    }
    /// Whether changes were accepted outside its record that are not in it yet (a status list's
    /// pending changes).
    async fn waiting(&self, _cx: &Cx<'_>, _rec: &Record<Self::Doc>) -> Result<bool, ApiError> {
        Ok(false)
    }
    /// Under the lease: brings the record up to date and loads what building needs. `Ok(None)`
    /// when the lease was lost meanwhile.
    async fn prepare(
        &self,
        cx: &Cx<'_>,
        rec: Record<Self::Doc>,
        owner: &str,
    ) -> Result<Option<(Record<Self::Doc>, Self::Work)>, ApiError>;
    /// Builds and signs the artefact of `rec` (one KMS Sign).
    async fn build(
        &self,
        cx: &Cx<'_>,
        rec: &Record<Self::Doc>,
        work: &Self::Work,
        issue: Issue,
    ) -> Result<Built, ApiError>;
    /// The registry writer and the object's key.
    fn destination<'w>(&self, work: &'w Self::Work) -> (&'w dyn Publisher, &'w str);
    /// The registry holds `found`, which the table does not know: verify it with the artefact's
    /// own key and put into the table what it holds that the table lacks (under the lease).
    /// An error when it cannot be verified: it is then never overwritten.
    async fn absorb(
        &self,
        cx: &Cx<'_>,
        rec: &Record<Self::Doc>,
        work: &mut Self::Work,
        found: &[u8],
        owner: &str,
    ) -> Result<Absorbed<Self::Doc>, ApiError>;
    /// After a successful upload of `built` (a status list's aggregation document).
    async fn after_upload(
        &self,
        _cx: &Cx<'_>,
        _rec: &Record<Self::Doc>,
        _work: &Self::Work,
        _built: &Built,
    ) -> Result<(), ApiError> {
        Ok(())
    }
    /// Keeps what the artefact records of a successful publish besides the state.
    fn published(_doc: &mut Self::Doc, _built: &Built) {}
    /// The revision that holds the change `mark` names, once the change is in the record
    /// (`None` before), and the publish state as read with it. Reads in the order that makes the
    /// answer safe: a change seen folded is in the revision returned.
    async fn covering(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        mark: &str,
    ) -> Result<(Option<i64>, PublishState), ApiError>;
}
