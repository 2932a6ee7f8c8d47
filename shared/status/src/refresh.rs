//! Status lists in the scheduled refresh: republished when due (expiring soon, never published,
//! failed and backing off, or with changes a publisher that died left pending); the changes
//! pending for a list that was deleted are dropped.

use async_trait::async_trait;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::Kind;
use trustfn_domain::repo::Op;
use trustfn_domain::target::Target;
use trustfn_publish::{Cx, Outcome, Republisher};

use crate::publish::{StatusLists, FOLD_CHUNK};

#[async_trait]
impl Republisher for StatusLists {
    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::StatusList
    }

    async fn republish(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        deadline_ms: i64,
    ) -> Result<Outcome, ApiError> {
        trustfn_publish::publish(cx, self, id, true, deadline_ms).await
    }

    async fn gone(&self, cx: &Cx<'_>, id: &Target) -> Result<(), ApiError> {
        // The list was deleted: its pending changes have nothing left to change.
        let mut dropped = 0;
        loop {
            let batch = cx.repo.pending(id, FOLD_CHUNK).await?;
            if batch.is_empty() {
                if dropped > 0 {
                    tracing::info!(list = %id, dropped, "dropped the pending changes of a deleted list");
                }
                return Ok(());
            }
            dropped += batch.len();
            let ops = batch
                .into_iter()
                .map(|p| Op::RemovePending {
                    list: id.clone(),
                    seq: p.seq,
                })
                .collect();
            cx.repo.commit(ops).await?;
        }
    }
}
