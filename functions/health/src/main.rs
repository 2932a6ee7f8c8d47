//! `GET /health`: liveness, no authentication, no storage call.

use trustfn_http::lambda_http::{service_fn, Body, Request, Response};
use trustfn_http::trustfn_domain::Reply;
use trustfn_http::Error;

async fn handle(req: Request) -> Result<Response<Body>, Error> {
    let reply = Reply::json(
        200,
        serde_json::json!({"status": "UP", "version": env!("CARGO_PKG_VERSION")}),
    );
    Ok(trustfn_http::respond(
        req.method().as_str(),
        req.uri().path(),
        Ok(reply),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::init_tracing();
    trustfn_http::lambda_http::run(service_fn(handle)).await
}
