//! Kept status list versions (`LV#<list>`, sort key `iat`): the newest at or before a moment.

use aws_sdk_dynamodb::Client;
use trustfn_domain::repo::{ListVersion, RepoError};
use trustfn_domain::Target;

use crate::items::{s, to_version, version_pk, version_sk};
use crate::unavailable;

/// The newest kept version of `list` issued at or before `at` (the newest of all without).
pub(crate) async fn newest(
    client: &Client,
    table: &str,
    list: &Target,
    at: Option<i64>,
) -> Result<Option<ListVersion>, RepoError> {
    let mut q = client
        .query()
        .table_name(table)
        .expression_attribute_values(":pk", s(version_pk(list)))
        // A change answered `published: true` is served at once, never a version before it.
        .consistent_read(true)
        .scan_index_forward(false)
        .limit(1);
    q = match at {
        Some(t) => q
            .key_condition_expression("pk = :pk AND sk <= :t")
            .expression_attribute_values(":t", s(version_sk(t))),
        None => q.key_condition_expression("pk = :pk"),
    };
    let resp = q
        .send()
        .await
        .map_err(|e| unavailable("query list versions", e))?;
    resp.items()
        .first()
        .map(|i| to_version(list, i))
        .transpose()
}
