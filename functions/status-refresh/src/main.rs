//! Scheduled (EventBridge): republishes every status list due for refresh: expiring within its
//! `ttl` + 5 minutes, never published, or whose last publish failed; and re-issues every IACA's
//! CRL at half its validity (or whose last publish failed), and publishes a new version of every
//! VICAL three quarters into its validity. Bounded by the invocation's
//! deadline; what is left is picked up by the next run. Optional event detail:
//! `{"lookaheadSeconds": n}` also refreshes lists due within the next n seconds.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use trustfn_http::App;

/// Lists read from the refresh index per page.
const PAGE: usize = 25;

async fn handle(app: Arc<App>, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let started = std::time::Instant::now();
    let (payload, ctx) = event.into_parts();
    let lookahead = payload
        .pointer("/detail/lookaheadSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .clamp(0, 30 * 86_400);
    // Leave ten seconds of the invocation for the last publish to finish and the answer.
    let deadline = ctx.deadline() - Duration::from_secs(10);
    let deps = app.publish_deps(deadline).await;
    let cx = trustfn_publish::Cx {
        repo: app.repo().await,
        deps: &deps,
    };
    let publishers: [&dyn trustfn_publish::Republisher; 3] = [
        &trustfn_status::StatusLists,
        &trustfn_certs::crl_publication::Crls,
        &trustfn_vical::refresh::Vicals,
    ];
    let report = trustfn_publish::refresh(&cx, &publishers, lookahead, PAGE, deps.deadline_ms)
        .await
        .map_err(|e| format!("refresh failed: {e}"))?;
    if report.failed > 0 && report.republished == 0 {
        // Nothing got through: an alarm on this code catches a registry or KMS outage.
        lambda_runtime::tracing::error!(
            code = "STATUS_REFRESH_ALL_FAILED",
            due = report.due,
            failed = report.failed,
            more = report.more,
            "status refresh run: every publish failed"
        );
    } else {
        lambda_runtime::tracing::info!(
            due = report.due,
            republished = report.republished,
            failed = report.failed,
            held = report.held,
            more = report.more,
            "status refresh run"
        );
    }
    // Sign each changed audit chain's head (README "Audit"), with what time is left.
    let checkpoints = match app.audit_checkpoint_key().await {
        Ok(Some((arn, public))) => {
            use trustfn_http::trustfn_domain::ports::KeyManager;
            let signer = app.kms().await.signer(arn, public.clone());
            let now = trustfn_publish::Clock::now_ms(&trustfn_publish::SystemClock);
            match trustfn_http::trustfn_domain::audit::checkpoint::run(
                app.repo().await,
                signer.as_ref(),
                now,
                deps.deadline_ms,
                app.audit_retention_days(),
            )
            .await
            {
                Ok(r) => json!(r),
                Err(e) => {
                    lambda_runtime::tracing::error!(code = "AUDIT_CHECKPOINT_FAILED", error = %e, "audit checkpoints failed");
                    json!({"error": e.to_string()})
                }
            }
        }
        Ok(None) => json!(null),
        Err(e) => {
            lambda_runtime::tracing::error!(code = "AUDIT_CHECKPOINT_FAILED", error = %e.message, "audit checkpoint key unavailable");
            json!({"error": e.message})
        }
    };
    report.emit_metrics(started.elapsed().as_millis() as i64);
    let signed = checkpoints.get("signed").and_then(Value::as_u64);
    trustfn_metrics::Emf::new()
        .count("CheckpointsSigned", signed.unwrap_or(0))
        .count(
            "CheckpointsFailed",
            checkpoints
                .get("failed")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                + u64::from(checkpoints.get("error").is_some()),
        )
        .emit();
    let mut out = json!(report);
    out["checkpoints"] = checkpoints;
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::init_tracing();
    let app = Arc::new(App::from_env().await?);
    lambda_runtime::run(service_fn(move |ev| handle(app.clone(), ev))).await
}
