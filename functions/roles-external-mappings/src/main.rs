//! `GET /v1/{target}/roles-api/roles/external-mappings` (an organization's or a role's
//! mappings), `PUT` and `DELETE /v1/{role}/roles-api/roles/external-mappings/{externalRole}`

use std::sync::Arc;

use trustfn_access::mappings;
use trustfn_http::trustfn_domain::{auth::act, ApiError, Reply};
use trustfn_http::{json_body, path_param, target, App, Error, Request};

async fn handle(app: Arc<App>, req: Request) -> Result<Reply, ApiError> {
    let p = app.principal(&req).await?;
    // Authorized on the path alone, before any body parsing or storage read.
    let t = target(&req)?;
    let repo = app.repo().await;
    match req.method().as_str() {
        "GET" => mappings::list_mappings(repo, &p.authorize::<act::RoleList>(&t)?).await,
        method => {
            let auth = p.authorize::<act::RoleMappingUpdate>(&t)?;
            let external = path_param(&req, "externalRole")?;
            if method == "DELETE" {
                return mappings::delete_mapping(repo, &auth, external).await;
            }
            // Every field of the body has a default: `{}` maps with them.
            let body = json_body(&req)?;
            let issuer = app.sso().map(|s| s.issuer.as_str());
            mappings::put_mapping(repo, &auth, external, body, issuer).await
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    trustfn_http::run(handle).await
}
