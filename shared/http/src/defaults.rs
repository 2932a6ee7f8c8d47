//! Default requests at the edge: a call's body over its service's stored default
//! (`trustfn_domain::defaults`), before the use case reads it.

use serde::de::DeserializeOwned;
use trustfn_domain::{ApiError, Target};

use crate::App;

impl App {
    /// The request body over the default request `operation` of the service at `service`
    /// (walt.id's default requests: the call's values win), read as `T`. Called once the path
    /// is authorized; the merged body is then authorized like any other. A target that is not
    /// a service of that operation's type takes the body as it is (the use case says why it
    /// cannot serve it).
    pub async fn with_defaults<T: DeserializeOwned>(
        &self,
        service: Option<Target>,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<T, ApiError> {
        use trustfn_domain::defaults;
        use trustfn_domain::model::Doc;
        let found = match &service {
            Some(id) => self.repo().await.get(id).await?,
            None => None,
        };
        match found.as_ref().map(|r| &r.doc) {
            Some(Doc::Service(s)) => match defaults::operation(s.service_type(), operation) {
                Ok(op) => defaults::apply(s, op, body),
                Err(_) => defaults::apply_none(body),
            },
            _ => defaults::apply_none(body),
        }
    }
}
