//! Amazon S3 (and S3-compatible stores): `PutObject` and `GetObject` over the registries' HTTP
//! client, signed with Signature Version 4 (`aws-sigv4`, the AWS SDK's own signer). Two calls do
//! not need the whole S3 SDK, whose flexible-checksum crate alone weighs more than every other
//! registry writer together (see docs/BENCHMARKS.md, footprint).

use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use sha2::{Digest, Sha256};
use trustfn_domain::ports::{Expect, Found};

use crate::{answered_version, encode_segment, error_code, found_by_etag, PutError};

/// Where the signing credentials come from.
pub(crate) enum S3Credentials {
    /// The registry's own access key.
    Static(Credentials),
    /// The functions' own identity (the deployment's `StatusBuckets` only).
    Own(SharedCredentialsProvider),
}

pub(crate) struct S3 {
    pub(crate) http: reqwest::Client,
    pub(crate) credentials: S3Credentials,
    pub(crate) region: String,
    pub(crate) bucket: String,
    /// `https://host[:port]` of an S3-compatible store, addressed path-style; `None`: AWS's
    /// regional endpoint.
    pub(crate) endpoint: Option<String>,
}

impl S3 {
    /// The object's URL: path-style under a named endpoint (S3-compatible stores, emulators) or
    /// for bucket names with dots (their virtual host would not match the TLS certificate),
    /// virtual-hosted otherwise, as the SDK addresses them.
    fn url(&self, key: &str) -> String {
        let path: Vec<String> = key.split('/').map(encode_segment).collect();
        let path = path.join("/");
        match &self.endpoint {
            Some(e) => format!("{}/{}/{path}", e.trim_end_matches('/'), self.bucket),
            None if self.bucket.contains('.') => format!(
                "https://s3.{}.amazonaws.com/{}/{path}",
                self.region, self.bucket
            ),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/{path}",
                self.bucket, self.region
            ),
        }
    }

    async fn credentials(&self) -> Result<Credentials, PutError> {
        match &self.credentials {
            S3Credentials::Static(c) => Ok(c.clone()),
            S3Credentials::Own(p) => p
                .provide_credentials()
                .await
                .map_err(|e| PutError::transient(format!("S3: no credentials: {e}"))),
        }
    }

    /// A request signed as S3 wants it: the payload's SHA-256 in `x-amz-content-sha256`, the
    /// path encoded once and not normalised.
    async fn signed(
        &self,
        method: reqwest::Method,
        key: &str,
        headers: &[(&'static str, String)],
        body: &[u8],
    ) -> Result<reqwest::RequestBuilder, PutError> {
        let url = self.url(key);
        let payload = hex::encode(Sha256::digest(body));
        let mut all: Vec<(&str, String)> = headers.to_vec();
        all.push(("x-amz-content-sha256", payload));
        let creds = self.credentials().await?;
        let identity = creds.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| PutError::from(format!("S3: signing parameters: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            url.as_str(),
            all.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| PutError::from(format!("S3: request not signable: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| PutError::from(format!("S3: signing failed: {e}")))?
            .into_parts();
        let mut req = self.http.request(method, &url);
        for (k, v) in all.iter() {
            req = req.header(*k, v.as_str());
        }
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        Ok(req)
    }
}

#[async_trait::async_trait]
impl crate::PutObject for S3 {
    async fn get_object(&self, key: &str) -> Result<Option<Found>, PutError> {
        let req = self.signed(reqwest::Method::GET, key, &[], b"").await?;
        let resp = req
            .send()
            .await
            .map_err(|e| PutError::transient(format!("S3 GetObject: {}", e.without_url())))?;
        found_by_etag("S3 GetObject", resp).await
    }

    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
        expect: Expect<'_>,
    ) -> Result<String, PutError> {
        let mut headers = vec![
            ("content-type", content_type.to_owned()),
            ("cache-control", cache_control.to_owned()),
        ];
        match expect {
            Expect::Any => {}
            Expect::Absent => headers.push(("if-none-match", "*".to_owned())),
            Expect::Version(etag) => headers.push(("if-match", etag.to_owned())),
        }
        let req = self
            .signed(reqwest::Method::PUT, key, &headers, &body)
            .await?;
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| PutError::transient(format!("S3 PutObject: {}", e.without_url())))?;
        let status = resp.status();
        if !status.is_success() {
            // 412: the condition failed; 404: If-Match on an object that is gone. 409
            // (ConditionalRequestConflict): another conditional write of the key is under way,
            // worth one more try.
            if expect != Expect::Any && matches!(status.as_u16(), 412 | 404) {
                return Err(PutError::changed("S3 PutObject"));
            }
            let code = error_code(resp).await;
            let mut e = PutError::status("S3 PutObject", status, &code);
            e.transient |= status.as_u16() == 409;
            return Err(e);
        }
        answered_version(
            "S3 PutObject",
            resp.headers().get("etag").and_then(|v| v.to_str().ok()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(endpoint: Option<&str>, bucket: &str) -> S3 {
        let _ = rustls::crypto::ring::default_provider().install_default();
        S3 {
            http: reqwest::Client::new(),
            credentials: S3Credentials::Static(Credentials::new("AKID", "secret", None, None, "t")),
            region: "eu-central-1".into(),
            bucket: bucket.into(),
            endpoint: endpoint.map(str::to_owned),
        }
    }

    #[test]
    fn objects_are_addressed_as_the_sdk_addresses_them() {
        assert_eq!(
            s3(None, "lists").url("status-lists/a.b/l1"),
            "https://lists.s3.eu-central-1.amazonaws.com/status-lists/a.b/l1"
        );
        assert_eq!(
            s3(None, "my.lists").url("k"),
            "https://s3.eu-central-1.amazonaws.com/my.lists/k"
        );
        assert_eq!(
            s3(Some("http://127.0.0.1:5000/"), "lists").url("a b/c"),
            "http://127.0.0.1:5000/lists/a%20b/c"
        );
    }

    #[tokio::test]
    async fn a_request_is_signed_over_its_payload_and_conditions() {
        let req = s3(Some("http://127.0.0.1:5000"), "lists")
            .signed(
                reqwest::Method::PUT,
                "k",
                &[("if-match", "\"e1\"".to_owned())],
                b"body",
            )
            .await
            .unwrap()
            .build()
            .unwrap();
        let h = req.headers();
        let auth = h["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"),
            "{auth}"
        );
        assert!(auth.contains("/eu-central-1/s3/aws4_request"), "{auth}");
        let signed = auth.split("SignedHeaders=").nth(1).unwrap();
        assert!(signed.contains("if-match") && signed.contains("x-amz-content-sha256"));
        assert_eq!(
            h["x-amz-content-sha256"],
            hex::encode(Sha256::digest(b"body")).as_str()
        );
        assert!(h.contains_key("x-amz-date"));
    }
}
