//! Calls to tenant-chosen endpoints: the HTTP client every writer uses (no redirects, timeouts,
//! a resolver that never hands out internal addresses) and the one redaction every error text
//! goes through before it reaches a log line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use trustfn_domain::endpoint::{public_address, Endpoints};

/// Connection setup, and a whole request (connect, upload, answer), at most.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Resolves host names with the system resolver and keeps only public addresses, unless the
/// host belongs to an origin the deployment allows (local emulators). Checked at connect time,
/// so a name that resolved to a public address when the configuration was saved and to an
/// internal one now (DNS rebinding) is refused.
struct PublicResolver(Endpoints);

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allowed = self.0.allows_host(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allowed || public_address(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client of the Azure and GCS writers.
pub fn http_client(endpoints: &Endpoints) -> reqwest::Client {
    // The client takes the process's rustls crypto provider: ring, the one library every
    // outbound TLS connection and the signers use (an error only says one is installed).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .dns_resolver(Arc::new(PublicResolver(endpoints.clone())))
        .build()
        .expect("an HTTP client with these settings")
}

/// Before each use, a tenant-named endpoint is checked again (IP literals never reach the
/// resolver); its host name is checked by [`http_client`]'s resolver when it connects, which
/// every registry writer uses.
pub fn check_endpoint(endpoints: &Endpoints, raw: &str) -> Result<(), String> {
    endpoints
        .check(raw)
        .map(|_| ())
        .map_err(|why| format!("endpointUrl {why}"))
}

/// Text safe for a log line: URL query strings (SAS tokens live there), `sig=` values, bearer
/// tokens, PEM blocks and connection-string secrets are replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // PEM blocks first: they span lines and words.
    while let Some(start) = rest.find("-----BEGIN") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-----END") {
            Some(end) => {
                let tail = &rest[start + end + 8..];
                let close = tail.find("-----").map(|i| i + 5).unwrap_or(tail.len());
                out.push_str("***");
                rest = &tail[close..];
            }
            None => {
                out.push_str("***");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let mut words: Vec<String> = Vec::new();
    let mut bearer = false;
    for word in out.split(' ') {
        let mut w = word.to_owned();
        if bearer {
            w = "***".into();
        }
        bearer = w.eq_ignore_ascii_case("bearer");
        if let Some(q) = w.find('?') {
            if w[..q].contains("://") || w[q..].contains('=') {
                w = format!("{}?***", &w[..q]);
            }
        }
        for key in [
            "sig=",
            "AccountKey=",
            "SharedAccessSignature=",
            "access_token",
            "ya29.",
        ] {
            if let Some(i) = w.find(key) {
                w = format!("{}{key}***", &w[..i]);
            }
        }
        words.push(w);
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_secret_shape() {
        let cases = [
            "error sending request for url (https://acct.blob.core.windows.net/c/x?sv=2021&sig=AbC%2B)",
            "PUT http://127.0.0.1:9/x?sig=AbC failed",
            "Authorization: Bearer ya29.a0AfB_secret",
            "key -----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY----- end",
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=core",
            "sv=2021-08-06&ss=b&sig=AbC",
            "{\"access_token\": \"ya29.x\"}",
        ];
        for c in cases {
            let r = redact(c);
            for secret in ["AbC", "ya29.a0", "MIIEv", "c2VjcmV0", "ya29.x"] {
                assert!(!r.contains(secret), "{c} -> {r}");
            }
        }
        assert_eq!(
            redact("S3 PutObject: HTTP 503 from https://s3.example.com/b/k"),
            "S3 PutObject: HTTP 503 from https://s3.example.com/b/k"
        );
    }
}
