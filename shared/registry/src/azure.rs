//! Azure Blob Storage: `Put Blob` with Shared Key or SAS authorization (works with Azurite).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use trustfn_domain::ports::{Expect, Found};
use trustfn_domain::registry_config::{connection_string_field, AzureRegistry, Secret};

const VERSION: &str = "2021-08-06";

pub struct Azure {
    http: reqwest::Client,
    account: String,
    /// `https://{account}.blob.core.windows.net` or e.g. `http://127.0.0.1:10000/devstoreaccount1`.
    endpoint: url::Url,
    container: String,
    auth: Auth,
}

enum Auth {
    SharedKey(Vec<u8>),
    Sas(String),
}

/// The `BlobEndpoint` of a connection string: an endpoint the tenant chose, checked like
/// `endpointUrl`.
pub fn blob_endpoint(cs: &str) -> Option<String> {
    connection_string(cs)("BlobEndpoint")
}

/// `AccountName=...;AccountKey=...;BlobEndpoint=...;SharedAccessSignature=...`
fn connection_string(cs: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |k: &str| connection_string_field(cs, k).map(str::to_owned)
}

impl Azure {
    pub fn open(http: reqwest::Client, reg: &AzureRegistry<Secret>) -> Result<Azure, String> {
        let account = reg.account_name.clone();
        let container = reg.container_name.clone();
        let mut endpoint = reg.endpoint_url.clone();
        let auth = if let Some(key) = &reg.account_key {
            Auth::SharedKey(
                // The decoder's detail would quote a byte of the key: left out on purpose.
                B64.decode(key.expose().trim())
                    .map_err(|_| "accountKey is not base64")?,
            )
        } else if let Some(sas) = &reg.sas_token {
            Auth::Sas(sas.expose().trim_start_matches('?').to_owned())
        } else if let Some(cs) = &reg.connection_string {
            let get = connection_string(cs.expose());
            if endpoint.is_none() {
                endpoint = get("BlobEndpoint");
            }
            match (get("AccountKey"), get("SharedAccessSignature")) {
                (Some(k), _) => Auth::SharedKey(
                    B64.decode(k.trim())
                        .map_err(|_| "the connection string's AccountKey is not base64")?,
                ),
                (None, Some(sas)) => Auth::Sas(sas),
                _ => {
                    return Err(
                        "the connection string has neither AccountKey nor SharedAccessSignature"
                            .into(),
                    )
                }
            }
        } else {
            return Err("the azure registry needs accountKey, sasToken or connectionString (no managed identity on AWS Lambda)".into());
        };
        let endpoint = match endpoint {
            Some(e) => url::Url::parse(e.trim_end_matches('/'))
                .map_err(|e| format!("the blob endpoint is not a URL ({e})"))?,
            // The account name passed its grammar (3-24 lower-case letters and digits), so it
            // can only be a host label; the URL is built, then checked to be exactly that host.
            None => {
                let host = format!("{account}.blob.core.windows.net");
                let mut u =
                    url::Url::parse("https://blob.core.windows.net").expect("a constant URL");
                u.set_host(Some(&host))
                    .map_err(|e| format!("accountName does not make a host name ({e})"))?;
                if u.host_str() != Some(host.as_str()) {
                    return Err("accountName does not make a host name".into());
                }
                u
            }
        };
        Ok(Azure {
            http,
            account,
            endpoint,
            container,
            auth,
        })
    }
}

impl Azure {
    /// The blob's URL (without a SAS) and what a Shared Key signature canonicalizes it as.
    fn blob_url(&self, key: &str) -> (String, String) {
        // Only the path is set, from escaped segments: no name or key can change the host or
        // add a query or a fragment.
        let mut url = self.endpoint.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        let path_key: String = key
            .split('/')
            .map(crate::encode_segment)
            .collect::<Vec<_>>()
            .join("/");
        url.set_path(&format!(
            "{base}/{}/{path_key}",
            crate::encode_segment(&self.container)
        ));
        // Canonicalized resource: "/" + account + the URL path (Azurite's path already starts
        // with the account, so it appears twice there, as the service expects).
        let resource = format!("/{}{}", self.account, url.path());
        (url.to_string(), resource)
    }

    /// A request for the blob at `key` (with the SAS when that is the authorization), dated and
    /// versioned; and the date and canonicalized resource a Shared Key signature covers.
    fn request(
        &self,
        method: reqwest::Method,
        key: &str,
    ) -> (reqwest::RequestBuilder, String, String) {
        let (url, resource) = self.blob_url(key);
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let target = match &self.auth {
            Auth::Sas(sas) => format!("{url}?{sas}"),
            Auth::SharedKey(_) => url,
        };
        let req = self
            .http
            .request(method, &target)
            .header("x-ms-date", &date)
            .header("x-ms-version", VERSION);
        (req, date, resource)
    }

    /// The `Authorization` header of a Shared Key request whose string to sign is `to_sign`.
    fn shared_key(&self, key: &[u8], to_sign: &str) -> Result<String, crate::PutError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| "invalid account key")?;
        mac.update(to_sign.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        Ok(format!("SharedKey {}:{sig}", self.account))
    }
}

#[async_trait::async_trait]
impl crate::PutObject for Azure {
    async fn get_object(&self, key: &str) -> Result<Option<Found>, crate::PutError> {
        let (mut req, date, resource) = self.request(reqwest::Method::GET, key);
        if let Auth::SharedKey(k) = &self.auth {
            let to_sign = format!(
                "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{VERSION}\n{resource}"
            );
            req = req.header("Authorization", self.shared_key(k, &to_sign)?);
        }
        let resp = req.send().await.map_err(|e| {
            crate::PutError::transient(format!("Azure Get Blob: {}", e.without_url()))
        })?;
        crate::found_by_etag("Azure Get Blob", resp).await
    }

    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
        expect: Expect<'_>,
    ) -> Result<String, crate::PutError> {
        let (if_match, if_none_match) = match expect {
            Expect::Any => ("", ""),
            Expect::Absent => ("", "*"),
            Expect::Version(etag) => (etag, ""),
        };
        let (req, date, resource) = self.request(reqwest::Method::PUT, key);
        let mut req = req
            .header("x-ms-blob-type", "BlockBlob")
            .header("x-ms-blob-content-type", content_type)
            .header("x-ms-blob-cache-control", cache_control);
        if !if_match.is_empty() {
            req = req.header("If-Match", if_match);
        }
        if !if_none_match.is_empty() {
            req = req.header("If-None-Match", if_none_match);
        }
        if let Auth::SharedKey(k) = &self.auth {
            // VERB, Content-Encoding, -Language, -Length, -MD5, -Type, Date, If-Modified-Since,
            // If-Match, If-None-Match, If-Unmodified-Since, Range, then the x-ms- headers.
            let to_sign = format!(
                "PUT\n\n\n{}\n\n\n\n\n{if_match}\n{if_none_match}\n\n\nx-ms-blob-cache-control:{cache_control}\nx-ms-blob-content-type:{content_type}\nx-ms-blob-type:BlockBlob\nx-ms-date:{date}\nx-ms-version:{VERSION}\n{resource}",
                body.len(),
            );
            req = req.header("Authorization", self.shared_key(k, &to_sign)?);
        }
        let resp = req.body(body).send().await.map_err(|e| {
            crate::PutError::transient(format!("Azure Put Blob: {}", e.without_url()))
        })?;
        if !resp.status().is_success() {
            let status = resp.status();
            let code = resp
                .headers()
                .get("x-ms-error-code")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            // 412 ConditionNotMet (If-Match), 409 BlobAlreadyExists (If-None-Match: *).
            if expect != Expect::Any
                && (status.as_u16() == 412 || code == "BlobAlreadyExists" || status.as_u16() == 404)
            {
                return Err(crate::PutError::changed("Azure Put Blob"));
            }
            return Err(crate::PutError::status(
                "Azure Put Blob",
                status,
                &format!(" ({code})"),
            ));
        }
        crate::answered_version(
            "Azure Put Blob",
            resp.headers().get("etag").and_then(|v| v.to_str().ok()),
        )
    }
}
