//! `GET /console` and `GET /console/{proxy+}`: the operator console, a single-page app built from
//! console/ and embedded in this binary (no bucket, no CDN at run time), and `config.json`, what
//! the page needs to sign in (the issuer, the client id, the scope and resource to ask for).
//!
//! Every answer carries a strict Content-Security-Policy: scripts and styles from this origin
//! only (the page has no inline script or style), connections to this origin and the identity
//! provider only, no framing. The page keeps its token in memory; nothing here sets a cookie.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use trustfn_http::lambda_http::http::{header, HeaderValue, StatusCode};
use trustfn_http::lambda_http::{service_fn, Body, Request, Response};
use trustfn_http::trustfn_domain::ApiError;
use trustfn_http::Error;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    plain: &'static [u8],
    gzip: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            plain: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../console/dist/",
                $name
            )),
            gzip: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../console/dist/",
                $name,
                ".gz"
            )),
        }
    };
}

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
const ASSETS: [Asset; 2] = [
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
];

/// What the page reads at start, from the stack's configuration.
#[derive(Clone)]
struct Settings {
    config_json: Vec<u8>,
    csp: String,
}

fn settings() -> &'static Settings {
    static S: OnceLock<Settings> = OnceLock::new();
    S.get_or_init(|| {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let issuer = get("TRUSTFN_OIDC_ISSUER");
        // connect-src: this origin, and the provider's origin (discovery and token endpoint).
        let provider = issuer
            .as_deref()
            .and_then(|i| url::Url::parse(i).ok())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null");
        let config = serde_json::json!({
            "issuer": issuer,
            "clientId": get("TRUSTFN_CONSOLE_CLIENT_ID"),
            "scope": get("TRUSTFN_CONSOLE_SCOPE").unwrap_or_else(|| "openid email".to_owned()),
            "resource": get("TRUSTFN_CONSOLE_RESOURCE"),
        });
        Settings {
            config_json: serde_json::to_vec(&config).expect("json"),
            csp: format!(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'{}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                provider.map(|p| format!(" {p}")).unwrap_or_default()
            ),
        }
    })
}

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", &hex::encode(Sha256::digest(bytes))[..32])
}

fn answer(req: &Request, content_type: &str, plain: &[u8], gzip: Option<&[u8]>) -> Response<Body> {
    let tag = etag(plain);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == tag)
        });
    let gzip_ok = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|e| e.split(';').next().map(str::trim) == Some("gzip"))
        });
    let (status, body, encoded) = match (fresh, gzip.filter(|_| gzip_ok)) {
        (true, _) => (StatusCode::NOT_MODIFIED, Body::Empty, false),
        (false, Some(gz)) => (StatusCode::OK, Body::Binary(gz.to_vec()), true),
        (false, None) => (StatusCode::OK, Body::Binary(plain.to_vec()), false),
    };
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ETAG, tag)
        .header(header::VARY, "Accept-Encoding")
        // Revalidated on every load (a deploy changes them at once); 304s keep that cheap.
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("a response");
    if encoded {
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    secure(&mut resp);
    resp
}

/// The headers every answer of the console carries.
fn secure(resp: &mut Response<Body>) {
    let h = resp.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_str(&settings().csp).expect("an ASCII policy"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

async fn handle(req: Request) -> Result<Response<Body>, Error> {
    let path = req.uri().path().to_owned();
    let rest = path
        .strip_prefix("/console")
        .unwrap_or("")
        .trim_start_matches('/');
    if req.method().as_str() != "GET" {
        return Ok(error(
            &req,
            ApiError::not_found(format!("no route for {} {path}", req.method())),
        ));
    }
    if rest == "config.json" {
        return Ok(answer(
            &req,
            "application/json",
            &settings().config_json,
            None,
        ));
    }
    if let Some(a) = ASSETS.iter().find(|a| a.name == rest) {
        return Ok(answer(&req, a.content_type, a.plain, Some(a.gzip)));
    }
    // A file name that is not one of the assets is a 404; any other path is a page of the app
    // (the sign-in callback among them): the same index.
    if rest
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
    {
        return Ok(error(
            &req,
            ApiError::not_found(format!("no console asset {path}")),
        ));
    }
    Ok(answer(
        &req,
        INDEX.content_type,
        INDEX.plain,
        Some(INDEX.gzip),
    ))
}

fn error(req: &Request, e: ApiError) -> Response<Body> {
    let mut resp = trustfn_http::respond(req.method().as_str(), req.uri().path(), Err(e));
    secure(&mut resp);
    resp
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::init_tracing();
    trustfn_http::lambda_http::run(service_fn(handle)).await
}
