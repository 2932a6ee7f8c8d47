//! `ANY /{proxy+}`: the API Gateway route of last resort. Requests no route matches (an unknown
//! path, or a known path with another method) get the Enterprise API error JSON instead of the
//! gateway's `{"message": "Not Found"}`. No authentication, no storage call.

use trustfn_http::lambda_http::{service_fn, Body, Request, Response};
use trustfn_http::trustfn_domain::ApiError;
use trustfn_http::Error;

async fn handle(req: Request) -> Result<Response<Body>, Error> {
    let (method, path) = (req.method().as_str(), req.uri().path());
    let out = Err(ApiError::not_found(format!(
        "no route for {method} {path} (see infra/openapi.yaml for the API)"
    )));
    Ok(trustfn_http::respond(method, path, out))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::init_tracing();
    trustfn_http::lambda_http::run(service_fn(handle)).await
}
