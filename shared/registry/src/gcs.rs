//! Google Cloud Storage: JSON API multipart upload (object + contentType/cacheControl metadata),
//! authorized with a service-account key (OAuth 2.0 JWT bearer, RS256) or anonymously against an
//! emulator (`endpointUrl` without a key).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
use base64::Engine;
use serde_json::{json, Value};
use trustfn_domain::ports::{Expect, Found};
use trustfn_domain::registry_config::{GcsRegistry, Secret};

pub struct Gcs {
    http: reqwest::Client,
    tokens: Tokens,
    base: String,
    bucket: String,
    key: Option<ServiceAccount>,
}

struct ServiceAccount {
    email: String,
    token_uri: String,
    pkcs8: Vec<u8>,
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        // The decoder's detail would quote a byte of the private key: left out on purpose.
        .map_err(|_| "the service account private_key is not PEM".to_owned())
}

impl Gcs {
    pub fn open(
        http: reqwest::Client,
        tokens: Tokens,
        reg: &GcsRegistry<Secret>,
    ) -> Result<Gcs, String> {
        let bucket = reg.bucket_name.clone();
        let endpoint = reg
            .endpoint_url
            .as_deref()
            .map(|e| e.trim_end_matches('/').to_owned());
        let key = match &reg.service_account_key_json {
            Some(s) => Some(
                // serde's detail can quote the secret's text: left out on purpose.
                serde_json::from_str::<Value>(s.expose())
                    .map_err(|_| "serviceAccountKeyJson is not JSON")?,
            ),
            None => None,
        };
        let key = match key {
            Some(k) => {
                let f = |n: &str| k.get(n).and_then(Value::as_str).map(str::to_owned).ok_or(format!("serviceAccountKeyJson.{n} is missing"));
                Some(ServiceAccount {
                    email: f("client_email")?,
                    // A service-account key goes to Google only, whatever its token_uri says.
                    token_uri: trustfn_domain::registry_config::GOOGLE_TOKEN_URI.to_owned(),
                    pkcs8: pem_to_der(&f("private_key")?)?,
                })
            }
            None if endpoint.is_some() => None,
            None => return Err("the gcs registry needs serviceAccountKeyJson (no Google default credentials on AWS Lambda)".into()),
        };
        Ok(Gcs {
            http,
            tokens,
            base: endpoint.unwrap_or_else(|| "https://storage.googleapis.com".into()),
            bucket,
            key,
        })
    }

    /// An access token for `sa`, reused until a minute before it expires.
    async fn token(&self, sa: &ServiceAccount) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let cache_key = {
            use sha2::Digest;
            hex_digest(&sha2::Sha256::digest(&sa.pkcs8))
        };
        if let Some((token, exp)) = self.tokens.lock().unwrap().get(&cache_key) {
            if *exp > now + 60 {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.fetch_token(sa, now).await?;
        self.tokens
            .lock()
            .unwrap()
            .insert(cache_key, (token.clone(), now + lifetime));
        Ok(token)
    }

    async fn fetch_token(&self, sa: &ServiceAccount, now: i64) -> Result<(String, i64), String> {
        let header = B64U.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
        let claims = B64U.encode(
            json!({"iss": sa.email, "scope": "https://www.googleapis.com/auth/devstorage.read_write",
                   "aud": sa.token_uri, "iat": now, "exp": now + 3600})
            .to_string(),
        );
        let input = format!("{header}.{claims}");
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&sa.pkcs8)
            .map_err(|e| format!("the service account key is not an RSA PKCS#8 key ({e})"))?;
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .map_err(|_| "RS256 signing failed")?;
        let assertion = format!("{input}.{}", B64U.encode(sig));
        let body = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
        let resp = self
            .http
            .post(&sa.token_uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("GCS token: {}", e.without_url()))?;
        if !resp.status().is_success() {
            return Err(format!("GCS token: HTTP {}", resp.status()));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("GCS token: {}", e.without_url()))?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("GCS token: {e}"))?;
        let token = v
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or("GCS token: no access_token")?;
        let lifetime = v.get("expires_in").and_then(Value::as_i64).unwrap_or(3600);
        Ok((token, lifetime))
    }
}

#[async_trait::async_trait]
impl crate::PutObject for Gcs {
    async fn get_object(&self, key: &str) -> Result<Option<Found>, crate::PutError> {
        // The object's metadata (its generation), then exactly that generation's bytes.
        let object = format!(
            "{}/storage/v1/b/{}/o/{}",
            self.base,
            crate::encode_segment(&self.bucket),
            crate::encode_segment(key)
        );
        let token = match &self.key {
            Some(sa) => Some(self.token(sa).await?),
            None => None,
        };
        let send = |url: String| {
            let mut req = self.http.get(url);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            req.send()
        };
        let failed =
            |e: reqwest::Error| crate::PutError::transient(format!("GCS get: {}", e.without_url()));
        let resp = send(object.clone()).await.map_err(failed)?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(crate::PutError::status("GCS get", resp.status(), ""));
        }
        let meta: Value = serde_json::from_slice(&resp.bytes().await.map_err(failed)?)
            .map_err(|e| format!("GCS get: the object metadata is not JSON: {e}"))?;
        let generation = match &meta["generation"] {
            Value::String(g) => g.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err("GCS get: the object has no generation".into()),
        };
        let resp = send(format!("{object}?alt=media&generation={generation}"))
            .await
            .map_err(failed)?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(crate::PutError::status("GCS get", resp.status(), ""));
        }
        let body = resp.bytes().await.map_err(failed)?.to_vec();
        Ok(Some(Found {
            body,
            version: generation,
        }))
    }

    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache_control: &str,
        expect: Expect<'_>,
    ) -> Result<String, crate::PutError> {
        let condition = match expect {
            Expect::Any => String::new(),
            Expect::Absent => "&ifGenerationMatch=0".to_owned(),
            Expect::Version(g) if !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()) => {
                format!("&ifGenerationMatch={g}")
            }
            // Not a generation (another registry's version): not what is stored here.
            Expect::Version(_) => return Err(crate::PutError::changed("GCS upload")),
        };
        let boundary = format!("trustfn-{:016x}", rand_u64());
        let meta = json!({"name": key, "contentType": content_type, "cacheControl": cache_control})
            .to_string();
        let mut payload = Vec::with_capacity(body.len() + meta.len() + 256);
        payload.extend(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n"
            )
            .as_bytes(),
        );
        payload.extend(format!("--{boundary}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
        payload.extend(body);
        payload.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=multipart{condition}",
            self.base,
            crate::encode_segment(&self.bucket)
        );
        let mut req = self.http.post(url).header(
            "content-type",
            format!("multipart/related; boundary={boundary}"),
        );
        if let Some(sa) = &self.key {
            req = req.bearer_auth(self.token(sa).await?);
        }
        let resp =
            req.body(payload).send().await.map_err(|e| {
                crate::PutError::transient(format!("GCS upload: {}", e.without_url()))
            })?;
        if !resp.status().is_success() {
            if expect != Expect::Any && resp.status().as_u16() == 412 {
                return Err(crate::PutError::changed("GCS upload"));
            }
            return Err(crate::PutError::status("GCS upload", resp.status(), ""));
        }
        // The object resource: its generation is the version a later upload may expect.
        let answer = resp.bytes().await.map_err(|e| {
            crate::PutError::transient(format!("GCS upload answer: {}", e.without_url()))
        })?;
        let object: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        Ok(match &object["generation"] {
            Value::String(g) => g.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        })
    }
}

/// Access tokens by service-account key (a digest of it), with their expiry (Unix seconds).
pub type Tokens =
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (String, i64)>>>;

fn hex_digest(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("randomness");
    u64::from_le_bytes(b)
}
