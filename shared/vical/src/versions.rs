//! Published versions: their paths (`{service}.versions.{versionId}`, stored as the service's
//! child `{service}.{versionId}`), the authenticated `versions/ids` listing and the public
//! registry routes that serve a version's bytes.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;
use trustfn_domain::auth::{act, Authorized};
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Kind, Record, Service, VicalServiceConfig, VicalVersion};
use trustfn_domain::reply::Reply;
use trustfn_domain::repo::Repository;
use trustfn_domain::resource::children_of_kind;
use trustfn_domain::target::Target;

use crate::payload::CBOR_MEDIA_TYPE;

/// The segment that marks a version path.
pub const VERSIONS: &str = "versions";
/// Longest a public answer for `latest` may be cached (a new version may come any time).
pub const LATEST_MAX_AGE: i64 = 300;
/// Longest a version's answer may be cached (it never changes, but its nextUpdate bounds it).
pub const VERSION_MAX_AGE: i64 = 86_400;

/// The public path of a version.
pub fn version_path(service: &Target, version_id: &str) -> String {
    format!("{service}.{VERSIONS}.{version_id}")
}

/// The vical-service at `target` and its configuration; 400 when it is another kind of
/// resource, 404 when absent.
pub async fn load_vical_service(
    repo: &dyn Repository,
    target: &Target,
) -> Result<(Record, VicalServiceConfig), ApiError> {
    let rec = trustfn_domain::resource::load(repo, target).await?;
    match &rec.doc {
        trustfn_domain::model::Doc::Service(Service::Vical(c)) => {
            let c = c.clone();
            Ok((rec, c))
        }
        _ => Err(ApiError::validation(format!(
            "{target} is not a vical-service"
        ))),
    }
}

/// `GET /v1/{vicalService}/vical-service-api/versions/ids`: the paths of every published
/// version, oldest first.
pub async fn version_ids(
    repo: &dyn Repository,
    auth: &Authorized<'_, act::VicalVersionList>,
) -> Result<Reply, ApiError> {
    let target = auth.target();
    load_vical_service(repo, target).await?;
    let mut versions: Vec<Record<VicalVersion>> =
        children_of_kind(repo, target, Kind::VicalVersion)
            .await?
            .into_iter()
            .filter_map(|r| r.downcast::<VicalVersion>().ok())
            .collect();
    versions.sort_by_key(|v| v.doc.vical_issue_id);
    Ok(Reply::json(
        200,
        Value::Array(
            versions
                .iter()
                .map(|v| Value::String(version_path(target, &v.doc.version_id)))
                .collect(),
        ),
    ))
}

/// The representation a registry request asks for (`?format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Hex,
    Base64,
    Cbor,
}

impl Format {
    pub fn parse(q: Option<&str>) -> Result<Format, ApiError> {
        match q {
            None | Some("hex") => Ok(Format::Hex),
            Some("base64") => Ok(Format::Base64),
            Some("cbor") => Ok(Format::Cbor),
            Some(other) => Err(ApiError::validation(format!(
                "format {other:?}: one of hex (the default), base64, cbor"
            ))),
        }
    }
}

fn nothing_here(target: &Target) -> ApiError {
    ApiError::not_found(format!("no VICAL is published at {target}"))
}

/// The version a public request names: the latest of a vical-service, or one version by its
/// path. Whatever is not one (no such service, another kind of resource, nothing published)
/// is the same 404, so the public route tells nothing else about the tree.
async fn resolve(repo: &dyn Repository, target: &Target) -> Result<VicalVersion, ApiError> {
    let service_and_id = match target.parent() {
        Some(p) if p.leaf() == VERSIONS && p.depth() >= 4 => {
            let service = p.parent().ok_or_else(|| nothing_here(target))?;
            Some((service, target.leaf().to_owned()))
        }
        _ => None,
    };
    let (service, id) = match service_and_id {
        Some(s) => s,
        None => {
            let latest = match repo.get(target).await?.map(|r| r.doc) {
                Some(trustfn_domain::model::Doc::Service(Service::Vical(c))) => c.latest,
                _ => None,
            };
            (target.clone(), latest.ok_or_else(|| nothing_here(target))?)
        }
    };
    let is_vical = matches!(
        repo.get(&service).await?.map(|r| r.doc),
        Some(trustfn_domain::model::Doc::Service(Service::Vical(_)))
    );
    if !is_vical {
        return Err(nothing_here(target));
    }
    let id = service.child(&id).map_err(|_| nothing_here(target))?;
    repo.get(&id)
        .await?
        .and_then(|r| r.downcast::<VicalVersion>().ok())
        .map(|r| r.doc)
        .ok_or_else(|| nothing_here(target))
}

/// `GET /v1/{vicalService or version path}/vical-service-api/latest` (public): the signed VICAL
/// as hex text (the default), base64 text, or raw CBOR; an ETag (the bytes' SHA-256) and a
/// Cache-Control that never reaches past the version's nextUpdate. 304 when `If-None-Match`
/// names the current ETag.
pub async fn registry(
    repo: &dyn Repository,
    target: &Target,
    format: Format,
    if_none_match: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Reply, ApiError> {
    let v = resolve(repo, target).await?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&v.cbor)
        .map_err(|e| {
            ApiError::internal_msg(format!("stored VICAL {} is not base64: {e}", v.version_id))
        })?;
    let is_latest = target.parent().is_none_or(|p| p.leaf() != VERSIONS);
    let cap = if is_latest {
        LATEST_MAX_AGE
    } else {
        VERSION_MAX_AGE
    };
    let max_age = match v.next_update {
        Some(n) => (n - now).num_seconds().clamp(0, cap),
        None => cap,
    };
    let etag = format!(
        "\"{}-{}\"",
        v.sha256,
        match format {
            Format::Hex => "hex",
            Format::Base64 => "b64",
            Format::Cbor => "cbor",
        }
    );
    let cache = match max_age {
        0 => "no-cache".to_owned(),
        s => format!("public, max-age={s}"),
    };
    let headers = vec![
        ("etag", etag.clone()),
        ("cache-control", cache),
        ("x-vical-issue-id", v.vical_issue_id.to_string()),
    ];
    if if_none_match.is_some_and(|h| h.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        let mut r = Reply::empty(304);
        r.headers = headers;
        return Ok(r);
    }
    let mut reply = match format {
        Format::Hex => Reply::text(200, "text/plain; charset=utf-8", hex::encode(&bytes)),
        Format::Base64 => Reply::text(
            200,
            "text/plain; charset=utf-8",
            base64::engine::general_purpose::STANDARD.encode(&bytes),
        ),
        Format::Cbor => Reply::bytes(200, CBOR_MEDIA_TYPE, bytes),
    };
    reply.headers = headers;
    Ok(reply)
}
