//! Atomic counter items: change sequences and number series (`Repository::next_seq`,
//! `next_number`, `raise_number`), one small write each.

use crate::items::{get_n, n, Item};
use crate::{unavailable, DynamoRepo};
use trustfn_domain::repo::RepoError;

impl DynamoRepo {
    /// Adds one to the counter item `key` (created at 1) and answers its new value: one small
    /// write. `what` names the counter in an error.
    pub(crate) async fn add_one(
        &self,
        key: Item,
        what: impl Fn() -> String,
    ) -> Result<u64, RepoError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| unavailable(&format!("next value of {}", what()), e))?;
        out.attributes
            .as_ref()
            .and_then(|a| get_n(a, "n"))
            .map(|v| v as u64)
            .ok_or_else(|| RepoError::Corrupt {
                id: what(),
                reason: "no n after the update".into(),
            })
    }

    /// Raises the counter item `key` to at least `at_least` (never lowers it): one small
    /// conditional write. `what` names the counter in an error.
    pub(crate) async fn raise_to(
        &self,
        key: Item,
        at_least: u64,
        what: impl Fn() -> String,
    ) -> Result<(), RepoError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET #n = :v")
            .condition_expression("attribute_not_exists(#n) OR #n < :v")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":v", n(at_least as i64))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            // Already at or above it.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(&format!("raising {}", what()), e)),
        }
    }
}
