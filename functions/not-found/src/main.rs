//! `ANY /{proxy+}`: the API Gateway route of last resort. Requests no route matches (an unknown
//! path, or a known path with another method) get the Enterprise API error JSON instead of the
//! gateway's `{"message": "Not Found"}`; walt.id routes trustfn does not serve get a 400 saying
//! why and what to use instead. No authentication, no storage call.

use trustfn_http::lambda_http::{service_fn, Body, Request, Response};
use trustfn_http::trustfn_domain::ApiError;
use trustfn_http::Error;

async fn handle(req: Request) -> Result<Response<Body>, Error> {
    let (method, path) = (req.method().as_str(), req.uri().path());
    // The console lives at /console (API Gateway matches neither of its routes for /console/).
    if method == "GET" && path == "/console/" {
        return Ok(Response::builder()
            .status(302)
            .header("location", "/console")
            .body(Body::Empty)
            .expect("a redirect"));
    }
    // A walt.id route trustfn deliberately does not serve says why; any other is unknown.
    let out = Err(
        trustfn_http::unsupported::refusal(method, path).unwrap_or_else(|| {
            ApiError::not_found(format!(
                "no route for {method} {path} (see infra/openapi.yaml for the API)"
            ))
        }),
    );
    Ok(trustfn_http::respond(method, path, out))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::init_tracing();
    trustfn_http::lambda_http::run(service_fn(handle)).await
}
