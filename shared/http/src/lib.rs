//! What every trustfn function shares between `lambda_http` and the domain: start-up (clients
//! built once), request parsing at the edge (targets, bodies, auth), and answers in the walt.id
//! error shape. A function's main is `trustfn_http::run(handler)`.

use std::future::Future;
use std::sync::Arc;

use lambda_http::http::{header, HeaderMap, StatusCode};
use lambda_http::{Body, RequestExt, Response};
use serde::de::DeserializeOwned;
use trustfn_domain::audit::{self, Audited};
use trustfn_domain::authn::AdminToken;
use trustfn_domain::registry_config::RegistryPolicy;
use trustfn_domain::reply::{PageParams, Reply};
use trustfn_domain::repo::Repository;
use trustfn_domain::{ApiError, Target};
use trustfn_dynamo::DynamoRepo;

mod public_url;
pub use public_url::public_api_url;
mod defaults;
mod principal;
pub mod sso;
pub mod unsupported;

pub use lambda_http::{self, Error, Request};
pub use trustfn_domain;

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// Everything a handler needs, built once per cold start. Nothing here touches the AWS SDK at
/// init: the SDK configuration and every client are built on first use (the init phase of a
/// function stays as short as a hello-world's; see docs/BENCHMARKS.md).
pub struct App {
    pub admin: AdminToken,
    registry_policy: RegistryPolicy,
    table: String,
    repo: tokio::sync::OnceCell<Arc<Audited>>,
    retention_days: i64,
    sdk: Arc<Sdk>,
    #[cfg(feature = "kms")]
    kms: tokio::sync::OnceCell<trustfn_kms::Kms>,
    #[cfg(feature = "kms")]
    checkpoint_key: tokio::sync::OnceCell<Option<(String, trustfn_domain::ports::PublicKey)>>,
    #[cfg(feature = "kms")]
    secrets: tokio::sync::OnceCell<trustfn_kms::KmsSecrets>,
    #[cfg(feature = "status")]
    registries: tokio::sync::OnceCell<trustfn_registry::CloudRegistries>,
    /// The trusted OpenID Connect issuer, when one is configured.
    sso: Option<sso::Sso>,
}

/// The AWS SDK configuration, loaded from the environment on first use.
#[derive(Default)]
struct Sdk(tokio::sync::OnceCell<aws_config::SdkConfig>);

impl Sdk {
    async fn get(&self) -> &aws_config::SdkConfig {
        self.0
            .get_or_init(|| async {
                // Every AWS call (DynamoDB, KMS) is bounded: a stalled endpoint costs seconds,
                // not the Lambda's timeout. No per-attempt limit: an attempt that is slow but
                // commits must not be retried into a spurious conflict.
                let timeouts = aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(2))
                    .operation_timeout(std::time::Duration::from_secs(9))
                    .build();
                // rustls with ring: the crypto library the signer crates link already.
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https();
                aws_config::from_env()
                    .http_client(http)
                    .timeout_config(timeouts)
                    .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
                    .load()
                    .await
            })
            .await
    }
}

impl App {
    /// Builds the app from the environment: `TABLE_NAME` (required), `TRUSTFN_ADMIN_TOKEN` or
    /// `TRUSTFN_ADMIN_TOKEN_SHA256`, and the standard AWS SDK variables (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL[_DYNAMODB]`, credentials), which are read on first use.
    pub async fn from_env() -> Result<App, Error> {
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
        let admin = AdminToken::new(
            std::env::var("TRUSTFN_ADMIN_TOKEN").ok().as_deref(),
            std::env::var("TRUSTFN_ADMIN_TOKEN_SHA256").ok().as_deref(),
        )?;
        let mut app = App::assemble(tokio::sync::OnceCell::new(), table, admin);
        app.retention_days = match std::env::var("TRUSTFN_AUDIT_RETENTION_DAYS") {
            Err(_) => audit::DEFAULT_RETENTION_DAYS,
            Ok(v) => v.parse::<i64>().ok().filter(|d| *d >= 1).ok_or_else(|| {
                format!("TRUSTFN_AUDIT_RETENTION_DAYS {v:?}: a number of days, 1 or more")
            })?,
        };
        app.registry_policy = RegistryPolicy::from_settings(
            &std::env::var("TRUSTFN_ALLOWED_ENDPOINTS").unwrap_or_default(),
            &std::env::var("TRUSTFN_STATUS_BUCKETS").unwrap_or_default(),
        )
        .map_err(|e| format!("TRUSTFN_ALLOWED_ENDPOINTS / TRUSTFN_STATUS_BUCKETS: {e}"))?;
        app.sso = sso::Sso::from_env()?;
        // Functions that publish refuse to start with a lease setting that is not one.
        #[cfg(feature = "status")]
        trustfn_publish::timing::check_lease_setting()?;
        Ok(app)
    }

    /// What registries may reach in this deployment (`TRUSTFN_ALLOWED_ENDPOINTS`,
    /// `TRUSTFN_STATUS_BUCKETS`).
    pub fn registry_policy(&self) -> &RegistryPolicy {
        &self.registry_policy
    }

    /// For tests: an app over any repository (audited, as always).
    pub fn with_repo(repo: Arc<dyn Repository>, admin: AdminToken) -> App {
        let audited = Arc::new(Audited::new(repo, audit::DEFAULT_RETENTION_DAYS));
        App::assemble(
            tokio::sync::OnceCell::new_with(Some(audited)),
            String::new(),
            admin,
        )
    }

    fn assemble(
        repo: tokio::sync::OnceCell<Arc<Audited>>,
        table: String,
        admin: AdminToken,
    ) -> App {
        App {
            admin,
            registry_policy: RegistryPolicy::default(),
            table,
            repo,
            retention_days: audit::DEFAULT_RETENTION_DAYS,
            sdk: Arc::new(Sdk::default()),
            #[cfg(feature = "kms")]
            kms: tokio::sync::OnceCell::new(),
            #[cfg(feature = "kms")]
            checkpoint_key: tokio::sync::OnceCell::new(),
            #[cfg(feature = "kms")]
            secrets: tokio::sync::OnceCell::new(),
            #[cfg(feature = "status")]
            registries: tokio::sync::OnceCell::new(),
            sso: None,
        }
    }

    /// The repository: DynamoDB, its client built on the first storage call, audited (every
    /// commit that changes something appends its organization's audit entry in the same
    /// transaction).
    pub async fn repo(&self) -> &dyn Repository {
        self.audited().await
    }

    async fn audited(&self) -> &Audited {
        self.repo
            .get_or_init(|| async {
                let client = aws_sdk_dynamodb::Client::new(self.sdk.get().await);
                let table = DynamoRepo::new(client, self.table.clone());
                Arc::new(Audited::new(Arc::new(table), self.retention_days))
            })
            .await
            .as_ref()
    }

    /// Seals and opens registry secrets with the KMS key in `TRUSTFN_SECRETS_KEY_ID`.
    #[cfg(feature = "kms")]
    pub async fn secrets(&self) -> &trustfn_kms::KmsSecrets {
        self.secrets
            .get_or_init(|| async {
                let key = std::env::var("TRUSTFN_SECRETS_KEY_ID")
                    .ok()
                    .filter(|k| !k.is_empty());
                let client = aws_sdk_kms::Client::new(self.sdk.get().await);
                trustfn_kms::KmsSecrets::new(client, key)
            })
            .await
    }

    /// The status-list registry writers (S3, Azure Blob, GCS).
    #[cfg(feature = "status")]
    pub async fn registries(&self) -> &trustfn_registry::CloudRegistries {
        self.registries
            .get_or_init(|| async {
                trustfn_registry::CloudRegistries::new(
                    self.sdk.get().await.clone(),
                    self.registry_policy.clone(),
                )
            })
            .await
    }

    /// What publishing status lists and CRLs needs: KMS, the secret box, the registry writers
    /// and the system clock, publishing until `deadline` (see [`publish_deadline`]).
    #[cfg(feature = "status")]
    pub async fn publish_deps(
        &self,
        deadline: std::time::SystemTime,
    ) -> trustfn_publish::PublishDeps<'_> {
        let deadline_ms = deadline
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        trustfn_publish::PublishDeps {
            kms: self.kms().await,
            secrets: self.secrets().await,
            registries: self.registries().await,
            clock: &trustfn_publish::SystemClock,
            deadline_ms,
        }
    }

    /// The KMS client, built on first use from the same SDK configuration.
    #[cfg(feature = "kms")]
    pub async fn kms(&self) -> &trustfn_kms::Kms {
        self.kms
            .get_or_init(|| async {
                trustfn_kms::Kms::new(aws_sdk_kms::Client::new(self.sdk.get().await)).with_creator(
                    std::env::var("TRUSTFN_KEY_CREATOR_ROLE").ok(),
                    std::env::var("TRUSTFN_STACK").ok(),
                )
            })
            .await
    }

    /// The audit checkpoint key (`TRUSTFN_AUDIT_CHECKPOINT_KEY_ID`, an ARN) and its public key,
    /// read from KMS once; `None` when the deployment has none.
    #[cfg(feature = "kms")]
    pub async fn audit_checkpoint_key(
        &self,
    ) -> Result<Option<&(String, trustfn_domain::ports::PublicKey)>, ApiError> {
        use trustfn_domain::ports::KeyManager;
        let found = self
            .checkpoint_key
            .get_or_try_init(|| async {
                let Some(arn) = std::env::var("TRUSTFN_AUDIT_CHECKPOINT_KEY_ID")
                    .ok()
                    .filter(|a| !a.is_empty())
                else {
                    return Ok::<_, ApiError>(None);
                };
                let public = self.kms().await.public_key(&arn).await?;
                Ok(Some((arn, public)))
            })
            .await?;
        Ok(found.as_ref())
    }

    /// How long audit entries are kept (`TRUSTFN_AUDIT_RETENTION_DAYS`).
    pub fn audit_retention_days(&self) -> i64 {
        self.retention_days
    }
}

/// Time a function keeps to answer after it stops publishing.
pub const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Until when a request may publish: its invocation's deadline less [`ANSWER_MARGIN`] (a
/// publish lease never outlives it). Outside Lambda (tests), 25 seconds from now.
pub fn publish_deadline(req: &Request) -> std::time::SystemTime {
    let deadline = req
        .lambda_context_ref()
        .map(|c| c.deadline())
        .filter(|d| *d > std::time::UNIX_EPOCH)
        .unwrap_or_else(|| std::time::SystemTime::now() + std::time::Duration::from_secs(27));
    deadline - ANSWER_MARGIN
}

/// Structured JSON logs (the Lambda runtime's subscriber; JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`).
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}

/// Runs a Lambda whose handler maps a request to a reply. Errors become walt.id error JSON;
/// the invocation itself never fails.
pub async fn run<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Arc<App>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, ApiError>> + Send,
{
    run_with_query(&[], handler).await
}

/// Query parameters of the list endpoints.
pub const PAGE_QUERY: &[&str] = &["limit", "offset", "cursor"];

/// [`run`] for an endpoint that takes the query parameters `accepted`; any other one is a 400,
/// never silently ignored.
pub async fn run_with_query<F, Fut>(
    accepted: &'static [&'static str],
    handler: F,
) -> Result<(), Error>
where
    F: Fn(Arc<App>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, ApiError>> + Send,
{
    init_tracing();
    let app = Arc::new(App::from_env().await?);
    let handler = Arc::new(handler);
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let app = app.clone();
        let handler = handler.clone();
        async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            let request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
            let started = std::time::Instant::now();
            // The invocation's time budget, when the runtime says (for the near-timeout metric).
            let budget_ms = req.lambda_context_ref().and_then(|c| {
                c.deadline()
                    .duration_since(std::time::SystemTime::now())
                    .ok()
                    .map(|d| d.as_millis() as u64)
            });
            let out = audit::context::scope(request_id, async {
                let out = match unknown_query(&req, accepted) {
                    Some(e) => Err(e),
                    None => handler(app.clone(), req).await,
                };
                // A refusal is on the record too, in the caller's own organization's chain.
                if matches!(&out, Err(e) if e.status == 403) {
                    if let Err(e) = app.audited().await.record_denied().await {
                        tracing::error!(error = %e, "the refusal could not be recorded in the audit log");
                    }
                }
                out
            })
            .await;
            request_metrics(&out, started.elapsed().as_millis() as u64, budget_ms);
            Ok::<_, Error>(respond(&method, &path, out))
        }
    }))
    .await
}

/// A request's metrics, only when there is something to page about (no line per request):
/// `ServerError` for a 5xx answer, `NearTimeout` when the request used more than 80% of the
/// invocation's time (the next slower call times out).
fn request_metrics(out: &Result<Reply, ApiError>, elapsed_ms: u64, budget_ms: Option<u64>) {
    let server_error = matches!(out, Err(e) if e.status >= 500);
    let near_timeout = budget_ms.is_some_and(|b| elapsed_ms * 5 > b * 4);
    if server_error || near_timeout {
        trustfn_metrics::Emf::new()
            .count("ServerError", server_error as u64)
            .count("NearTimeout", near_timeout as u64)
            .ms("RequestDuration", elapsed_ms as f64)
            .emit();
    }
}

/// Turns a handler's outcome into the HTTP response, logging one line per request.
pub fn respond(method: &str, path: &str, out: Result<Reply, ApiError>) -> Response<Body> {
    match out {
        Ok(reply) => {
            tracing::info!(method, path, status = reply.status, "request handled");
            let mut b = Response::builder().status(reply.status);
            for (k, v) in &reply.headers {
                b = b.header(*k, v.as_str());
            }
            match (reply.body, reply.text, reply.binary) {
                (Some(v), _, _) => b
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::Text(v.to_string()))
                    .expect("valid response"),
                (None, Some((media_type, text)), _) => b
                    .header(header::CONTENT_TYPE, media_type)
                    .body(Body::Text(text))
                    .expect("valid response"),
                (None, None, Some((media_type, bytes))) => b
                    .header(header::CONTENT_TYPE, media_type)
                    .body(Body::Binary(bytes))
                    .expect("valid response"),
                (None, None, None) => b.body(Body::Empty).expect("valid response"),
            }
        }
        Err(e) => {
            // The one log line of an error: its cause (storage, KMS, parser) is here and only here.
            let cause = e.cause.as_deref().unwrap_or("");
            if e.status >= 500 {
                tracing::error!(
                    method,
                    path,
                    status = e.status,
                    error_id = e.id,
                    cause,
                    "request failed"
                );
            } else {
                tracing::info!(method, path, status = e.status, error_id = e.id, message = %e.message, cause, "request rejected");
            }
            error_response(&e)
        }
    }
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(e.to_json()))
        .expect("valid response")
}

/// A path parameter, URL-decoded by API Gateway.
pub fn path_param<'a>(req: &'a Request, name: &str) -> Result<&'a str, ApiError> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .ok_or_else(|| {
            ApiError::bad_request(
                "BadRequestException",
                format!("missing path parameter {{{name}}}"),
            )
        })
}

/// The `{target}` path parameter, parsed.
pub fn target(req: &Request) -> Result<Target, ApiError> {
    Target::parse(path_param(req, "target")?)
}

/// The `organization` query parameter (the audit and events routes): one segment, parsed.
pub fn organization_param(req: &Request) -> Result<Target, ApiError> {
    let org = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("organization").map(str::to_owned))
        .ok_or_else(|| ApiError::validation("organization: name the organization"))?;
    let org = Target::parse(&org)
        .map_err(|e| ApiError::validation(format!("organization: {}", e.message)))?;
    if org.depth() != 1 {
        return Err(ApiError::validation(
            "organization: one segment, the organization's id",
        ));
    }
    Ok(org)
}

/// `limit` and `cursor` query parameters.
pub fn page_params(req: &Request) -> PageParams {
    let q = req.query_string_parameters_ref();
    PageParams {
        limit: q.and_then(|q| q.first("limit")).map(str::to_owned),
        offset: q.and_then(|q| q.first("offset")).map(str::to_owned),
        cursor: q.and_then(|q| q.first("cursor")).map(str::to_owned),
    }
}

/// The first value of the query parameter `name`.
pub fn query_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
}

/// A 400 naming the first query parameter of `req` that is not in `accepted`.
pub fn unknown_query(req: &Request, accepted: &[&str]) -> Option<ApiError> {
    let q = req.query_string_parameters_ref()?;
    let unknown = q.iter().map(|(k, _)| k).find(|k| !accepted.contains(k))?;
    Some(ApiError::validation(if accepted.is_empty() {
        format!("unknown query parameter {unknown:?}: this endpoint takes none")
    } else {
        format!(
            "unknown query parameter {unknown:?}: this endpoint takes {}",
            accepted.join(", ")
        )
    }))
}

fn body_bytes(req: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY {
        return Err(ApiError::payload_too_large(MAX_BODY));
    }
    Ok(bytes)
}

fn media_type(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(header::CONTENT_TYPE) {
        None => Ok(None),
        Some(v) => {
            let s = v
                .to_str()
                .map_err(|_| ApiError::unsupported_media_type("Content-Type is not valid"))?;
            Ok(Some(
                s.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase(),
            ))
        }
    }
}

fn is_json(mt: &str) -> bool {
    mt == "application/json" || (mt.starts_with("application/") && mt.ends_with("+json"))
}

/// A JSON body parsed into `T`. `Content-Type` must be JSON (or absent); size and nesting are limited.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes = body_bytes(req)?;
    if let Some(mt) = media_type(req.headers())? {
        if !is_json(&mt) {
            return Err(ApiError::unsupported_media_type(format!(
                "Content-Type must be application/json, not {mt}"
            )));
        }
    }
    trustfn_domain::json::parse(bytes)
}

/// The body of a dependency call, in any of its forms: a raw path (as `text/plain`, or unquoted
/// under `application/json`, as the Enterprise API's dependency page sends it), a JSON string,
/// or `{"dependency": "<path>"}`.
pub fn dependency_body(req: &Request) -> Result<String, ApiError> {
    let bytes = body_bytes(req)?;
    let mt = media_type(req.headers())?;
    if let Some(m) = mt.as_deref().filter(|m| !is_json(m) && *m != "text/plain") {
        return Err(ApiError::unsupported_media_type(format!(
            "Content-Type must be application/json or text/plain, not {m}"
        )));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("BadRequestException", "body is not valid UTF-8"))?;
    let trimmed = text.trim();
    let looks_json = trimmed.starts_with(['"', '{', '[']);
    // A bare path is one token of path characters; anything else is parsed as JSON.
    let bare_path = !trimmed.is_empty()
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    match mt.as_deref() {
        _ if bare_path => Ok(trimmed.to_owned()),
        Some(m) if is_json(m) => dependency_from_json(bytes),
        Some("text/plain") | None if !looks_json => {
            if trimmed.is_empty() {
                Err(ApiError::validation("body must name the dependency"))
            } else {
                Ok(trimmed.to_owned())
            }
        }
        _ => dependency_from_json(bytes),
    }
}

fn dependency_from_json(bytes: &[u8]) -> Result<String, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Dep {
        Path(String),
        Object { dependency: String },
    }
    match trustfn_domain::json::parse::<serde_json::Value>(bytes)? {
        v @ (serde_json::Value::String(_) | serde_json::Value::Object(_)) => {
            match serde_json::from_value::<Dep>(v) {
                Ok(Dep::Path(p)) | Ok(Dep::Object { dependency: p }) => Ok(p),
                Err(_) => Err(ApiError::validation(
                    "body must be a path string or {\"dependency\": \"<path>\"}",
                )),
            }
        }
        _ => Err(ApiError::validation(
            "body must be a path string or {\"dependency\": \"<path>\"}",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    fn req(ct: Option<&str>, body: &str) -> Request {
        let mut b = http::Request::builder().method("POST").uri("/x");
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        b.body(Body::Text(body.to_owned())).unwrap()
    }

    #[test]
    fn dependency_bodies_in_all_three_forms() {
        for (ct, body) in [
            (Some("text/plain"), "acme.t1.kms"),
            (None, "acme.t1.kms\n"),
            (Some("application/json"), "\"acme.t1.kms\""),
            (
                Some("application/json; charset=utf-8"),
                "{\"dependency\": \"acme.t1.kms\"}",
            ),
            (Some("text/plain"), "\"acme.t1.kms\""),
            // Unquoted, with a JSON content type (the Enterprise API's dependency page).
            (Some("application/json"), "acme.t1.kms"),
            (Some("application/json"), " acme.t1.kms\n"),
        ] {
            assert_eq!(
                dependency_body(&req(ct, body)).unwrap(),
                "acme.t1.kms",
                "{ct:?} {body}"
            );
        }
        assert_eq!(
            dependency_body(&req(Some("application/json"), "[1]"))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            dependency_body(&req(Some("application/json"), "acme t1"))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            dependency_body(&req(Some("application/json"), "{\"dep\": 1}"))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            dependency_body(&req(Some("image/png"), "x"))
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            dependency_body(&req(Some("text/plain"), "  "))
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn json_bodies_check_type_and_size() {
        let v: serde_json::Value = json_body(&req(Some("application/json"), "{\"a\":1}")).unwrap();
        assert_eq!(v["a"], 1);
        let mut bin = req(Some("application/json"), "");
        *bin.body_mut() = Body::Binary(b"{\"name\": \"\xff\"}".to_vec());
        assert_eq!(
            json_body::<serde_json::Value>(&bin).unwrap_err().status,
            400
        );
        *bin.body_mut() = Body::Binary(b"\xff\xfe".to_vec());
        assert_eq!(dependency_body(&bin).unwrap_err().status, 400);
        let e =
            json_body::<serde_json::Value>(&req(Some("application/x-www-form-urlencoded"), "a=1"))
                .unwrap_err();
        assert_eq!(e.status, 415);
        let big = format!("\"{}\"", "x".repeat(MAX_BODY));
        assert_eq!(
            json_body::<serde_json::Value>(&req(None, &big))
                .unwrap_err()
                .status,
            413
        );
    }

    #[test]
    fn errors_render_in_waltid_shape() {
        let r = error_response(&ApiError::forbidden("no"));
        assert_eq!(r.status(), 403);
        let Body::Text(t) = r.body() else {
            panic!("text body")
        };
        let v: serde_json::Value = serde_json::from_str(t).unwrap();
        assert_eq!(
            (v["code"].as_str(), v["status"].as_str()),
            (Some("403"), Some("Forbidden"))
        );
    }
}
